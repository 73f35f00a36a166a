"""One timestamped reading of what the journal needs from the vehicle state (pure).

The journal is a sink like the others: it reads :class:`~evscreen.state.VehicleState`, never a
driver. Paths that only some cars provide are optional: the car's own ready and charging state and
odometer (``vehicle.*``, from the vehicle profile) and the BMS's cumulative energy counters
(``battery_pack.energy_*_kwh``, from the diagnostics poller). Without them the journal falls back to
motion, charging current, speed and V·I.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

#: Optional state paths, read when a source provides them.
READY_PATH = "vehicle.ready"
CHARGING_PATH = "vehicle.charging"
ODOMETER_PATH = "vehicle.odometer"  # km
CHARGED_COUNTER_PATH = "battery_pack.energy_charged_kwh"
DISCHARGED_COUNTER_PATH = "battery_pack.energy_discharged_kwh"


@dataclass(frozen=True)
class Sample:
    """The vehicle at one instant ``t`` (epoch seconds). None: not known."""

    t: float
    speed_kmh: float | None = None
    voltage: float | None = None
    current: float | None = None  # A, positive while the battery discharges
    soc: float | None = None
    ambient_c: float | None = None
    latitude: float | None = None
    longitude: float | None = None
    odometer_km: float | None = None
    ready: bool | None = None
    charging: bool | None = None
    energy_charged_kwh: float | None = None
    energy_discharged_kwh: float | None = None

    @property
    def power_kw(self) -> float | None:
        """Battery power, positive out of the battery (the telemetry's ``power_kw`` convention)."""
        if self.voltage is None or self.current is None:
            return None
        return self.voltage * self.current / 1000.0


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def sample_from_values(t: float, get: Any) -> Sample:
    """A :class:`Sample` from a ``get(path)`` function (``VehicleState.get``); wrong types read as unknown."""
    speed = _number(get("speed"))
    if speed is None:
        speed = _number(get("gps.speed_gps"))
    lat, lon = _number(get("gps.latitude")), _number(get("gps.longitude"))
    if lat is None or lon is None or not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        lat = lon = None  # a position is a pair, or nothing
    return Sample(
        t=t,
        speed_kmh=speed,
        voltage=_number(get("battery_voltage")),
        current=_number(get("battery_current")),
        soc=_number(get("battery_soc")),
        ambient_c=_number(get("ambient_temp")),
        latitude=lat,
        longitude=lon,
        odometer_km=_number(get(ODOMETER_PATH)),
        ready=_flag(get(READY_PATH)),
        charging=_flag(get(CHARGING_PATH)),
        energy_charged_kwh=_number(get(CHARGED_COUNTER_PATH)),
        energy_discharged_kwh=_number(get(DISCHARGED_COUNTER_PATH)),
    )
