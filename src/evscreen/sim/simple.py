"""A simple simulated vehicle: smooth drive phases and a first-order energy model (pure).

It gives every CAN-side telemetry field a plausible, time-continuous value: speed that
accelerates and brakes smoothly, power from a road-load model, current = power / voltage, SoC
falling by coulomb counting. Deterministic for a given seed.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

MASS_KG = 1700.0
CDA_M2 = 0.62  # drag coefficient x frontal area
CRR = 0.009
AIR_DENSITY = 1.2
G = 9.81
PACK_KWH = 64.0
PACK_CELLS_SERIES = 96
GEAR_RATIO = 7.98
WHEEL_RADIUS_M = 0.33
DRIVETRAIN_EFFICIENCY = 0.88
REGEN_EFFICIENCY = 0.7
AUX_POWER_W = 400.0
REFERENCE_WH_PER_KM = 160.0

DRIVE_MODE_ACCEL = {"eco": 1.2, "normal": 1.8, "sport": 2.8}  # m/s^2 the driver asks for
REGEN_SHARE = {"off": 0.0, "low": 0.35, "standard": 0.65, "high": 0.9}


def open_circuit_voltage(soc: float) -> float:
    """Pack open-circuit voltage for a state of charge in percent (NMC-like curve)."""
    s = min(max(soc, 0.0), 100.0) / 100.0
    cell = 3.3 + 0.75 * s + 0.12 * math.tanh(8 * (s - 0.08)) - 0.05 * math.exp(-30 * s)
    return cell * PACK_CELLS_SERIES


@dataclass
class Phase:
    target_kmh: float
    seconds: float


@dataclass
class SimpleVehicleModel:
    seed: int = 1
    soc: float = 82.0
    soh: float = 96.5
    speed_ms: float = 0.0
    motor_temp: float = 32.0
    cabin_temp: float = 19.0
    ambient_temp: float = 17.0
    humidity: float = 48.0
    latitude: float = 48.137154
    longitude: float = 11.576124
    altitude: float = 519.0
    heading_deg: float = 45.0
    drive_mode: str = "normal"
    regen_level: str = "standard"
    time_s: float = 0.0
    wh_used: float = 0.0
    km_driven: float = 0.0
    _rng: random.Random = field(init=False, repr=False)
    _phases: list[Phase] = field(init=False, repr=False)
    _phase_index: int = field(init=False, default=0, repr=False)
    _phase_left: float = field(init=False, default=0.0, repr=False)
    _last: dict[str, Any] = field(init=False, default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._phases = [Phase(0, 8), Phase(50, 40), Phase(30, 20), Phase(0, 12), Phase(80, 60),
                        Phase(110, 50), Phase(60, 30), Phase(0, 15)]
        self._phase_left = self._phases[0].seconds

    def step(self, dt: float) -> None:
        self.time_s += dt
        self._phase_left -= dt
        if self._phase_left <= 0:
            self._phase_index = (self._phase_index + 1) % len(self._phases)
            self._phase_left = self._phases[self._phase_index].seconds
        target = self._phases[self._phase_index].target_kmh / 3.6
        max_accel = DRIVE_MODE_ACCEL[self.drive_mode]
        error = target - self.speed_ms
        accel = max(-3.0, min(max_accel, error * 0.6))
        self.speed_ms = max(0.0, self.speed_ms + accel * dt)

        v = self.speed_ms
        force = MASS_KG * accel + MASS_KG * G * CRR * (1 if v > 0.1 else 0) + 0.5 * AIR_DENSITY * CDA_M2 * v * v
        wheel_power = force * v
        if wheel_power >= 0:
            battery_power = wheel_power / DRIVETRAIN_EFFICIENCY
        else:
            battery_power = wheel_power * REGEN_EFFICIENCY * REGEN_SHARE[self.regen_level]
        battery_power += AUX_POWER_W
        ocv = open_circuit_voltage(self.soc)
        r_internal = 0.09
        # Solve P = V*I with V = OCV - I*R for the pack current.
        disc = max(ocv * ocv - 4 * r_internal * battery_power, 0.0)
        current = (ocv - math.sqrt(disc)) / (2 * r_internal)
        voltage = ocv - current * r_internal
        energy_wh = voltage * current * dt / 3600.0
        self.wh_used += energy_wh
        self.km_driven += v * dt / 1000.0
        self.soc = min(100.0, max(0.0, self.soc - energy_wh / (PACK_KWH * 10.0)))

        losses_w = abs(wheel_power) * 0.08
        self.motor_temp += dt * (losses_w / 4000.0 - (self.motor_temp - self.ambient_temp) / 900.0)
        self.cabin_temp += dt * (21.5 - self.cabin_temp) / 240.0
        self.ambient_temp += dt * self._rng.uniform(-0.002, 0.002)
        self.humidity = min(95.0, max(15.0, self.humidity + dt * self._rng.uniform(-0.01, 0.01)))
        self.heading_deg = (self.heading_deg + dt * 0.8 * math.sin(self.time_s / 37.0)) % 360.0
        distance = v * dt
        self.latitude += distance * math.cos(math.radians(self.heading_deg)) / 111_320.0
        self.longitude += distance * math.sin(math.radians(self.heading_deg)) / (
            111_320.0 * math.cos(math.radians(self.latitude))
        )
        self.altitude += distance * 0.01 * math.sin(self.time_s / 90.0)
        self._last = {"voltage": voltage, "current": current}

    def telemetry(self) -> dict[str, Any]:
        voltage = self._last.get("voltage", open_circuit_voltage(self.soc))
        current = self._last.get("current", 0.0)
        kmh = self.speed_ms * 3.6
        wh_per_km = self.wh_used / self.km_driven if self.km_driven > 0.5 else REFERENCE_WH_PER_KM
        usable_kwh = PACK_KWH * self.soh / 100.0 * self.soc / 100.0
        block = self.motor_temp * 0.1 + 22.0
        tyre = 36.0 + (self.ambient_temp - 15.0) * 0.07 + kmh * 0.004
        return {
            "speed": round(kmh, 1),
            "wheel_speed": round(kmh * 1.01, 1),
            "battery_soc": round(self.soc, 2),
            "battery_soh": round(self.soh, 1),
            "battery_voltage": round(voltage, 1),
            "battery_current": round(current, 1),
            "power_kw": round(voltage * current / 1000.0, 2),
            "motor_rpm": round(self.speed_ms / WHEEL_RADIUS_M * GEAR_RATIO * 60.0 / (2 * math.pi)),
            "motor_temp": round(self.motor_temp, 1),
            "range_km": round(usable_kwh * 1000.0 / wh_per_km, 1),
            "efficiency_score": round(min(10.0, max(0.0, 10.0 * REFERENCE_WH_PER_KM / max(wh_per_km, 1.0) - 3.0)), 1),
            "cabin_temp": round(self.cabin_temp, 1),
            "ambient_temp": round(self.ambient_temp, 1),
            "humidity": round(self.humidity, 1),
            "gps.latitude": round(self.latitude, 7),
            "gps.longitude": round(self.longitude, 7),
            "gps.altitude": round(self.altitude, 1),
            "gps.satellites": 9,
            "gps.speed_gps": round(kmh, 1),
            "gps.heading": round(self.heading_deg, 1),
            "tire_pressure.front_left": round(tyre, 1),
            "tire_pressure.front_right": round(tyre + 0.2, 1),
            "tire_pressure.rear_left": round(tyre - 0.3, 1),
            "tire_pressure.rear_right": round(tyre - 0.1, 1),
            "battery_cells.block_a": round(block, 1),
            "battery_cells.block_b": round(block + 0.6, 1),
            "battery_cells.block_c": round(block - 0.4, 1),
        }
