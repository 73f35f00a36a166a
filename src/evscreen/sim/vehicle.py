"""The simulated car: every sub-model stepped together at a fixed rate (pure, seeded, no I/O).

One step, in order: weather drifts; the cabin's heat pump draws its power; then either the car
drives (the driver's demand becomes a motor torque within the motor's, the drive mode's and the
battery's limits, or a braking force split between regeneration and the friction brakes; Newton's
second law moves the car; the battery delivers the motor's and auxiliaries' power) or it stands
at a charger. Temperatures, tyres, GPS and the trip computer follow.

The plan of the day (:class:`Itinerary`): the official cycles in a loop (UDDS city, then HWFET
highway, ...), each starting and ending at rest, with the cycle's own stops between. After every
``charge_every`` loops, or at the end of any cycle with the battery below ``LOW_SOC``, the car
parks at a DC charger and charges to the ``charge_limit`` setting before driving on. After any
other loop it is parked and switched off: alternately for an errand (:data:`ERRAND_S`) and a
longer stay (:data:`STAY_S`), so a day of driving has the trips, stops and charges of a real one.

Everything random comes from ``random.Random`` streams derived from the seed, one per concern
(the starting state, the weather, the road's junctions, the sky), each drawn in a fixed order: one
seed always gives the same drive, bit for bit, and driving differently (another drive mode) does
not change the weather.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from evscreen.protocol import DEFAULT_SETTINGS
from evscreen.sim import driver
from evscreen.sim.battery import Battery, PackParams
from evscreen.sim.body import BodyParams, air_density, atmospheric_pressure_psi, motor_rpm_for, road_load
from evscreen.sim.charging import ChargingSession
from evscreen.sim.climate import Cabin, CabinParams, Weather
from evscreen.sim.consumption import ConsumptionMeter
from evscreen.sim.drive_cycle import DriveCycle, load_cycle
from evscreen.sim.modes import DRIVE_MODES, REGEN_DECEL, REGEN_FADE_MS, DriveMode
from evscreen.sim.motor import (
    MotorParams,
    MotorThermal,
    electrical_power,
    losses,
    regen_torque_for_charge_limit,
    torque_for_electrical_limit,
    torque_limit,
)
from evscreen.sim.route import Route
from evscreen.sim.tyres import TYRES, Tyres

STEP_S = 0.1  # the model's fixed step, in simulated seconds
DEFAULT_CYCLES: tuple[str, ...] = ("udds", "hwfet")
LOW_SOC = 15.0  # % at the end of a cycle below which the car goes to charge whatever the plan
BASE_AUX_W = 250.0  # 12 V systems, the screen and lights (pumps and fan: see DriveMode)
CHILLER_W = 600.0
CHILLER_ON_C = 35.0
SLIP_STIFFNESS_N = 200_000.0  # driven axle: traction force per unit of longitudinal slip
HOME = (48.137154, 11.576124)  # the simulated car lives around Munich
ERRAND_S = (8 * 60.0, 40 * 60.0)  # parked between loops: a short stop (simulated seconds, min-max)...
STAY_S = (60 * 60.0, 4 * 3600.0)  # ...and, every other time, a long one


@dataclass
class Itinerary:
    cycles: tuple[DriveCycle, ...]
    charge_every: int
    leg: int = 0
    t: float = 0.0
    loops: int = 0

    @property
    def cycle(self) -> DriveCycle:
        return self.cycles[self.leg]

    def next_leg(self) -> bool:
        """Move to the next cycle; True when that completes a loop that ends in a charging stop."""
        self.t = 0.0
        self.leg = (self.leg + 1) % len(self.cycles)
        if self.leg == 0:
            self.loops += 1
            return self.charge_every > 0 and self.loops % self.charge_every == 0
        return False


@dataclass(frozen=True)
class VehicleOutputs:
    """Everything the car's ECUs would report, unrounded, in SI-ish units (speeds in m/s)."""

    time_s: float
    speed_ms: float
    target_speed_ms: float
    wheel_speed_ms: float
    accel_ms2: float
    grade: float
    motor_rpm: float
    motor_torque_nm: float
    motor_temp_c: float
    motor_loss_w: float
    traction_force_n: float
    friction_brake_force_n: float
    road_load_n: float
    battery_voltage: float
    battery_current: float
    battery_power_w: float
    battery_heat_w: float
    battery_soc: float
    battery_soh: float
    battery_ocv: float
    battery_temps_c: tuple[float, float, float]
    battery_discharge_limit_w: float  # what the BMS allows now (both positive)
    battery_charge_limit_w: float
    battery_charged_wh: float  # lifetime energy counters of the BMS
    battery_discharged_wh: float
    energy_remaining_wh: float  # in the cells between 0 % and the SoC shown
    energy_capacity_wh: float  # between 0 % and 100 % shown, at today's state of health
    aux_power_w: float
    hvac_power_w: float
    cabin_temp_c: float
    cabin_set_point_c: float
    ambient_temp_c: float
    humidity: float
    tyre_pressures_psi: tuple[float, float, float, float]
    tyre_temps_c: tuple[float, float, float, float]
    latitude: float
    longitude: float
    altitude_m: float
    heading_deg: float
    satellites: int
    odometer_m: float
    range_km: float
    consumption_wh_per_km: float
    efficiency_score: float
    drive_mode: str
    regen_level: str
    charge_limit: int
    charging: bool
    charging_phase: str | None
    parked: bool  # switched off between drives
    charger_power_w: float
    cycle: str
    cycle_time_s: float


class VehicleModel:
    """The whole car. ``step()`` advances it; ``outputs()`` and ``telemetry()`` read it."""

    def __init__(
        self,
        seed: int = 1,
        *,
        cycles: Sequence[DriveCycle] | None = None,
        charge_every: int = 2,
        cabin_set_point: float = 21.0,
        soc: float | None = None,
        body: BodyParams | None = None,
        motor: MotorParams | None = None,
        pack: PackParams | None = None,
    ) -> None:
        self.seed = seed
        rng = random.Random(f"{seed}/start")
        self._weather_rng = random.Random(f"{seed}/weather")
        self._parking_rng = random.Random(f"{seed}/parking")
        self._road_rng = random.Random(f"{seed}/road")
        self._sky_rng = random.Random(f"{seed}/sky")
        self.body = body or BodyParams()
        self.motor = motor or MotorParams()
        self.cabin_set_point = cabin_set_point
        self.drive_mode: str = DEFAULT_SETTINGS["drive_mode"]
        self.regen_level: str = DEFAULT_SETTINGS["regen_level"]
        self.charge_limit: int = DEFAULT_SETTINGS["charge_limit"]
        self.weather = Weather.from_rng(rng)
        ambient = self.weather.temp_c
        start_soc = rng.uniform(70.0, 90.0)
        soh = rng.uniform(91.0, 99.0)
        self.battery = Battery(pack or PackParams(), start_soc if soc is None else soc, soh,
                               [ambient + rng.uniform(1.0, 3.0) for _ in range(3)])
        # A car with some years behind it; a generator of its own, so the other start values stay.
        history = random.Random(f"{seed}/history")
        self.battery.discharged_wh = history.uniform(2_000_000.0, 12_000_000.0)
        self.battery.charged_wh = self.battery.discharged_wh * history.uniform(1.04, 1.08)
        self.motor_thermal = MotorThermal(ambient + rng.uniform(0.0, 2.0))
        self.cabin = Cabin(CabinParams(), ambient + rng.uniform(-1.0, 1.0))
        self.tyres = Tyres(tuple(36.0 + rng.uniform(-0.6, 0.6) for _ in TYRES), ambient)
        self.route = Route.from_rng(rng, *HOME)
        chosen = tuple(cycles) if cycles is not None else tuple(load_cycle(n) for n in DEFAULT_CYCLES)
        if not chosen:
            raise ValueError("the itinerary needs at least one drive cycle")
        self.itinerary = Itinerary(chosen, charge_every)
        self.consumption = ConsumptionMeter()
        self.session: ChargingSession | None = None
        self.parked_s_left: float | None = None  # while parked and switched off: how long still
        self.parks = 0
        self.time_s = 0.0
        self.speed = 0.0
        self.odometer_m = 0.0
        # What the last step did, for outputs() and telemetry().
        self._target = 0.0
        self._accel = 0.0
        self._torque = 0.0
        self._motor_loss = 0.0
        self._f_trac = 0.0
        self._f_fric = 0.0
        self._f_road = 0.0
        self._battery_power = 0.0
        self._battery_heat = 0.0
        self._aux = BASE_AUX_W
        self._hvac = 0.0
        self._charger = 0.0
        self._holding = True

    # -- settings from the screen -----------------------------------------------------------------

    def set_drive_mode(self, mode: str) -> None:
        if not isinstance(mode, str) or mode not in DRIVE_MODES:
            raise ValueError(f"drive_mode must be one of {', '.join(DRIVE_MODES)}, got {mode!r}")
        self.drive_mode = mode

    def set_regen_level(self, level: str) -> None:
        if not isinstance(level, str) or level not in REGEN_DECEL:
            raise ValueError(f"regen_level must be one of {', '.join(REGEN_DECEL)}, got {level!r}")
        self.regen_level = level

    def set_charge_limit(self, limit: int) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or not 50 <= limit <= 100:
            raise ValueError(f"charge_limit must be an integer from 50 to 100, got {limit!r}")
        self.charge_limit = limit

    def start_charging(self) -> None:
        """Park at a charger now (the itinerary does this on its own; tests and demos may too)."""
        if self.session is None:
            self.session = ChargingSession()
            self.speed = 0.0

    def park(self) -> None:
        """Park and switch off now, for an errand or (every other time) a long stay."""
        low, high = ERRAND_S if self.parks % 2 == 0 else STAY_S
        self.parks += 1
        self.parked_s_left = self._parking_rng.uniform(low, high)
        self.speed = 0.0

    # -- the step -----------------------------------------------------------------------------------

    def step(self, dt: float = STEP_S) -> None:
        self.time_s += dt
        self.weather.step(self._weather_rng, dt)
        ambient = self.weather.temp_c
        self.route.update_satellites(self._sky_rng, dt)
        if self.parked_s_left is not None:
            self._stand_switched_off(ambient, dt)
            return
        mode = DRIVE_MODES[self.drive_mode]
        set_point = self.cabin_set_point
        if mode.set_point_relax_c:
            gap = ambient - set_point
            set_point += max(-mode.set_point_relax_c, min(mode.set_point_relax_c, gap))
        self._hvac = self.cabin.step(ambient, set_point, mode.climate_max_w, dt)
        aux = BASE_AUX_W + mode.thermal_aux_w + self._hvac
        battery = self.battery
        battery_coolant = ambient + 2.0
        if battery.temp_c > CHILLER_ON_C:
            battery_coolant = 20.0
            aux += CHILLER_W
        self._aux = aux
        if self.session is not None:
            self._charge(aux, battery_coolant, dt)
        else:
            self._drive(mode, aux, battery_coolant, ambient, dt)
        self.motor_thermal.step(self.motor, self._motor_loss, ambient + 5.0, dt)

    def _drive(self, mode: DriveMode, aux: float, battery_coolant: float, ambient: float, dt: float) -> None:
        body, motor, battery, route = self.body, self.motor, self.battery, self.route
        itinerary = self.itinerary
        cycle = itinerary.cycle
        v = self.speed
        target_v, target_a = driver.target(cycle, itinerary.t)
        self._target = target_v
        load = road_load(body, v, route.grade, air_density(ambient, route.altitude))
        radius, ratio, eta = body.wheel_radius_m, body.gear_ratio, body.gear_efficiency
        omega = v / radius * ratio
        torque = f_trac = f_fric = 0.0
        was_holding = self._holding
        self._holding = driver.holding(v, target_v, target_a)
        if self._holding:
            v_new = 0.0
            if not was_holding and v > 0.0:
                route.at_stop(self._road_rng)
        else:
            wanted = driver.demand(v, target_v, target_a, mode)
            f_req = body.effective_mass_kg * wanted + load.total
            temp = self.motor_thermal.temp_c
            if f_req >= 0.0:
                limit = torque_limit(motor, omega, mode.power_w, temp)
                available = battery.discharge_limit_w() - aux
                limit = min(limit, torque_for_electrical_limit(motor, omega, mode.flux_factor, available))
                torque = min(f_req * radius / (ratio * eta), limit)
                f_trac = torque * ratio * eta / radius
            else:
                fade = min(1.0, v / REGEN_FADE_MS)
                regen_cap = REGEN_DECEL[self.regen_level] * body.mass_kg * fade
                limit = torque_limit(motor, omega, motor.peak_power_w, temp)
                acceptance = battery.charge_limit_w() + aux
                limit = min(limit, regen_torque_for_charge_limit(motor, omega, mode.flux_factor, acceptance))
                f_regen = min(-f_req, regen_cap, limit * ratio / (radius * eta))
                torque = -f_regen * radius * eta / ratio
                f_trac = -f_regen
                f_fric = -f_req - f_regen
            accel = (f_trac - f_fric - load.total) / body.effective_mass_kg
            v_new = v + accel * dt
            if v_new < 0.0:  # brakes hold the car; it never rolls backwards
                v_new = 0.0
        v_mid = (v + v_new) / 2.0
        omega_mid = v_mid / radius * ratio
        self._accel = (v_new - v) / dt
        self._torque = torque
        self._f_trac, self._f_fric, self._f_road = f_trac, f_fric, load.total
        self._motor_loss = losses(motor, torque, omega_mid, mode.flux_factor) if not self._holding else 0.0
        motor_power = electrical_power(motor, torque, omega_mid, mode.flux_factor) if not self._holding else 0.0
        power = motor_power + aux
        self._battery_power = power
        self._battery_heat = battery.step(power, battery_coolant, dt)
        self._charger = 0.0
        ds = v_mid * dt
        self.speed = v_new
        self.odometer_m += ds
        route.advance(ds)
        self.tyres.step(load.rolling * v_mid, v_mid, ambient, dt)
        self.consumption.add(power * dt / 3600.0, ds / 1000.0)
        itinerary.t += dt
        if itinerary.t >= cycle.duration_s and self.speed < driver.STOPPED_MS:
            self.speed = 0.0
            if itinerary.next_leg() or battery.soc < LOW_SOC:
                self.start_charging()
            elif itinerary.leg == 0:
                self.park()

    def _stand_switched_off(self, ambient: float, dt: float) -> None:
        """Parked with the car off: no climate, no traction battery load; everything cools to ambient."""
        assert self.parked_s_left is not None
        self.cabin.step(ambient, self.cabin_set_point, 0.0, dt)  # the climate control is off
        self._hvac = self._aux = self._charger = self._battery_power = 0.0
        self._battery_heat = self.battery.step(0.0, ambient, dt)
        self._target = self._accel = self._torque = 0.0
        self._f_trac = self._f_fric = self._f_road = self._motor_loss = 0.0
        self._holding = True
        self.tyres.step(0.0, 0.0, ambient, dt)
        self.motor_thermal.step(self.motor, 0.0, ambient, dt)
        self.parked_s_left -= dt
        if self.parked_s_left <= 0.0:
            self.parked_s_left = None

    def _charge(self, aux: float, battery_coolant: float, dt: float) -> None:
        session = self.session
        assert session is not None
        battery = self.battery
        charger = session.step(battery.soc, self.charge_limit, battery.charge_limit_w(), aux, dt)
        power = aux - charger
        self._charger = charger
        self._battery_power = power
        self._battery_heat = battery.step(power, battery_coolant, dt)
        self._target = self._accel = self._torque = 0.0
        self._f_trac = self._f_fric = self._f_road = self._motor_loss = 0.0
        self._holding = True
        self.tyres.step(0.0, 0.0, self.weather.temp_c, dt)
        if session.done:
            self.session = None

    # -- reading the car ------------------------------------------------------------------------------

    def wheel_speed(self) -> float:
        """Driven wheels' circumferential speed: vehicle speed plus the tyres' longitudinal slip."""
        return self.speed * (1.0 + self._f_trac / SLIP_STIFFNESS_N)

    def outputs(self) -> VehicleOutputs:
        battery, route = self.battery, self.route
        wheel = self.wheel_speed()
        temps = battery.block_temps_c
        pressures = self.tyres.pressures_psi(atmospheric_pressure_psi(route.altitude))
        usable = battery.energy_between_wh(0.0, battery.soc)
        return VehicleOutputs(
            time_s=self.time_s,
            speed_ms=self.speed,
            target_speed_ms=self._target,
            wheel_speed_ms=wheel,
            accel_ms2=self._accel,
            grade=route.grade,
            motor_rpm=motor_rpm_for(self.body, wheel),
            motor_torque_nm=self._torque,
            motor_temp_c=self.motor_thermal.temp_c,
            motor_loss_w=self._motor_loss,
            traction_force_n=self._f_trac,
            friction_brake_force_n=self._f_fric,
            road_load_n=self._f_road,
            battery_voltage=battery.voltage,
            battery_current=battery.current,
            battery_power_w=self._battery_power,
            battery_heat_w=self._battery_heat,
            battery_soc=battery.soc,
            battery_soh=battery.soh,
            battery_ocv=battery.ocv(),
            battery_temps_c=(temps[0], temps[1], temps[2]),
            battery_discharge_limit_w=battery.discharge_limit_w(),
            battery_charge_limit_w=battery.charge_limit_w(),
            battery_charged_wh=battery.charged_wh,
            battery_discharged_wh=battery.discharged_wh,
            energy_remaining_wh=usable,
            energy_capacity_wh=battery.energy_between_wh(0.0, 100.0),
            aux_power_w=self._aux,
            hvac_power_w=self._hvac,
            cabin_temp_c=self.cabin.temp_c,
            cabin_set_point_c=self.cabin_set_point,
            ambient_temp_c=self.weather.temp_c,
            humidity=self.weather.humidity,
            tyre_pressures_psi=(pressures[0], pressures[1], pressures[2], pressures[3]),
            tyre_temps_c=(self.tyres.temps_c[0], self.tyres.temps_c[1], self.tyres.temps_c[2], self.tyres.temps_c[3]),
            latitude=route.latitude,
            longitude=route.longitude,
            altitude_m=route.altitude,
            heading_deg=route.heading_deg,
            satellites=route.satellites,
            odometer_m=self.odometer_m,
            range_km=self.consumption.range_km(usable),
            consumption_wh_per_km=self.consumption.long_wh_per_km,
            efficiency_score=self.consumption.efficiency_score,
            drive_mode=self.drive_mode,
            regen_level=self.regen_level,
            charge_limit=self.charge_limit,
            charging=self.session is not None,
            charging_phase=None if self.session is None else self.session.phase,
            parked=self.parked_s_left is not None,
            charger_power_w=self._charger,
            cycle=self.itinerary.cycle.name,
            cycle_time_s=self.itinerary.t,
        )

    def telemetry(self) -> dict[str, Any]:
        """The car's values under their telemetry paths, rounded as a screen shows them."""
        return telemetry_values(self.outputs())


#: Decimal places a screen shows per telemetry path (``None``: an integer as it is).
TELEMETRY_DIGITS: dict[str, int | None] = {
    "speed": 1, "wheel_speed": 1, "battery_soc": 2, "battery_soh": 1, "battery_voltage": 1,
    "battery_current": 1, "power_kw": 2, "motor_rpm": 0, "motor_temp": 1, "range_km": 1,
    "efficiency_score": 1, "cabin_temp": 1, "ambient_temp": 1, "humidity": 1,
    "gps.latitude": 7, "gps.longitude": 7, "gps.altitude": 1, "gps.satellites": None, "gps.speed_gps": 1,
    "gps.heading": 1, "battery_cells.block_a": 1, "battery_cells.block_b": 1, "battery_cells.block_c": 1,
    **{f"tire_pressure.{name}": 1 for name in TYRES},
}


def field_values(out: VehicleOutputs) -> dict[str, Any]:
    """Telemetry paths -> values (km/h, °C, psi, V, A, kW) for one :class:`VehicleOutputs`, unrounded:
    what the car's ECUs measure, before a bus's resolution or a screen's rounding."""
    kmh = out.speed_ms * 3.6
    values: dict[str, Any] = {
        "speed": kmh,
        "wheel_speed": out.wheel_speed_ms * 3.6,
        "battery_soc": out.battery_soc,
        "battery_soh": out.battery_soh,
        "battery_voltage": out.battery_voltage,
        "battery_current": out.battery_current,
        "power_kw": out.battery_power_w / 1000.0,
        "motor_rpm": out.motor_rpm,
        "motor_temp": out.motor_temp_c,
        "range_km": out.range_km,
        "efficiency_score": out.efficiency_score,
        "cabin_temp": out.cabin_temp_c,
        "ambient_temp": out.ambient_temp_c,
        "humidity": out.humidity,
        "gps.latitude": out.latitude,
        "gps.longitude": out.longitude,
        "gps.altitude": out.altitude_m,
        "gps.satellites": out.satellites,
        "gps.speed_gps": kmh,
        "gps.heading": out.heading_deg,
        "battery_cells.block_a": out.battery_temps_c[0],
        "battery_cells.block_b": out.battery_temps_c[1],
        "battery_cells.block_c": out.battery_temps_c[2],
    }
    for name, psi in zip(TYRES, out.tyre_pressures_psi, strict=True):
        values[f"tire_pressure.{name}"] = psi
    return values


def telemetry_values(out: VehicleOutputs) -> dict[str, Any]:
    """:func:`field_values` rounded as a screen shows them."""
    return rounded(field_values(out))


def gps_values(out: VehicleOutputs) -> dict[str, Any]:
    """The ``gps.*`` paths of :func:`telemetry_values` alone: what a GPS receiver would report."""
    return rounded({"gps.latitude": out.latitude, "gps.longitude": out.longitude, "gps.altitude": out.altitude_m,
                    "gps.satellites": out.satellites, "gps.speed_gps": out.speed_ms * 3.6,
                    "gps.heading": out.heading_deg})


def rounded(values: dict[str, Any]) -> dict[str, Any]:
    return {path: value if (digits := TELEMETRY_DIGITS[path]) is None
            else round(value) if digits == 0 else round(value, digits)
            for path, value in values.items()}
