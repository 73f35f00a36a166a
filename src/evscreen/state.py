"""The vehicle state and the telemetry snapshot the screen receives (pure: no I/O, no event loop).

Sources write values into :class:`VehicleState` under their telemetry paths (``"speed"``,
``"gps.latitude"``, ``"media.track_title"``...). :func:`build_telemetry` turns the state and the
settings into one message with exactly the field names and nesting of ``docs/protocol.md``. A value
that was never known is ``null``; a value whose source went quiet is kept and its source is marked
stale, never replaced by an invented number.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

#: Top-level scalar fields of the telemetry message, in the order the seed sends them.
SCALAR_FIELDS: tuple[str, ...] = (
    "ambient_temp",
    "humidity",
    "cabin_temp",
    "speed",
    "range_km",
    "battery_soc",
    "battery_voltage",
    "battery_current",
    "battery_soh",
    "motor_rpm",
    "motor_temp",
    "power_kw",
    "efficiency_score",
    "wheel_speed",
)

#: Nested objects of the telemetry message and their fields (``settings`` comes from the store).
GROUP_FIELDS: dict[str, tuple[str, ...]] = {
    "gps": ("latitude", "longitude", "altitude", "satellites", "speed_gps", "heading"),
    "tire_pressure": ("front_left", "front_right", "rear_left", "rear_right"),
    "battery_cells": ("block_a", "block_b", "block_c"),
    "connectivity": ("wifi", "bluetooth", "can_bus"),
    "media": ("connected", "device_name", "track_title", "track_artist", "duration", "position", "is_playing"),
    # Extra: what a BMS tells when it is polled over ISO-TP (docs/diagnostics.md).
    "battery_pack": ("cell_voltage_min", "cell_voltage_max", "cell_voltage_min_id", "cell_voltage_max_id",
                     "temp_min", "temp_max", "aux_voltage", "max_charge_power_kw", "max_discharge_power_kw",
                     "energy_charged_kwh", "energy_discharged_kwh"),
}

SETTINGS_FIELDS: tuple[str, ...] = (
    "charge_limit", "regen_level", "drive_mode", "brightness", "light_theme", "predictions_on", "twin_mode",
)

#: Every path of the telemetry message a source may write.
STATE_PATHS: frozenset[str] = frozenset(
    SCALAR_FIELDS + tuple(f"{group}.{name}" for group, names in GROUP_FIELDS.items() for name in names)
)

#: The car's own state, as its profile maps it (docs/vehicles.md): ``vehicle.ready`` (switched on:
#: Ready, or ignition on where the car reports only that), ``vehicle.charging`` (a charge session is
#: under way) and ``vehicle.odometer`` (km). Kept in the state for what needs them (the journal's
#: trips and charges, the diagnostics poller's off/on/charging schedule), not in the telemetry
#: message, whose fields the screen depends on.
CAR_STATE_PATHS: frozenset[str] = frozenset({"vehicle.ready", "vehicle.charging", "vehicle.odometer"})

#: Every path a source may write.
WRITABLE_PATHS: frozenset[str] = STATE_PATHS | CAR_STATE_PATHS


class SourceState:
    LIVE = "live"
    SIMULATED = "simulated"
    REPLAY = "replay"  # a recorded log played as the source (evscreen serve --replay)
    STALE = "stale"
    OFFLINE = "offline"
    STARTING = "starting"


@dataclass
class SourceStatus:
    """What the state knows about one source."""

    simulated: bool
    stale_after: float
    replay: bool = False
    online: bool = False
    last_update: float | None = None  # monotonic seconds
    detail: str = ""
    stale: bool = False  # marked stale by the source, whatever the age, until its next values

    def describe(self, now: float) -> dict[str, Any]:
        age = None if self.last_update is None else max(0.0, now - self.last_update)
        if not self.online:
            state = SourceState.OFFLINE if self.last_update is not None or self.detail else SourceState.STARTING
        elif age is None:
            state = SourceState.STARTING
        elif self.stale or age > self.stale_after:
            state = SourceState.STALE
        else:
            state = (SourceState.REPLAY if self.replay else SourceState.SIMULATED if self.simulated
                     else SourceState.LIVE)
        out: dict[str, Any] = {"state": state, "age": None if age is None else round(age, 3)}
        if self.detail:
            out["detail"] = self.detail
        return out


class VehicleState:
    """Latest value of every telemetry path, when it arrived and from which source."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._values: dict[str, Any] = {}
        self._sources: dict[str, SourceStatus] = {}
        self.version = 0  # bumped on every change, so sinks can tell when something moved
        #: evscreen's own estimates (range, consumption, time to the charge limit), written by the
        #: journal; sent as ``predictions`` while the predictions_on setting is true.
        self.predictions: dict[str, Any] | None = None

    # -- sources --------------------------------------------------------------------------------

    def register_source(self, name: str, *, simulated: bool, stale_after: float = 5.0, replay: bool = False) -> None:
        self._sources[name] = SourceStatus(simulated=simulated, stale_after=stale_after, replay=replay)

    def set_online(self, name: str, online: bool, detail: str = "") -> None:
        status = self._sources[name]
        status.online = online
        status.detail = detail
        self.version += 1

    def mark_stale(self, name: str, detail: str = "") -> None:
        """Report ``name``'s values as stale from now on, however recent they are, until it sends new
        ones (a sensor that keeps failing its reads: its last value stays on screen, marked stale)."""
        status = self._sources[name]
        status.stale = True
        status.detail = detail
        self.version += 1

    def source_status(self, name: str) -> SourceStatus:
        return self._sources[name]

    def describe_sources(self, now: float | None = None) -> dict[str, dict[str, Any]]:
        now = self._clock() if now is None else now
        return {name: status.describe(now) for name, status in self._sources.items()}

    # -- values ---------------------------------------------------------------------------------

    def update(
        self,
        source: str,
        values: Mapping[str, Any] | Iterable[tuple[str, Any]],
        now: float | None = None,
        *,
        refresh: bool = True,
    ) -> None:
        """Record fresh values from ``source``; paths must be in :data:`WRITABLE_PATHS`.

        ``refresh=False`` writes the values without making the source look alive: for what a source
        concludes from *silence* (the CAN bus went quiet, the GPS receiver is gone), which must not
        turn its stale values fresh again.
        """
        items = values.items() if isinstance(values, Mapping) else values
        store = self._values
        for path, value in items:
            if path not in WRITABLE_PATHS:
                raise KeyError(f"{path!r} is not a telemetry path")
            if value.__class__ is float and not math.isfinite(value):
                value = None  # NaN/inf is not a measurement, and not valid JSON
            store[path] = value
        status = self._sources[source]
        if refresh:
            status.last_update = self._clock() if now is None else now
            status.online = True
            status.stale = False
        self.version += 1

    def touch(self, source: str, now: float | None = None) -> None:
        """Mark ``source`` as alive without new values (data arrived but nothing changed)."""
        status = self._sources[source]
        status.last_update = self._clock() if now is None else now
        status.online = True
        status.stale = False

    def get(self, path: str, default: Any = None) -> Any:
        return self._values.get(path, default)

    def values(self) -> dict[str, Any]:
        return dict(self._values)


def build_telemetry(
    state: VehicleState,
    settings: Mapping[str, Any],
    *,
    wall_time: float | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """The telemetry message for this instant, exactly as the protocol names and nests it."""
    values = state._values  # read-only access; a copy per tick would be wasted work
    wall = time.time() if wall_time is None else wall_time
    stamp = datetime.fromtimestamp(wall, timezone.utc).isoformat(timespec="milliseconds")
    msg: dict[str, Any] = {"type": "telemetry", "timestamp": stamp.replace("+00:00", "Z")}
    for name in SCALAR_FIELDS:
        msg[name] = values.get(name)
    for group, names in GROUP_FIELDS.items():
        msg[group] = {name: values.get(f"{group}.{name}") for name in names}
    msg["media"]["volume"] = settings.get("volume")  # an extra key: the persisted media volume
    msg["settings"] = {name: settings.get(name) for name in SETTINGS_FIELDS}
    msg["predictions"] = predictions_object(state) if settings.get("predictions_on") is True else None
    msg["sources"] = state.describe_sources(now)
    return msg


#: The fields of the ``predictions`` object (null each while not known).
PREDICTION_FIELDS: tuple[str, ...] = ("range_km", "consumption_wh_per_km", "minutes_to_charge_limit")


def predictions_object(state: VehicleState) -> dict[str, Any]:
    """The ``predictions`` object: every field present, null until the journal has an estimate."""
    known = state.predictions or {}
    return {name: known.get(name) for name in PREDICTION_FIELDS}


def telemetry_paths() -> list[str]:
    """Every leaf of the telemetry message as ``group.field`` (or ``field``), settings included."""
    return (
        list(SCALAR_FIELDS)
        + [f"{g}.{n}" for g, names in GROUP_FIELDS.items() for n in names]
        + ["media.volume"]
        + [f"settings.{n}" for n in SETTINGS_FIELDS]
    )
