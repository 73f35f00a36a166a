"""The poller's decisions (pure): intervals per car state, NRC paths, silent ECUs, the cap, the guards."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from evscreen.can.diag.schedule import PollPolicy, Scheduler, car_state, poll_blocker


@dataclass(frozen=True)
class Req:
    name: str
    response_id: int = 0x7EC
    intervals: dict[str, float] = field(default_factory=lambda: {"off": 0, "on": 10, "charging": 5})


def due(s: Scheduler, now: float, state: str = "on") -> str | None:
    request, _ = s.next_due(now, state)
    if request is not None:
        s.sent(now)
    return request.name if request is not None else None


def test_intervals_per_car_state():
    a = Req("a")
    s = Scheduler([a], PollPolicy(max_requests_per_s=100))
    assert due(s, 0.0) == "a"
    s.answered(a, 0.1)
    assert due(s, 5.0) is None
    request, wait = s.next_due(5.0, "on")
    assert request is None and wait == pytest.approx(5.1)
    assert due(s, 10.2) == "a"
    s.answered(a, 10.2)
    # charging has its own, shorter interval: what was due later in "on" comes due now
    assert due(s, 11.0, "charging") == "a"
    s.answered(a, 11.0)
    assert due(s, 15.9, "charging") is None
    assert due(s, 16.1, "charging") == "a"
    # interval 0: not polled in that state at all
    assert s.next_due(100.0, "off") == (None, 1.0)


def test_global_rate_cap():
    reqs = [Req(f"r{i}", response_id=0x7E8 + i) for i in range(5)]
    s = Scheduler(reqs, PollPolicy(max_requests_per_s=2.0))
    sent = []
    t = 0.0
    while t < 2.0:
        name = due(s, t)
        if name:
            sent.append((t, name))
            s.answered(next(r for r in reqs if r.name == name), t)
        t = round(t + 0.05, 2)
    assert [x for x, _ in sent] == [0.0, 0.5, 1.0, 1.5]  # 2 per second, never more


def test_busy_retries_then_falls_back_to_the_interval():
    a = Req("a")
    s = Scheduler([a], PollPolicy(max_requests_per_s=100, busy_retry_s=1.0, busy_retries=2))
    assert due(s, 0.0) == "a"
    assert s.negative(a, 0.0, 0x21) is None
    assert due(s, 0.5) is None and due(s, 1.0) == "a"
    s.negative(a, 1.0, 0x21)
    assert due(s, 2.9) is None and due(s, 3.0) == "a"  # the second retry waits twice as long
    s.negative(a, 3.0, 0x21)  # retries used up: the next regular interval
    assert due(s, 12.9) is None and due(s, 13.0) == "a"


@pytest.mark.parametrize("nrc, name", [(0x11, "serviceNotSupported"), (0x12, "subFunctionNotSupported"),
                                       (0x31, "requestOutOfRange")])
def test_not_supported_stops_the_request_with_one_line(nrc, name):
    a, b = Req("a"), Req("b")
    s = Scheduler([a, b], PollPolicy(max_requests_per_s=100))
    assert due(s, 0.0) == "a"
    line = s.negative(a, 0.0, nrc)
    assert line == f"request a stopped: ECU 0x7EC answered 0x{nrc:02X} {name}; not asking it again"
    assert s.stopped() == {"a": f"0x{nrc:02X} {name}"}
    assert due(s, 0.1) == "b"
    s.answered(b, 0.1)
    for t in range(1, 100):
        assert due(s, float(t)) in (None, "b")


def test_other_negative_answers_wait_for_the_next_interval():
    a = Req("a")
    s = Scheduler([a], PollPolicy(max_requests_per_s=100))
    due(s, 0.0)
    assert s.negative(a, 0.0, 0x22) is None  # conditionsNotCorrect: maybe later
    assert due(s, 9.9) is None and due(s, 10.0) == "a"


def test_silent_ecu_backs_off_all_its_requests_and_comes_back():
    a, b = Req("a"), Req("b", response_id=0x7EC)
    other = Req("c", response_id=0x7E8)
    s = Scheduler([a, b, other], PollPolicy(max_requests_per_s=100, max_backoff_s=40))
    assert due(s, 0.0) == "a"
    assert s.timed_out(a, 1.0) == "ECU 0x7EC does not answer a; asking it less often"
    # b belongs to the same ECU: it waits too; the other ECU goes on
    assert due(s, 1.0) == "c"
    s.answered(other, 1.0)
    assert due(s, 5.0) is None
    t = 11.0  # the first wait: the interval
    for _ in range(5):
        name = due(s, t)
        while name == "c":  # the other ECU keeps answering
            s.answered(other, t)
            name = due(s, t + 0.01)
        assert name in ("a", "b")
        assert s.timed_out(a if name == "a" else b, t) is None  # one line per silence, not per timeout
        t += 100.0
    assert s.silent_ecus() == [0x7EC]
    assert s.answered(a, t) == "ECU 0x7EC answers again after 6 unanswered requests"
    assert s.silent_ecus() == []


def test_backoff_doubles_up_to_the_maximum():
    a = Req("a", intervals={"on": 10})
    s = Scheduler([a], PollPolicy(max_requests_per_s=100, max_backoff_s=60))
    t = 0.0
    gaps = []
    for _ in range(5):
        assert due(s, t) == "a"
        s.timed_out(a, t)
        _, wait = s.next_due(t, "on")
        gaps.append(wait)
        t += wait
    assert gaps == [10, 20, 40, 60, 60]


def test_car_state():
    assert car_state(None, None) == "on"  # unknown: the guards protect a sleeping car
    assert car_state(False, None) == "off"
    assert car_state(True, False) == "on"
    assert car_state(False, True) == "charging"


def test_sleep_guard():
    kw = dict(sleep_after=10.0, aux_voltage=None, min_aux_voltage=12.0, powered=False)
    assert poll_blocker(100.0, last_traffic=None, wake_policy="traffic", **kw) == \
        "car asleep (no traffic yet); polling paused"
    assert poll_blocker(100.0, last_traffic=80.0, wake_policy="traffic", **kw) == \
        "car asleep (no traffic for 20 s); polling paused"
    assert poll_blocker(100.0, last_traffic=95.0, wake_policy="traffic", **kw) is None
    assert poll_blocker(100.0, last_traffic=None, wake_policy="answers", **kw) is None


def test_12v_guard():
    kw = dict(last_traffic=99.0, sleep_after=10.0, wake_policy="traffic", min_aux_voltage=12.0)
    assert poll_blocker(100.0, aux_voltage=11.8, powered=False, **kw) == \
        "12 V battery at 11.8 V, below 12.0 V; polling paused"
    assert poll_blocker(100.0, aux_voltage=11.8, powered=True, **kw) is None  # the DC-DC charges it
    assert poll_blocker(100.0, aux_voltage=12.4, powered=False, **kw) is None
    assert poll_blocker(100.0, aux_voltage=None, powered=False, **kw) is None
