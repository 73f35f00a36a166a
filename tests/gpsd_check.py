"""Reading gpsd's regression output (``.chk``) as expected fixes, one per epoch.

A ``.chk`` file interleaves the NMEA lines gpsd read with the JSON it reported after each one.
Reports are attributed to the epoch of the last time-bearing sentence before them; the last TPV of
an epoch is gpsd's final answer for it, and the last SKY with a satellite list gives the satellites
it marked as used (without one, the last SKY's ``uSat``). gpsd's TPV ``time`` is not used (its
week-rollover logic shifts old logs).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

_TIME_FIELD = {"GGA": 1, "RMC": 1, "GNS": 1, "GLL": 5}


@dataclass
class ExpectedEpoch:
    tpv: dict[str, Any] | None = None
    used: int | None = None
    listed: bool = False


def nmea_time_key(fields: list[str], kind: str) -> float | None:
    index = _TIME_FIELD.get(kind)
    if index is None or len(fields) <= index or not fields[index]:
        return None
    t = fields[index]
    return int(t[0:2]) * 3600 + int(t[2:4]) * 60 + float(t[4:])


def expected_epochs(chk: Path) -> dict[float, ExpectedEpoch]:
    epochs: dict[float, ExpectedEpoch] = {}
    current: float | None = None
    for raw in chk.read_text(encoding="ascii").splitlines():
        line = raw.strip()
        if line.startswith("$"):
            fields = line.split("*")[0].split(",")
            key = nmea_time_key(fields, fields[0][3:])
            if key is not None:
                current = key
        elif line.startswith("{") and current is not None:
            report = json.loads(line)
            epoch = epochs.setdefault(current, ExpectedEpoch())
            if report.get("class") == "TPV":
                epoch.tpv = report
            elif report.get("class") == "SKY" and "satellites" in report:
                epoch.used = sum(1 for s in report["satellites"] if s.get("used"))
                epoch.listed = True
            elif report.get("class") == "SKY" and "uSat" in report and not epoch.listed:
                epoch.used = report["uSat"]  # an epoch without a full sky view: gpsd's running count
    return epochs


def time_key(t: Any) -> float:
    return t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6


def log_lines(log: Path) -> list[bytes]:
    """The receiver's bytes, line by line, without the log's comment header."""
    return [line for line in log.read_bytes().splitlines() if line.strip() and not line.startswith(b"#")]


def assert_matches_gpsd(fix: Any, expected: ExpectedEpoch) -> None:
    """Position to 1e-6 degrees, altitude above mean sea level, satellites used, as gpsd decoded them."""
    tpv = expected.tpv
    assert tpv is not None
    if tpv.get("mode", 0) < 2:
        assert not fix.valid
        assert fix.latitude is None and fix.longitude is None and fix.altitude is None
        assert fix.satellites == 0
        return
    assert fix.valid and fix.mode == tpv["mode"]
    assert abs(fix.latitude - tpv["lat"]) < 1e-6
    assert abs(fix.longitude - tpv["lon"]) < 1e-6
    if "altMSL" in tpv:
        assert fix.altitude == pytest.approx(tpv["altMSL"], abs=1e-6)
    else:
        assert fix.altitude is None
    if expected.used is not None:
        assert fix.satellites == expected.used
