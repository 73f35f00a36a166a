"""Topic names and the per-field state topics with their deadbands (pure: no I/O).

The retained ``<prefix>/state/<field>/<subfield>`` topics are the layout OVMS and TeslaMate users
know. They hold the last *known* value: ``null`` is never published, so a value no source has
delivered yet is simply absent, and one that went stale or unknown keeps its last real value (the
telemetry's ``sources`` says how old it is).

A number is published again only when it moved *more than* its field's deadband away from the value
last published (so a slow drift still gets out once it adds up), which keeps a metered cellular link
quiet while the car is parked. That is a deadband with hysteresis: the published value stays put
while readings wander anywhere within the band around it, edges included, and the band is never
narrower than one step of the value's own resolution (the smallest step seen between two readings).
A sensor whose last digit flickers between two steps (6.0, 6.5, 6.0... with a 0.5 band, or 21, 22,
21... from a whole-degree sensor) therefore publishes once, not at every flicker.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from evscreen.state import telemetry_paths

#: Built-in deadband of each numeric field, in the field's unit; fields not listed publish on
#: every change. ``mqtt.state_deadband`` scales them all (0 = every change).
DEADBANDS: dict[str, float] = {
    "speed": 1.0,  # km/h
    "wheel_speed": 1.0,
    "gps.speed_gps": 1.0,
    "range_km": 1.0,  # km
    "battery_soc": 0.5,  # %
    "battery_soh": 0.1,
    "battery_voltage": 1.0,  # V
    "battery_current": 2.0,  # A
    "power_kw": 0.5,  # kW
    "motor_rpm": 100.0,
    "motor_temp": 0.5,  # °C
    "ambient_temp": 0.5,
    "cabin_temp": 0.5,
    "humidity": 1.0,  # %
    "efficiency_score": 0.5,
    "gps.latitude": 0.0001,  # degrees, about 11 m
    "gps.longitude": 0.0001,
    "gps.altitude": 5.0,  # m
    "gps.heading": 5.0,  # degrees
    "tire_pressure.front_left": 0.3,  # psi
    "tire_pressure.front_right": 0.3,
    "tire_pressure.rear_left": 0.3,
    "tire_pressure.rear_right": 0.3,
    "battery_cells.block_a": 0.5,  # °C
    "battery_cells.block_b": 0.5,
    "battery_cells.block_c": 0.5,
    "battery_pack.cell_voltage_min": 0.01,  # V
    "battery_pack.cell_voltage_max": 0.01,
    "battery_pack.temp_min": 0.5,  # °C
    "battery_pack.temp_max": 0.5,
    "battery_pack.aux_voltage": 0.1,  # V
    "battery_pack.max_charge_power_kw": 1.0,
    "battery_pack.max_discharge_power_kw": 1.0,
    "battery_pack.energy_charged_kwh": 0.5,
    "battery_pack.energy_discharged_kwh": 0.5,
    "media.position": 10.0,  # s
    "media.volume": 0.01,
}


@dataclass(frozen=True)
class Topics:
    """Every topic the bridge uses, under one prefix."""

    prefix: str

    @property
    def status(self) -> str:
        return f"{self.prefix}/status"

    @property
    def telemetry(self) -> str:
        return f"{self.prefix}/telemetry"

    @property
    def command(self) -> str:
        return f"{self.prefix}/command"

    @property
    def response(self) -> str:
        return f"{self.prefix}/response"

    def state(self, path: str) -> str:
        """``battery_soc`` -> ``<prefix>/state/battery_soc``; ``gps.latitude`` -> ``.../state/gps/latitude``."""
        return f"{self.prefix}/state/{path.replace('.', '/')}"

    def last_record(self, kind: str) -> str:
        """``trip`` -> ``<prefix>/trip/last``: the journal's last closed trip (or ``charge`` session)."""
        return f"{self.prefix}/{kind}/last"

    def probe(self, token: str) -> str:
        return f"{self.prefix}/probe/{token}"


def encode_value(value: Any) -> bytes:
    """A state value as its JSON text: ``42.5``, ``"eco"``, ``true``, ``null`` (never an empty payload,
    which would delete the retained message)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False).encode()


def leaf(telemetry: Mapping[str, Any], path: str) -> Any:
    group, _, name = path.partition(".")
    if not name:
        return telemetry.get(group)
    inner = telemetry.get(group)
    return inner.get(name) if isinstance(inner, Mapping) else None


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


#: Differences within this fraction of a band are rounding (0.1 * 12 - 0.1 * 7 is 0.5000000000000001).
_ROUNDING = 1e-6


class StateTracker:
    """Remembers what was last published per field and says what to publish now."""

    def __init__(self, deadband_scale: float = 1.0, paths: list[str] | None = None) -> None:
        self.scale = deadband_scale
        self.paths = telemetry_paths() if paths is None else paths
        self._published: dict[str, Any] = {}
        self._last_reading: dict[str, float] = {}
        self._resolution: dict[str, float] = {}  # smallest step seen between two readings

    def deadband(self, path: str) -> float:
        """The band a number must move beyond: the field's, scaled, and at least its resolution."""
        band = DEADBANDS.get(path, 0.0) * self.scale
        return max(band, self._resolution.get(path, 0.0)) if band > 0 else 0.0

    def changes(self, telemetry: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
        """``(path, value)`` for each field to publish; the first call yields every known field.
        ``None`` (not known) is never yielded: the topic keeps its last known value."""
        for path in self.paths:
            value = leaf(telemetry, path)
            if value is None:
                continue
            if _is_number(value):
                self._learn_resolution(path, float(value))
            if path in self._published and not self._moved(path, self._published[path], value):
                continue
            self._published[path] = value
            yield path, value

    def _learn_resolution(self, path: str, value: float) -> None:
        last = self._last_reading.get(path)
        self._last_reading[path] = value
        band = DEADBANDS.get(path, 0.0) * self.scale
        if last is None or band <= 0:
            return
        step = abs(value - last)
        if step > band * _ROUNDING and step < self._resolution.get(path, math.inf):
            self._resolution[path] = step

    def _moved(self, path: str, old: Any, new: Any) -> bool:
        if _is_number(old) and _is_number(new):
            band = self.deadband(path)
            moved: bool = abs(new - old) > band * (1 + _ROUNDING) if band > 0 else new != old  # numbers: typed Any
            return moved
        return type(old) is not type(new) or old != new
