"""Trips and charge sessions as the journal keeps them, and as users read them (pure, no I/O).

A record holds its raw running totals (epoch seconds, kWh, km, the ambient temperature's
time integral...), which is what the store saves and what a resumed record carries on from;
:meth:`Trip.public` and :meth:`Charge.public` derive the documented fields (ISO times, Wh/km,
averages) from them, so the figures a user sees are computed in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

#: How each record's energy was measured: the BMS's cumulative counters (exact, as the car counts
#: it), the integral of pack voltage x current (as good as the sampling), or both at different times.
ENERGY_METHODS = ("bms_counters", "v_i_integral", "mixed")
#: How each trip's distance was measured: the odometer's advance, or the integral of speed.
DISTANCE_METHODS = ("odometer", "speed_integral", "mixed")


def iso(t: float | None) -> str | None:
    """Epoch seconds as ISO 8601 UTC with a Z, to the second (None stays None)."""
    if t is None:
        return None
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def combine_method(old: str | None, new: str) -> str:
    """The method label of a total made of ``old``'s increments and one more measured by ``new``."""
    return new if old is None or old == new else "mixed"


def _r(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


@dataclass
class Trip:
    """One drive. ``end`` is None while it is open; ``updated`` is its last checkpointed sample."""

    start: float
    updated: float
    id: int | None = None
    end: float | None = None
    distance_km: float = 0.0
    energy_kwh: float = 0.0  # net out of the battery (regeneration already subtracted)
    regen_kwh: float = 0.0
    soc_start: float | None = None
    soc_end: float | None = None
    max_power_kw: float | None = None
    ambient_c_s: float = 0.0  # ∫ ambient temperature dt, for the time-weighted average
    ambient_s: float = 0.0  # seconds of that integral
    start_latitude: float | None = None
    start_longitude: float | None = None
    end_latitude: float | None = None
    end_longitude: float | None = None
    energy_method: str | None = None
    distance_method: str | None = None

    @property
    def wh_per_km(self) -> float | None:
        return self.energy_kwh * 1000.0 / self.distance_km if self.distance_km >= 0.1 else None

    @property
    def ambient_temp_avg(self) -> float | None:
        return self.ambient_c_s / self.ambient_s if self.ambient_s > 0 else None

    def public(self) -> dict[str, Any]:
        """The documented fields (docs/schema/trip.json), rounded as shown."""
        end = self.end if self.end is not None else self.updated
        hours = max(0.0, end - self.start) / 3600.0
        return {
            "id": self.id,
            "start": iso(self.start),
            "end": iso(self.end),
            "duration_min": round(hours * 60.0, 1),
            "distance_km": round(self.distance_km, 2),
            "energy_kwh": round(self.energy_kwh, 3),
            "regen_kwh": round(self.regen_kwh, 3),
            "wh_per_km": _r(self.wh_per_km, 1),
            "soc_start": _r(self.soc_start, 1),
            "soc_end": _r(self.soc_end, 1),
            "avg_speed_kmh": round(self.distance_km / hours, 1) if hours > 0 else None,
            "max_power_kw": _r(self.max_power_kw, 1),
            "ambient_temp_avg": _r(self.ambient_temp_avg, 1),
            "start_latitude": self.start_latitude,
            "start_longitude": self.start_longitude,
            "end_latitude": self.end_latitude,
            "end_longitude": self.end_longitude,
            "energy_method": self.energy_method,
            "distance_method": self.distance_method,
        }


@dataclass
class Charge:
    """One charge session. ``curve`` maps a whole SoC percent to (kWh, seconds) spent charging there."""

    start: float
    updated: float
    id: int | None = None
    end: float | None = None
    energy_kwh: float = 0.0  # into the battery
    soc_start: float | None = None
    soc_end: float | None = None
    max_power_kw: float | None = None
    latitude: float | None = None
    longitude: float | None = None
    energy_method: str | None = None
    curve: dict[int, tuple[float, float]] = field(default_factory=dict)

    @property
    def avg_power_kw(self) -> float | None:
        end = self.end if self.end is not None else self.updated
        hours = (end - self.start) / 3600.0
        return self.energy_kwh / hours if hours > 0 else None

    def curve_points(self) -> list[list[float]]:
        """[[SoC %, mean kW while at that SoC], ...] in SoC order: the coarse charge curve."""
        return [[float(soc), round(kwh / (s / 3600.0), 2)] for soc, (kwh, s) in sorted(self.curve.items()) if s > 0]

    def public(self, *, with_curve: bool = True) -> dict[str, Any]:
        """The documented fields (docs/schema/charge.json), rounded as shown."""
        end = self.end if self.end is not None else self.updated
        out: dict[str, Any] = {
            "id": self.id,
            "start": iso(self.start),
            "end": iso(self.end),
            "duration_min": round(max(0.0, end - self.start) / 60.0, 1),
            "energy_kwh": round(self.energy_kwh, 3),
            "soc_start": _r(self.soc_start, 1),
            "soc_end": _r(self.soc_end, 1),
            "max_power_kw": _r(self.max_power_kw, 1),
            "avg_power_kw": _r(self.avg_power_kw, 1),
            "latitude": self.latitude,
            "longitude": self.longitude,
            "energy_method": self.energy_method,
        }
        if with_curve:
            out["curve"] = self.curve_points()
        return out


#: The public fields in order, for CSV headers and tables (the charge curve is JSON-only).
TRIP_FIELDS: tuple[str, ...] = tuple(Trip(0.0, 0.0).public())
CHARGE_FIELDS: tuple[str, ...] = tuple(Charge(0.0, 0.0).public(with_curve=False))
