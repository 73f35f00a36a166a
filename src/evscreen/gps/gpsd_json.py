"""gpsd's JSON protocol, client side (pure, no I/O): bytes from gpsd in, :class:`Fix` objects out.

gpsd answers ``?WATCH={"enable":true,"json":true}`` with one JSON object per line: ``VERSION``,
``DEVICES``, ``WATCH``, then a ``TPV`` (time-position-velocity) and ``SKY`` (satellites) for each
epoch. Every TPV becomes a Fix with the satellites in use from the latest SKY. The protocol is
documented at gpsd.io/gpsd_json.html; older gpsd versions send no ``uSat`` and no ``altMSL``, so
the count comes from the satellite list's ``used`` flags and the altitude from ``alt``. Lines that
are not JSON, too long, or hold values of the wrong type are counted and skipped.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from evscreen.gps.counters import StreamCounters, by_name
from evscreen.gps.nmea import Fix

WATCH_COMMAND = b'?WATCH={"enable":true,"json":true}\n'
MAX_LINE = 256 * 1024  # a SKY with every satellite of four constellations is a few kB

ERROR_KINDS = ("bad_json", "too_long", "bad_report")


@dataclass
class GpsdCounters(StreamCounters):
    """What gpsd sent: reports by class, and each kind of line that could not be used."""

    error_kinds = ERROR_KINDS

    reports: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {"bytes": self.bytes, "reports": by_name(self.reports), **self.error_report(), "fixes": self.fixes}


class BadReport(ValueError):
    pass


class GpsdStream:
    """Splits gpsd's output into reports and turns TPVs into fixes."""

    def __init__(self) -> None:
        self.counters = GpsdCounters()
        self.version: str | None = None
        self.devices: list[str] | None = None  # None until gpsd says; [] means no receiver attached
        self.last_error: str | None = None
        self._buf = bytearray()
        self._overflow = False
        self._used_listed: int | None = None
        self._used_counted: int | None = None
        self._in_view: int | None = None

    def feed(self, data: bytes) -> list[Fix]:
        self.counters.bytes += len(data)
        fixes: list[Fix] = []
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                self._append(data[start:])
                return fixes
            self._append(data[start:end])
            line, overflow = bytes(self._buf), self._overflow
            self._buf.clear()
            self._overflow = False
            start = end + 1
            if overflow:
                self.counters.errors["too_long"] += 1
            elif line.strip():
                fix = self._line(line)
                if fix is not None:
                    fixes.append(fix)

    def _append(self, chunk: bytes) -> None:
        if self._overflow:
            return
        self._buf += chunk
        if len(self._buf) > MAX_LINE:
            self._buf.clear()
            self._overflow = True

    def _line(self, line: bytes) -> Fix | None:
        try:
            report = json.loads(line)
        except (ValueError, UnicodeDecodeError, RecursionError):
            self.counters.errors["bad_json"] += 1
            return None
        if not isinstance(report, dict) or not isinstance(report.get("class"), str):
            self.counters.errors["bad_report"] += 1
            return None
        kind = report["class"]
        self.counters.reports[kind] += 1
        try:
            if kind == "TPV":
                fix = self._tpv(report)
                self.counters.fixes += fix.valid
                return fix
            if kind == "SKY":
                self._sky(report)
            elif kind == "VERSION":
                self.version = _text(report, "release")
            elif kind == "DEVICES":
                devices = report.get("devices")
                if not isinstance(devices, list):
                    raise BadReport("DEVICES without a device list")
                self.devices = [str(d.get("path")) for d in devices if isinstance(d, dict)]
            elif kind == "ERROR":
                self.last_error = _text(report, "message")
        except BadReport as exc:
            self.counters.errors["bad_report"] += 1
            self.last_error = f"{kind}: {exc}"
        return None

    def _sky(self, report: dict[str, Any]) -> None:
        satellites = report.get("satellites")
        if satellites is not None:
            if not isinstance(satellites, list) or not all(isinstance(s, dict) for s in satellites):
                raise BadReport("satellites is not a list of objects")
            self._used_listed = sum(1 for s in satellites if s.get("used") is True)
            self._in_view = len(satellites)
        used = _number(report, "uSat", 0, 1000)
        if used is not None:
            self._used_counted = int(used)

    def _tpv(self, report: dict[str, Any]) -> Fix:
        mode = report.get("mode", 0)
        if isinstance(mode, bool) or not isinstance(mode, int) or not 0 <= mode <= 3:
            raise BadReport(f"mode {mode!r}")
        lat = _number(report, "lat", -90, 90)
        lon = _number(report, "lon", -180, 180)
        stamp = _time(report.get("time"))
        when_time, when_date = (stamp.time(), stamp.date()) if stamp else (None, None)
        if mode < 2 or lat is None or lon is None:
            return Fix(False, 1, satellites=0, satellites_in_view=self._in_view, time=when_time, date=when_date)
        altitude = _number(report, "altMSL", -1000, 100000)
        if altitude is None and "altMSL" not in report:
            altitude = _number(report, "alt", -1000, 100000)  # gpsd < 3.20: alt is MSL
        speed = _number(report, "speed", 0, 10000)  # m/s
        track = _number(report, "track", 0, 360)
        used = self._used_listed if self._used_listed is not None else self._used_counted
        return Fix(
            True, mode, latitude=lat, longitude=lon, altitude=altitude if mode == 3 else None,
            satellites=used, satellites_in_view=self._in_view,
            speed_kmh=None if speed is None else speed * 3.6, heading=None if track is None else track % 360,
            time=when_time, date=when_date,
        )


def _number(report: dict[str, Any], key: str, lo: float, hi: float) -> float | None:
    value = report.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadReport(f"{key} is not a number: {value!r:.40}")
    if not lo <= value <= hi:
        raise BadReport(f"{key} out of range: {value!r}")
    return float(value)


def _text(report: dict[str, Any], key: str) -> str | None:
    value = report.get(key)
    return None if value is None else str(value)[:200]


def _time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        stamp = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp.astimezone(dt.timezone.utc) if stamp.tzinfo else stamp.replace(tzinfo=dt.timezone.utc)
