"""The journal's pure core: samples, meters, the trip and charge detectors."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evscreen.journal.detectors import (
    CHARGE_CLOSED,
    CHARGE_CONFIRM_S,
    CHARGE_END_S,
    CHARGE_STARTED,
    PARK_GAP_S,
    TRIP_CLOSED,
    TRIP_STARTED,
    Event,
    Recorder,
)
from evscreen.journal.meters import COUNTER_STEP_KWH, MAX_POWER_KW, EnergyMeter
from evscreen.journal.records import ENERGY_METHODS, TRIP_FIELDS, Charge, Trip
from evscreen.journal.sample import Sample, sample_from_values

T0 = 1_700_000_000.0
VOLTS = 360.0


def amps(kw: float) -> float:
    return kw * 1000.0 / VOLTS


def run(recorder: Recorder, samples: Iterable[Sample]) -> list[Event]:
    events: list[Event] = []
    for s in samples:
        events += recorder.feed(s)
    return events


def drive(t0: float, seconds: int, kmh: float, kw: float, soc0: float, **extra: object) -> list[Sample]:
    """1 Hz samples of a steady drive, SoC falling 1 % per 0.64 kWh (a 64 kWh pack)."""
    return [Sample(t=t0 + i, speed_kmh=kmh, voltage=VOLTS, current=amps(kw), soc=soc0 - kw * i / 3600.0 / 0.64,
                   ambient_c=10.0, latitude=48.1 + i * 1e-5, longitude=11.5, **extra)  # type: ignore[arg-type]
            for i in range(seconds)]


def stand(t0: float, seconds: int, kw: float, soc: float, **extra: object) -> list[Sample]:
    return [Sample(t=t0 + i, speed_kmh=0.0, voltage=VOLTS, current=amps(kw), soc=soc + (-kw) * i / 3600.0 / 0.64,
                   ambient_c=10.0, **extra) for i in range(seconds)]  # type: ignore[arg-type]


def kinds(events: list[Event]) -> list[str]:
    return [e.kind for e in events]


def test_a_drive_then_a_parked_gap_is_one_trip_ending_at_its_last_motion() -> None:
    rec = Recorder()
    events = run(rec, drive(T0, 600, 50.0, 15.0, 80.0) + stand(T0 + 600, int(PARK_GAP_S) + 5, 0.3, 77.0))
    assert kinds(events) == [TRIP_STARTED, TRIP_CLOSED]
    trip = events[-1].record
    assert isinstance(trip, Trip)
    assert trip.end == T0 + 599  # the last moving sample, not five minutes of standing later
    assert trip.distance_km == pytest.approx(50.0 * 599 / 3600.0, rel=1e-9)
    assert trip.energy_kwh == pytest.approx(15.0 * 599 / 3600.0, rel=1e-9)
    assert trip.wh_per_km == pytest.approx(300.0)
    assert (trip.energy_method, trip.distance_method) == ("v_i_integral", "speed_integral")
    assert trip.soc_start == 80.0 and trip.soc_end < 80.0
    assert trip.start_latitude == 48.1 and trip.end_latitude == pytest.approx(48.1 + 599e-5)
    public = trip.public()
    assert tuple(public) == TRIP_FIELDS and public["end"].endswith("Z") and public["avg_speed_kmh"] == 50.0
    assert public["ambient_temp_avg"] == 10.0 and public["max_power_kw"] == 15.0
    assert rec.trip is None


def test_stops_shorter_than_the_gap_stay_in_the_trip_and_regeneration_is_counted() -> None:
    rec = Recorder()
    samples = drive(T0, 300, 40.0, 12.0, 80.0) + stand(T0 + 300, 120, 0.5, 79.0)
    samples += drive(T0 + 420, 60, 30.0, -20.0, 79.0)  # downhill, regenerating
    samples += drive(T0 + 480, 300, 40.0, 12.0, 79.0) + stand(T0 + 780, int(PARK_GAP_S) + 1, 0.0, 78.0)
    events = run(rec, samples)
    assert kinds(events) == [TRIP_STARTED, TRIP_CLOSED]
    trip = events[-1].record
    assert isinstance(trip, Trip)
    assert trip.regen_kwh == pytest.approx(20.0 * 60 / 3600.0, rel=0.05)
    expected = (12.0 * 600 + 0.5 * 120 - 20.0 * 60) / 3600.0
    assert trip.energy_kwh == pytest.approx(expected, rel=0.02)


def polled(kwh: float) -> float:
    """A BMS counter as the poller reads it: whole 0.1 kWh steps."""
    return math.floor(kwh * 10.0 + 1e-9) / 10.0


def counted_drive(seconds: int, true_kw: float, vi_kw: float | None, poll_s: int = 5,
                  counters: object = None) -> list[Sample]:
    """1 Hz samples of a drive whose BMS counters (polled every ``poll_s``) count ``true_kw`` while
    V x I says ``vi_kw``. ``counters(i, discharged)`` may rewrite the reading (a glitch, a stall)."""
    samples = []
    reading = polled(1000.0)
    for i in range(seconds):
        if i % poll_s == 0:
            reading = polled(1000.0 + true_kw * i / 3600.0)
        value = counters(i, reading) if callable(counters) else reading
        samples.append(Sample(t=T0 + i, speed_kmh=50.0, voltage=None if vi_kw is None else VOLTS,
                              current=None if vi_kw is None else amps(vi_kw), soc=80.0,
                              odometer_km=12000.0 + i * 0.015, energy_charged_kwh=300.0,
                              energy_discharged_kwh=value))
    return samples


def closed_trip(samples: list[Sample]) -> Trip:
    events = run(Recorder(), samples + stand(samples[-1].t + 1, int(PARK_GAP_S) + 1, 0.0, 79.0))
    trip = events[-1].record
    assert isinstance(trip, Trip) and events[-1].kind == TRIP_CLOSED
    return trip


def test_the_polled_counters_measure_between_their_changes_and_the_odometer_the_distance() -> None:
    """The counters count 18 kW while V x I says 15 kW: the car's own count wins, to within the
    V x I that bridges to the first and from the last 0.1 kWh change (sample-by-sample differencing
    of polled, quantised counters undercounted badly)."""
    trip = closed_trip(counted_drive(1200, true_kw=18.0, vi_kw=15.0))
    assert trip.distance_km == pytest.approx(1199 * 0.015)
    assert trip.distance_method == "odometer"
    assert trip.energy_method == "bms_counters"
    truth = 18.0 * 1199 / 3600.0  # 5.995 kWh
    assert abs(trip.energy_kwh - truth) < 0.1, trip.energy_kwh  # V x I alone: 4.996
    assert trip.regen_kwh == 0.0


def test_counters_that_never_move_in_a_short_trip_leave_it_to_v_i() -> None:
    trip = closed_trip(counted_drive(20, true_kw=0.0, vi_kw=15.0))
    assert trip.energy_method == "v_i_integral"
    assert trip.energy_kwh == pytest.approx(19 * 15.0 / 3600.0, rel=1e-6)


def test_a_poller_outage_costs_nothing_once_the_counters_move_again() -> None:
    """The counters stand still for five minutes mid-trip (the poller lost its ECU), then carry on:
    being cumulative, their next change measures across the outage."""
    stall = polled(1000.0 + 18.0 * 300 / 3600.0)
    trip = closed_trip(counted_drive(1200, true_kw=18.0, vi_kw=15.0,
                                     counters=lambda i, kwh: stall if 300 <= i < 600 else kwh))
    assert trip.energy_method == "bms_counters"
    assert abs(trip.energy_kwh - 18.0 * 1199 / 3600.0) < 0.1, trip.energy_kwh


def test_counters_that_stop_for_good_leave_v_i_to_measure_and_the_record_says_mixed() -> None:
    stall = polled(1000.0 + 15.0 * 300 / 3600.0)
    trip = closed_trip(counted_drive(1200, true_kw=15.0, vi_kw=15.0,
                                     counters=lambda i, kwh: stall if i >= 300 else kwh))
    assert trip.energy_method == "mixed"
    assert trip.energy_kwh == pytest.approx(15.0 * 1199 / 3600.0, abs=0.1)


def test_a_counter_reset_with_v_i_known_loses_nothing() -> None:
    trip = closed_trip(counted_drive(1200, true_kw=15.0, vi_kw=15.0,
                                     counters=lambda i, kwh: kwh if i < 600 else kwh - 999.0))
    assert trip.energy_method == "mixed"
    assert trip.energy_kwh == pytest.approx(15.0 * 1199 / 3600.0, abs=0.1)


def test_counters_that_vanish_mid_trip_leave_v_i_to_finish() -> None:
    samples = counted_drive(1200, true_kw=15.0, vi_kw=15.0)
    samples = samples[:600] + [Sample(t=x.t, speed_kmh=x.speed_kmh, voltage=x.voltage, current=x.current, soc=x.soc)
                               for x in samples[600:]]
    trip = closed_trip(samples)
    assert trip.energy_method == "mixed" and trip.distance_method == "mixed"
    assert trip.energy_kwh == pytest.approx(15.0 * 1199 / 3600.0, abs=0.1)


def test_a_charge_measured_by_its_counters() -> None:
    """Charging at 50 kW by the counters (V x I says 45 kW): the session counts the car's 50."""
    rec = Recorder()
    samples = []
    for i in range(900):
        charged = polled(300.0 + 50.0 * (i - i % 5) / 3600.0)
        samples.append(Sample(t=T0 + i, speed_kmh=0.0, voltage=VOLTS, current=amps(-45.0), soc=40.0 + i / 60.0,
                              charging=True, energy_charged_kwh=charged, energy_discharged_kwh=1000.0))
    events = run(rec, samples + stand(T0 + 900, 3, 0.0, 55.0, charging=False))
    charge = events[-1].record
    assert isinstance(charge, Charge) and events[-1].kind == CHARGE_CLOSED
    assert charge.energy_method == "bms_counters"
    assert abs(charge.energy_kwh - 50.0 * 899 / 3600.0) < 0.1
    assert charge.curve_points() and 40.0 <= charge.curve_points()[0][1] <= 50.0  # the curve is V x I's power


def test_the_counters_measure_where_v_i_is_unknown_and_a_counter_glitch_counts_nothing() -> None:
    rec = Recorder()
    samples = []
    for i in range(400):
        discharged = 1000.0 + i * 0.005
        if i == 200:
            discharged = 5.0  # a reset: that step counts nothing
        if i > 200:
            discharged = 5.0 + (i - 200) * 0.005
        samples.append(Sample(t=T0 + i, speed_kmh=50.0, voltage=None, current=None, soc=80.0,
                              odometer_km=12000.0 + i * 0.015, energy_charged_kwh=300.0,
                              energy_discharged_kwh=discharged))
    events = run(rec, samples + stand(T0 + 400, int(PARK_GAP_S) + 1, 0.0, 79.0))
    trip = events[-1].record
    assert isinstance(trip, Trip)
    assert trip.energy_method == "bms_counters"
    assert trip.energy_kwh == pytest.approx(398 * 0.005, rel=1e-6)


def test_the_ready_state_delimits_trips_and_sitting_in_a_ready_car_is_no_trip() -> None:
    rec = Recorder()
    events = run(rec, stand(T0, 200, 1.0, 80.0, ready=True) + stand(T0 + 200, 10, 0.0, 80.0, ready=False))
    assert events == [] and rec.trip is None
    samples = drive(T0 + 300, 300, 50.0, 15.0, 80.0, ready=True) + stand(T0 + 600, 30, 1.0, 78.0, ready=True)
    samples += stand(T0 + 630, 3, 0.0, 78.0, ready=False)
    events = run(rec, samples)
    assert kinds(events) == [TRIP_STARTED, TRIP_CLOSED]
    assert events[-1].record.end == T0 + 630  # switched off: closed at once, standing included


def test_inferred_charging_is_confirmed_backdated_closes_the_trip_and_ends_after_a_pause() -> None:
    rec = Recorder()
    samples = drive(T0, 300, 50.0, 15.0, 60.0) + stand(T0 + 300, 60, 0.3, 58.0)
    samples += stand(T0 + 360, 1200, -50.0, 58.0) + stand(T0 + 1560, int(CHARGE_END_S) + 1, 0.2, 84.0)
    events = run(rec, samples)
    assert kinds(events) == [TRIP_STARTED, TRIP_CLOSED, CHARGE_STARTED, CHARGE_CLOSED]
    charge = events[-1].record
    assert isinstance(charge, Charge)
    assert charge.start == T0 + 360 and charge.end == T0 + 1559
    assert charge.energy_kwh == pytest.approx(50.0 * 1199 / 3600.0, rel=1e-6)
    assert charge.max_power_kw == pytest.approx(50.0)
    assert charge.avg_power_kw == pytest.approx(50.0, rel=1e-3)
    points = charge.curve_points()
    assert len(points) >= 20 and all(p[1] == pytest.approx(50.0, rel=0.01) for p in points)
    assert events[1].record.end == T0 + 299  # the trip ended where the car stopped


def test_a_short_burst_of_charging_current_is_no_session() -> None:
    rec = Recorder()
    events = run(rec, stand(T0, int(CHARGE_CONFIRM_S) - 5, -20.0, 50.0) + stand(T0 + 100, 10, 0.2, 50.0))
    assert events == [] and rec.charge is None


def test_the_car_s_charging_flag_starts_and_ends_a_session_at_once() -> None:
    rec = Recorder()
    samples = stand(T0, 600, -11.0, 40.0, charging=True) + stand(T0 + 600, 2, 0.0, 42.0, charging=False)
    events = run(rec, samples)
    assert kinds(events) == [CHARGE_STARTED, CHARGE_CLOSED]
    assert events[0].record.start == T0


def test_gaps_are_not_integrated_and_out_of_order_samples_are_ignored() -> None:
    rec = Recorder()
    samples = drive(T0, 100, 50.0, 15.0, 80.0) + drive(T0 + 160, 100, 50.0, 15.0, 80.0)  # 60 s unseen
    samples.insert(50, samples[10])  # an old sample again
    run(rec, samples)
    assert rec.trip is not None
    assert rec.trip.distance_km == pytest.approx(50.0 * 198 / 3600.0)


def test_the_counters_and_the_odometer_measure_across_a_gap_both() -> None:
    """A stalled sampler (a loaded machine, a fast simulation) leaves 60 s unseen: V x I and speed
    are not integrated over it, the car's own counters are, energy and distance alike, so the
    trip's Wh/km stays true."""
    samples = [Sample(t=T0 + i + (60 if i >= 100 else 0), speed_kmh=54.0, voltage=VOLTS, current=amps(15.0),
                      odometer_km=12000.0 + (i + (60 if i >= 100 else 0)) * 0.015,
                      energy_charged_kwh=300.0,
                      energy_discharged_kwh=polled(1000.0 + 15.0 * (i + (60 if i >= 100 else 0)) / 3600.0))
               for i in range(1200)]
    trip = closed_trip(samples)
    assert trip.distance_km == pytest.approx(1259 * 0.015)
    assert abs(trip.energy_kwh - 15.0 * 1259 / 3600.0) < 0.1
    assert trip.wh_per_km == pytest.approx(15.0 / 54.0 * 1000.0, rel=0.03)


def test_resume_carries_a_recent_open_trip_on_and_closes_an_old_one() -> None:
    trip = Trip(start=T0, updated=T0 + 600, id=7, distance_km=8.0, energy_kwh=1.2)
    rec = Recorder()
    assert rec.resume(trip, None, now=T0 + 660) == []
    run(rec, drive(T0 + 660, 60, 60.0, 15.0, 70.0))
    assert rec.trip is trip and trip.id == 7 and trip.distance_km == pytest.approx(8.0 + 59 / 60.0)
    old = Trip(start=T0, updated=T0 + 600, id=8)
    charge = Charge(start=T0, updated=T0 + 100, id=3)
    events = Recorder().resume(old, charge, now=T0 + 600 + PARK_GAP_S + 1)
    assert kinds(events) == [TRIP_CLOSED, CHARGE_CLOSED]
    assert old.end == T0 + 600 and charge.end == T0 + 100


def test_a_clock_jump_moves_the_open_records() -> None:
    rec = Recorder()
    run(rec, drive(T0, 100, 50.0, 15.0, 80.0))
    rec.shift_time(3600.0)
    events = run(rec, drive(T0 + 3700, 100, 50.0, 15.0, 80.0))
    assert TRIP_CLOSED not in kinds(events)
    assert rec.trip is not None and rec.trip.start == T0 + 3600
    assert rec.trip.distance_km == pytest.approx(50.0 * 199 / 3600.0)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "80", True, None, [1], {"a": 1}])
def test_sample_reads_wrong_types_as_unknown(bad: object) -> None:
    values = {"speed": bad, "battery_voltage": bad, "battery_current": bad, "battery_soc": bad,
              "gps.latitude": bad, "gps.longitude": 11.0, "vehicle.ready": bad, "vehicle.odometer": bad}
    s = sample_from_values(T0, values.get)
    assert s.speed_kmh is None and s.voltage is None and s.soc is None and s.power_kw is None
    assert s.latitude is None and s.longitude is None and s.odometer_km is None
    assert s.ready is (bad if isinstance(bad, bool) else None)


def test_sample_falls_back_to_gps_speed_and_drops_impossible_positions() -> None:
    s = sample_from_values(T0, {"gps.speed_gps": 42.0, "gps.latitude": 123.0, "gps.longitude": 11.0}.get)
    assert s.speed_kmh == 42.0 and s.latitude is None
    assert math.isclose(sample_from_values(T0, {"battery_voltage": 400.0, "battery_current": -100.0}.get).power_kw,
                        -40.0)


_maybe = st.one_of(st.none(), st.floats(-1e9, 1e9, allow_nan=False))
#: Readings near one another, so that runs of plausible changes, resets and jumps all come up.
_counter = st.one_of(_maybe, st.integers(-5, 400).map(lambda k: 1000.0 + k * 0.05))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.floats(0.01, 30.0), _maybe, _maybe, _counter, _counter), min_size=2, max_size=60))
def test_any_counters_and_v_i_give_finite_energy_no_faster_than_the_limit(steps: list[tuple]) -> None:
    """Hostile readings (resets, jumps, negative, vanishing) never crash the meter nor book more
    energy than 500 kW could move in the time, plus the counters' bridging step."""
    meter = EnergyMeter()
    t, prev, total_out, total_in = T0, Sample(t=T0), 0.0, 0.0
    for dt, volts, current, discharged, charged in steps:
        t += dt
        cur = Sample(t=t, voltage=volts, current=current, energy_discharged_kwh=discharged,
                     energy_charged_kwh=charged)
        step = meter.step(prev, cur)
        total_out, total_in = total_out + step.out_kwh, total_in + step.in_kwh
        assert math.isfinite(step.out_kwh) and math.isfinite(step.in_kwh)
        prev = cur
    # V x I and the counters each within 500 kW over the time, and the counters' one slack.
    bound = 2 * MAX_POWER_KW * (t - T0) / 3600.0 + 1.5 * COUNTER_STEP_KWH
    assert -1e-6 <= total_out <= bound and -1e-6 <= total_in <= bound
    assert meter.method in (None, *ENERGY_METHODS)


def test_a_counter_racing_away_books_no_more_than_the_power_limit_allows() -> None:
    """0.1 kWh every 10 ms (36 MW), with V x I unknown: each change alone is within a step of the
    counters' resolution, but their sum is not, and the record books at most the limit."""
    meter = EnergyMeter()
    samples = [Sample(t=T0 + i * 0.01, energy_discharged_kwh=1000.0 + i * 0.1, energy_charged_kwh=300.0)
               for i in range(200)]
    booked = sum(meter.step(a, b).out_kwh for a, b in itertools.pairwise(samples))
    assert booked <= MAX_POWER_KW * 1.99 / 3600.0 + 1.5 * COUNTER_STEP_KWH
