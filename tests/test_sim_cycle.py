"""The drive-cycle data are the EPA's, and the cycle reader refuses anything that is not a cycle."""

from __future__ import annotations

import itertools
import math

import pytest

from evscreen.sim.drive_cycle import CYCLE_NAMES, DriveCycle, load_cycle, parse_cycle

MILE_M = 1609.344


@pytest.mark.parametrize(
    ("name", "seconds", "miles", "average_mph", "top_mph"),
    [
        # As the EPA states them on its schedule pages (length, distance, average speed).
        ("udds", 1369, 7.45, 19.59, 56.7),
        ("hwfet", 765, 10.26, 48.3, 59.9),
    ],
)
def test_cycles_are_the_epa_schedules(
    name: str, seconds: int, miles: float, average_mph: float, top_mph: float
) -> None:
    cycle = load_cycle(name)
    assert cycle.duration_s == seconds
    distance_miles = cycle.distance_m() / MILE_M
    assert round(distance_miles, 2) == miles
    assert round(distance_miles / seconds * 3600, 2 if name == "udds" else 1) == average_mph
    assert round(max(cycle.speeds_ms) / 0.44704, 1) == top_mph
    assert cycle.speeds_ms[0] == cycle.speeds_ms[-1] == 0.0  # starts and ends at rest, so they loop
    # The EPA's traces are drivable: no second asks more than 3.3 mph/s (1.48 m/s²).
    assert cycle.max_accel() <= 3.3 * 0.44704 + 1e-9


def test_udds_has_the_stops_of_city_driving() -> None:
    speeds = load_cycle("udds").speeds_ms
    stops = sum(1 for a, b in itertools.pairwise(speeds) if a > 0 and b == 0)
    assert stops == 17


def test_each_data_file_cites_its_source() -> None:
    from importlib import resources

    for name in CYCLE_NAMES:
        text = resources.files("evscreen.sim").joinpath("cycles", f"{name}.csv").read_text(encoding="utf-8")
        header = "".join(line for line in text.splitlines() if line.startswith("#"))
        assert "epa.gov/vehicle-and-fuel-emissions-testing/dynamometer-drive-schedules" in header
        assert "40 CFR Part" in header


def test_interpolation_between_seconds() -> None:
    cycle = DriveCycle("t", (0.0, 2.0, 6.0))
    assert cycle.speed_at(0.5) == pytest.approx(1.0)
    assert cycle.speed_at(1.25) == pytest.approx(3.0)
    assert cycle.accel_at(1.25) == pytest.approx(4.0)
    assert cycle.speed_at(-3.0) == 0.0 and cycle.speed_at(99.0) == 6.0
    assert cycle.accel_at(2.0) == 0.0 and cycle.accel_at(-1.0) == 0.0
    assert cycle.distance_m() == pytest.approx(1.0 + 4.0)


def test_parse_accepts_units_and_comments() -> None:
    cycle = parse_cycle("x", "# a comment\n\ntime_s,speed_kmh\n0,0\n1,36\n# trailing\n2,0\n")
    assert cycle.speeds_ms == (0.0, 10.0, 0.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no header"),
        ("# only comments\n", "no header"),
        ("time,speed_mph\n0,0\n1,0\n", "header must be"),
        ("time_s,speed_furlongs\n0,0\n1,0\n", "header must be"),
        ("time_s,speed_mph\n0,0\n", "at least two"),
        ("time_s,speed_mph\n0,0\n2,1\n", "expected time 1"),
        ("time_s,speed_mph\n0,0\n0,1\n", "expected time 1"),
        ("time_s,speed_mph\n0,0\n1,-3\n", "speed must be"),
        ("time_s,speed_mph\n0,0\n1,nan\n", "speed must be"),
        ("time_s,speed_mph\n0,0\n1,inf\n", "speed must be"),
        ("time_s,speed_mph\n0,0\n1,400\n", "speed must be"),
        ("time_s,speed_mph\n0,0\n1,fast\n", "not numbers"),
        ("time_s,speed_mph\n0,0\n1,2,3\n", "expected 2 fields"),
        ("time_s,speed_mph\n0,0\n1\n", "expected 2 fields"),
        ("time_s,speed_mph\n0,0\n\x00,\x00\n", "not numbers"),
    ],
)
def test_parse_rejects_what_is_not_a_cycle(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        parse_cycle("bad", text)
    assert str(info.value).startswith("bad")


def test_unknown_cycle_name_is_refused() -> None:
    with pytest.raises(ValueError, match="known: udds, hwfet"):
        load_cycle("../../etc/passwd")


def test_a_huge_garbage_file_fails_fast_with_one_error() -> None:
    text = "time_s,speed_mph\n" + "0,0\n" + "x" * 1_000_000
    with pytest.raises(ValueError, match="line 3"):
        parse_cycle("junk", text)
    assert math.isfinite(load_cycle("udds").distance_m())
