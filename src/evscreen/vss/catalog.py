"""The catalog: every telemetry field under its COVESA VSS 5.0 name (pure data, no I/O).

Each :class:`Signal` row names one leaf of the telemetry message (``"speed"``,
``"tire_pressure.front_left"``, ``"settings.drive_mode"``...) and the VSS node that carries it: the
path, VSS datatype, unit and kind (sensor, actuator, attribute), and the conversion where VSS
differs from the seed protocol (tyre pressure in kPa, not psi; battery current and power positive
while *charging*). Actuators name the seed command a VISS ``set`` becomes, so a set goes through
the same validation and dispatcher as the screen's own commands.

Fields VSS has no signal for live in an overlay branch, :data:`OVERLAY_ROOT`, the way VSS itself
asks for proprietary signals to be added (``docs/vss-overlay.vspec`` is that overlay, generated
from this table). The VISS server, ``docs/vss.md`` and the overlay all read this one table, and
``tests/test_vss_catalog.py`` checks every standard row against the released VSS 5.0 export.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: VSS version the standard paths are checked against.
VSS_VERSION = "5.0"
#: The overlay branch for fields without a VSS signal. VSS had a ``Vehicle.Private`` branch for
#: such signals until 3.0 and now leaves them to overlays; evscreen's overlay restores that branch.
OVERLAY_ROOT = "Vehicle.Private.Evscreen"

SENSOR, ACTUATOR, ATTRIBUTE = "sensor", "actuator", "attribute"

PSI_TO_KPA = 6.894757293168361  # 1 psi = 6.894757... kPa (NIST SP 811)


@dataclass(frozen=True)
class Scale:
    """VSS value = ours × ``factor`` (and back)."""

    factor: float
    note: str  # for the docs, e.g. "psi → kPa"

    def to_vss(self, value: Any) -> Any:
        return value * self.factor

    def from_vss(self, value: Any) -> Any:
        return value / self.factor


@dataclass(frozen=True)
class Names:
    """Our value ↔ a VSS string, one pair per value (enums, and booleans VSS spells as enums)."""

    pairs: tuple[tuple[Any, str], ...]

    def to_vss(self, value: Any) -> str | None:
        for ours, theirs in self.pairs:
            if ours == value and type(ours) is type(value):
                return theirs
        return None

    def from_vss(self, value: str) -> Any:
        for ours, theirs in self.pairs:
            if theirs == value:
                return ours
        raise ValueError(value)

    @property
    def vss_values(self) -> tuple[str, ...]:
        return tuple(theirs for _, theirs in self.pairs)

    @property
    def note(self) -> str:
        return ", ".join(f"{_show(ours)} ↔ {theirs}" for ours, theirs in self.pairs)


Conversion = Scale | Names | None


@dataclass(frozen=True)
class Signal:
    """One telemetry field and the VSS leaf that carries it."""

    field: str  # telemetry path: "speed", "gps.latitude", "settings.drive_mode"
    path: str  # VSS path
    datatype: str  # VSS datatype: uint8, int32, float, double, boolean, string...
    kind: str  # sensor, actuator or attribute
    unit: str | None = None  # VSS unit id (spec/units.yaml), None for none
    description: str = ""
    conversion: Conversion = None
    min: float | None = None
    max: float | None = None
    #: The seed action a VISS set becomes, with the converted value as its value.
    action: str | None = None
    #: For actuators whose set is an action of its own per value (media): VSS value -> seed action.
    actions: tuple[tuple[str, str], ...] | None = None

    @property
    def standard(self) -> bool:
        """True for a node of the VSS standard catalog, False for evscreen's overlay."""
        return not self.path.startswith(OVERLAY_ROOT + ".")

    @property
    def allowed(self) -> tuple[str, ...] | None:
        """The values this node takes and accepts, for string enums; None when not restricted."""
        values: list[str] = []
        if isinstance(self.conversion, Names):
            values += self.conversion.vss_values
        for value, _ in self.actions or ():
            if value not in values:
                values.append(value)
        return tuple(values) or None

    @property
    def settable(self) -> bool:
        return self.action is not None or self.actions is not None


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _s(field: str, path: str, datatype: str, unit: str | None = None, description: str = "", **kw: Any) -> Signal:
    return Signal(field, path, datatype, SENSOR, unit, description, **kw)


def _a(field: str, path: str, datatype: str, unit: str | None = None, description: str = "", **kw: Any) -> Signal:
    return Signal(field, path, datatype, ACTUATOR, unit, description, **kw)


_O = OVERLAY_ROOT
_TB = "Vehicle.Powertrain.TractionBattery"
_LOC = "Vehicle.CurrentLocation"
_MEDIA = "Vehicle.Cabin.Infotainment.Media"
_HMI = "Vehicle.Cabin.Infotainment.HMI"
_PSI = Scale(PSI_TO_KPA, "psi → kPa")


def _tyre(position: str, row: str, side: str) -> Signal:
    return _s(f"tire_pressure.{position}", f"Vehicle.Chassis.Axle.{row}.Wheel.{side}.Tire.Pressure", "uint16", "kPa",
              f"Tyre pressure, {position.replace('_', ' ')}.", conversion=_PSI)


CATALOG: tuple[Signal, ...] = (
    # -- the seed's top-level fields --------------------------------------------------------------
    _s("ambient_temp", "Vehicle.Exterior.AirTemperature", "float", "celsius", "Outside air temperature."),
    _s("humidity", f"{_O}.Cabin.Humidity", "float", "percent",
       "Relative humidity inside the cabin (VSS has only the outside humidity).", min=0, max=100),
    _s("cabin_temp", "Vehicle.Cabin.HVAC.AmbientAirTemperature", "float", "celsius", "Cabin air temperature."),
    _s("speed", "Vehicle.Speed", "float", "km/h", "Vehicle speed."),
    _s("range_km", f"{_TB}.Range", "uint32", "m", "Remaining range as the car reports it.",
       conversion=Scale(1000, "km → m")),
    _s("battery_soc", f"{_TB}.StateOfCharge.Displayed", "float", "percent", "State of charge shown to the driver."),
    _s("battery_voltage", f"{_TB}.CurrentVoltage", "float", "V", "Traction battery voltage."),
    _s("battery_current", f"{_TB}.CurrentCurrent", "float", "A",
       "Traction battery current; VSS counts it positive while charging, the seed while discharging.",
       conversion=Scale(-1, "sign flipped: positive while charging")),
    _s("battery_soh", f"{_TB}.StateOfHealth", "float", "percent", "Battery state of health."),
    _s("motor_rpm", "Vehicle.Powertrain.ElectricMotor.Speed", "int32", "rpm", "Motor speed."),
    _s("motor_temp", "Vehicle.Powertrain.ElectricMotor.Temperature", "float", "celsius", "Motor temperature."),
    _s("power_kw", f"{_TB}.CurrentPower", "float", "W",
       "Battery power (voltage × current); VSS counts it in W and positive while charging.",
       conversion=Scale(-1000, "kW → W, sign flipped: positive while charging")),
    _s("efficiency_score", f"{_O}.EfficiencyScore", "float", None,
       "Driving efficiency against a reference consumption, 0 (poor) to 10 (best).", min=0, max=10),
    _s("wheel_speed", f"{_O}.WheelSpeed", "float", "km/h",
       "Vehicle speed from the wheel speed sensors (VSS has only each wheel's own speed)."),
    # -- gps ------------------------------------------------------------------------------------------
    _s("gps.latitude", f"{_LOC}.Latitude", "double", "degrees", "Latitude, WGS 84.", min=-90, max=90),
    _s("gps.longitude", f"{_LOC}.Longitude", "double", "degrees", "Longitude, WGS 84.", min=-180, max=180),
    _s("gps.altitude", f"{_O}.CurrentLocation.AltitudeAboveMeanSeaLevel", "double", "m",
       "GNSS altitude above mean sea level (VSS's Altitude is above the WGS 84 ellipsoid, tens of metres away)."),
    _s("gps.satellites", f"{_O}.CurrentLocation.SatelliteCount", "uint8", None,
       "Satellites used in the fix (0 without a fix).", min=0, max=255),
    _s("gps.speed_gps", f"{_O}.CurrentLocation.SpeedOverGround", "float", "km/h", "GNSS speed over ground."),
    _s("gps.heading", f"{_LOC}.Heading", "double", "degrees", "GNSS course over ground, 0 = north, 90 = east.",
       min=0, max=360),
    # -- tyres, pack blocks, connectivity ---------------------------------------------------------------
    _tyre("front_left", "Row1", "Left"),
    _tyre("front_right", "Row1", "Right"),
    _tyre("rear_left", "Row2", "Left"),
    _tyre("rear_right", "Row2", "Right"),
    _s("battery_cells.block_a", f"{_O}.TractionBattery.BlockA.Temperature", "float", "celsius",
       "Temperature of the pack's block A."),
    _s("battery_cells.block_b", f"{_O}.TractionBattery.BlockB.Temperature", "float", "celsius",
       "Temperature of the pack's block B."),
    _s("battery_cells.block_c", f"{_O}.TractionBattery.BlockC.Temperature", "float", "celsius",
       "Temperature of the pack's block C."),
    _s("connectivity.wifi", f"{_O}.Connectivity.IsWifiConnected", "boolean", None,
       "The Wi-Fi interface is associated with an access point."),
    _s("connectivity.bluetooth", f"{_O}.Connectivity.IsBluetoothConnected", "boolean", None,
       "The Bluetooth adapter is powered and a device is connected."),
    _s("connectivity.can_bus", f"{_O}.Connectivity.IsCanBusActive", "boolean", None, "CAN frames are arriving."),
    # -- media ----------------------------------------------------------------------------------------
    _s("media.connected", f"{_O}.Media.IsConnected", "boolean", None, "A phone or player is connected."),
    _s("media.device_name", f"{_O}.Media.DeviceName", "string", None, "Name of the connected phone or player."),
    _s("media.track_title", f"{_MEDIA}.Played.Track", "string", None, "Title of the track playing."),
    _s("media.track_artist", f"{_MEDIA}.Played.Artist", "string", None, "Artist of the track playing."),
    _s("media.duration", f"{_O}.Media.Played.Duration", "float", "s", "Length of the track playing."),
    _s("media.position", f"{_O}.Media.Played.Position", "float", "s", "Position in the track playing."),
    _a("media.is_playing", f"{_MEDIA}.Action", "string", None,
       "Playing or not; set PLAY, STOP (pause), SKIP_FORWARD or SKIP_BACKWARD to control the player.",
       conversion=Names(((True, "PLAY"), (False, "STOP"))),
       actions=(("PLAY", "play_music"), ("STOP", "pause_music"), ("SKIP_FORWARD", "next_track"),
                ("SKIP_BACKWARD", "previous_track"))),
    _a("media.volume", f"{_MEDIA}.Volume", "uint8", "percent", "Media volume.",
       conversion=Scale(100, "0.0-1.0 → percent"), min=0, max=100, action="set_volume"),
    # -- settings -------------------------------------------------------------------------------------
    _a("settings.charge_limit", f"{_TB}.Charging.ChargeLimit", "uint8", "percent",
       "Charge limit (evscreen accepts 50-100).", min=0, max=100, action="set_charge_limit"),
    _a("settings.regen_level", f"{_O}.Settings.RegenLevel", "string", None, "Regenerative braking level.",
       conversion=Names((("off", "OFF"), ("low", "LOW"), ("standard", "STANDARD"), ("high", "HIGH"))),
       action="set_regen_level"),
    _a("settings.drive_mode", "Vehicle.Powertrain.Transmission.PerformanceMode", "string", None, "Drive mode.",
       conversion=Names((("eco", "ECONOMY"), ("normal", "NORMAL"), ("sport", "SPORT"))), action="set_drive_mode"),
    _a("settings.brightness", f"{_HMI}.Brightness", "float", "percent", "Screen brightness (whole percent).",
       min=0, max=100, action="set_brightness"),
    _a("settings.light_theme", f"{_HMI}.DayNightMode", "string", None, "Screen theme: DAY is the light theme.",
       conversion=Names(((True, "DAY"), (False, "NIGHT"))), action="set_theme"),
    _a("settings.predictions_on", f"{_O}.Settings.IsPredictionEnabled", "boolean", None,
       "The screen shows evscreen's predictions.", action="toggle_predictions"),
    _a("settings.twin_mode", f"{_O}.Settings.TwinMode", "string", None, "The digital twin's view.",
       conversion=Names((("2d", "2D"), ("3d", "3D"))), action="set_twin_mode"),
    # -- battery_pack (from the BMS, when polled) ----------------------------------------------------------
    _s("battery_pack.cell_voltage_min", f"{_TB}.CellVoltage.Min", "float", "V", "Lowest cell voltage."),
    _s("battery_pack.cell_voltage_max", f"{_TB}.CellVoltage.Max", "float", "V", "Highest cell voltage."),
    _s("battery_pack.cell_voltage_min_id", f"{_TB}.CellVoltage.IdMin", "uint16", None,
       "Number of the cell with the lowest voltage."),
    _s("battery_pack.cell_voltage_max_id", f"{_TB}.CellVoltage.IdMax", "uint16", None,
       "Number of the cell with the highest voltage."),
    _s("battery_pack.temp_min", f"{_TB}.Temperature.Min", "float", "celsius", "Lowest battery temperature."),
    _s("battery_pack.temp_max", f"{_TB}.Temperature.Max", "float", "celsius", "Highest battery temperature."),
    _s("battery_pack.aux_voltage", "Vehicle.LowVoltageBattery.CurrentVoltage", "float", "V", "12 V battery voltage."),
    _s("battery_pack.max_charge_power_kw", f"{_O}.TractionBattery.MaxChargePower", "float", "kW",
       "Charge power the battery management system allows now (VSS's Charging.MaxPower is the last session's peak)."),
    _s("battery_pack.max_discharge_power_kw", f"{_O}.TractionBattery.MaxDischargePower", "float", "kW",
       "Discharge power the battery management system allows now."),
    _s("battery_pack.energy_charged_kwh", f"{_TB}.AccumulatedChargedEnergy", "float", "kWh",
       "Energy charged into the battery over its lifetime."),
    _s("battery_pack.energy_discharged_kwh", f"{_TB}.AccumulatedConsumedEnergy", "float", "kWh",
       "Energy taken from the battery over its lifetime."),
    # -- predictions (evscreen's own estimates, while predictions_on) --------------------------------------
    _s("predictions.range_km", f"{_O}.Predictions.Range", "float", "km",
       "evscreen's range estimate from the consumption it learned (range_km is the car's own)."),
    _s("predictions.consumption_wh_per_km", f"{_O}.Predictions.Consumption", "float", "Wh/km",
       "The consumption evscreen learned from recent driving."),
    _s("predictions.minutes_to_charge_limit", f"{_TB}.Charging.TimeToComplete", "uint32", "s",
       "Time until the charge limit is reached, while charging (evscreen's estimate).",
       conversion=Scale(60, "min → s")),
)

BY_PATH: dict[str, Signal] = {signal.path: signal for signal in CATALOG}
BY_FIELD: dict[str, Signal] = {signal.field: signal for signal in CATALOG}

#: Descriptions of the overlay's branches (VSS wants one on every node an overlay adds).
OVERLAY_BRANCHES: dict[str, str] = {
    "Vehicle.Private": "Signals outside the VSS standard catalog, one branch per vendor.",
    OVERLAY_ROOT: "evscreen's signals that VSS 5.0 has no node for.",
    f"{_O}.Cabin": "Cabin climate.",
    f"{_O}.CurrentLocation": "GNSS fix details.",
    f"{_O}.TractionBattery": "Traction battery details.",
    f"{_O}.TractionBattery.BlockA": "Block A of the pack.",
    f"{_O}.TractionBattery.BlockB": "Block B of the pack.",
    f"{_O}.TractionBattery.BlockC": "Block C of the pack.",
    f"{_O}.Connectivity": "Links of the head unit.",
    f"{_O}.Media": "The connected phone or player.",
    f"{_O}.Media.Played": "The track playing.",
    f"{_O}.Settings": "The screen's settings.",
    f"{_O}.Predictions": "evscreen's own estimates, while predictions are on.",
}
