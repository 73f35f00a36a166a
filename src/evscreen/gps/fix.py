"""What every GPS feed produces and reports, whatever it reads (pure: no I/O).

A feed (NMEA from a serial receiver, gpsd's JSON) turns what it reads into :class:`Fix` objects and
hands them to a :class:`FixSink`, with a :class:`Problem` when the receiver is not delivering. The
NMEA and gpsd parsers and both feeds import this module; none of them imports another.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol

from evscreen.errors import SourceUnavailable

#: Seconds without a valid sentence (or gpsd report) after which the receiver counts as offline.
SILENCE_S = 5.0


@dataclass(frozen=True)
class Fix:
    """The receiver's answer for one epoch. Without a valid fix, position and speed are None."""

    valid: bool
    mode: int  # 1 no fix, 2 two-dimensional, 3 three-dimensional
    time: dt.time | None = None
    date: dt.date | None = None
    latitude: float | None = None
    longitude: float | None = None
    altitude: float | None = None  # metres above mean sea level
    satellites: int | None = 0  # in use; None only when the receiver never says
    satellites_in_view: int | None = None
    speed_kmh: float | None = None
    heading: float | None = None
    hdop: float | None = None

    @property
    def timestamp(self) -> dt.datetime | None:
        if self.time is None or self.date is None:
            return None
        return dt.datetime.combine(self.date, self.time, tzinfo=dt.timezone.utc)

    def telemetry(self) -> dict[str, Any]:
        """The ``gps.*`` telemetry paths for this fix."""
        return {
            "gps.latitude": self.latitude,
            "gps.longitude": self.longitude,
            "gps.altitude": self.altitude,
            "gps.satellites": self.satellites,
            "gps.speed_gps": None if self.speed_kmh is None else round(self.speed_kmh, 3),
            "gps.heading": self.heading,
        }

    def as_dict(self) -> dict[str, Any]:
        stamp = self.timestamp
        if stamp is not None:
            when: str | None = stamp.isoformat().replace("+00:00", "Z")
        else:
            when = self.time.isoformat() if self.time else None
        return {
            "valid": self.valid, "mode": self.mode, "time": when,
            "latitude": self.latitude, "longitude": self.longitude, "altitude": self.altitude,
            "satellites": self.satellites, "satellites_in_view": self.satellites_in_view,
            "speed_kmh": None if self.speed_kmh is None else round(self.speed_kmh, 3),
            "heading": self.heading, "hdop": self.hdop,
        }


#: Telemetry for "no receiver": nothing is known.
UNKNOWN_TELEMETRY: dict[str, Any] = {
    "gps.latitude": None, "gps.longitude": None, "gps.altitude": None, "gps.satellites": None,
    "gps.speed_gps": None, "gps.heading": None,
}


@dataclass(frozen=True)
class Problem:
    """Why the GPS is not delivering: ``cause`` is a short code the probe turns into advice."""

    cause: str  # not_found, permission, busy, not_serial, open_failed, unplugged, silent, no_nmea, gpsd_*, failed
    message: str


class GpsUnavailable(SourceUnavailable):
    """The receiver (or gpsd) cannot be read; ``problem`` says why."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message, cause=problem.cause)
        self.problem = problem


class FixSink(Protocol):
    """Where a feed delivers: each fix, and each problem it notices while it keeps reading."""

    def publish(self, fix: Fix) -> None: ...
    def offline(self, problem: Problem) -> None: ...
