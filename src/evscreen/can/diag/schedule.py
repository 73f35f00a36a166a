"""When to send which diagnostic request: the poller's decisions, pure (times are passed in).

- **Intervals per car state** (off / on / charging, as OVMS's poll tables have them): a request
  whose interval is 0 in the current state is not sent.
- **Negative responses as ISO 14229 says**: 0x78 (response pending) is waited out by the transport;
  0x21 (busy) retries the request after ``busy_retry_s``, a few times; 0x11/0x12/0x31 (and
  0x7E/0x7F: not in this session) stop that request for good, with one log line; any other NRC
  waits for the next interval.
- **Silent ECUs back off**: an ECU that does not answer within its timeout is asked again after
  its interval, then twice as long each time up to ``max_backoff_s``, all its requests together;
  one line when it goes silent, one when it answers again.
- **A global cap** on requests per second, all ECUs together.
- **Guards** (:func:`poll_blocker`): nothing while the car sleeps or its 12 V battery is low.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from evscreen.can.diag.services import NRC_BUSY, NRC_GIVE_UP, nrc_name

CAR_STATES = ("off", "on", "charging")


class PolledRequest(Protocol):
    """What scheduling needs of a profile's request (:class:`evscreen.vehicles.profile.DiagRequest`)."""

    @property
    def name(self) -> str: ...

    @property
    def response_id(self) -> int: ...

    @property
    def intervals(self) -> Mapping[str, float]: ...


R = TypeVar("R", bound=PolledRequest)


@dataclass(frozen=True)
class PollPolicy:
    max_requests_per_s: float = 5.0
    busy_retry_s: float = 1.0
    busy_retries: int = 3
    max_backoff_s: float = 600.0


@dataclass
class _RequestState:
    next_at: float = 0.0
    busy: int = 0
    stopped: str | None = None  # why the request is never sent again


@dataclass
class _EcuState:
    silent: int = 0  # timeouts in a row
    until: float = 0.0  # not asked before this


@dataclass
class Scheduler(Generic[R]):
    requests: Sequence[R]
    policy: PollPolicy = field(default_factory=PollPolicy)

    def __post_init__(self) -> None:
        self._state = {r.name: _RequestState() for r in self.requests}
        self._ecus: dict[int, _EcuState] = {r.response_id: _EcuState() for r in self.requests}
        self._last_sent: float | None = None
        self._car_state = "on"

    def stopped(self) -> dict[str, str]:
        return {name: s.stopped for name, s in self._state.items() if s.stopped}

    def silent_ecus(self) -> list[int]:
        return [ecu for ecu, s in self._ecus.items() if s.silent]

    def next_due(self, now: float, car_state: str) -> tuple[R | None, float]:
        """The request to send now, or (None, seconds until one may be due)."""
        if car_state != self._car_state:
            # A new state has its own intervals: what was scheduled for the old one starts afresh.
            self._car_state = car_state
            for s in self._state.values():
                s.next_at = min(s.next_at, now)
        best: R | None = None
        best_at = float("inf")
        for request in self.requests:
            s = self._state[request.name]
            if s.stopped or not request.intervals.get(car_state, 0):
                continue
            at = max(s.next_at, self._ecus[request.response_id].until)
            if at < best_at:
                best, best_at = request, at
        if best is None:
            return None, 1.0
        if self._last_sent is not None:
            best_at = max(best_at, self._last_sent + 1.0 / self.policy.max_requests_per_s)
        if best_at > now:
            return None, best_at - now
        return best, 0.0

    def sent(self, now: float) -> None:
        self._last_sent = now

    def answered(self, request: PolledRequest, now: float) -> str | None:
        """A positive answer; returns a log line if the ECU had been silent."""
        s = self._state[request.name]
        s.busy = 0
        s.next_at = now + self._interval(request)
        ecu = self._ecus[request.response_id]
        line = None
        if ecu.silent:
            line = f"ECU 0x{request.response_id:X} answers again after {ecu.silent} unanswered requests"
        ecu.silent, ecu.until = 0, 0.0
        return line

    def negative(self, request: PolledRequest, now: float, nrc: int) -> str | None:
        """A negative response (never 0x78: the transport waits that out); returns a log line for a
        request stopped for good."""
        s = self._state[request.name]
        ecu = self._ecus[request.response_id]
        ecu.silent, ecu.until = 0, 0.0  # it answered: it is awake
        if nrc in NRC_GIVE_UP:
            s.stopped = f"0x{nrc:02X} {nrc_name(nrc)}"
            return (f"request {request.name} stopped: ECU 0x{request.response_id:X} answered "
                    f"{s.stopped}; not asking it again")
        if nrc == NRC_BUSY and s.busy < self.policy.busy_retries:
            s.busy += 1
            s.next_at = now + self.policy.busy_retry_s * s.busy
            return None
        s.busy = 0
        s.next_at = now + self._interval(request)
        return None

    def stop(self, request: PolledRequest, why: str) -> str:
        """Never send ``request`` again (an ECU said it does not support it); returns the log line."""
        self._state[request.name].stopped = why
        return f"request {request.name} stopped: {why}; not asking it again"

    def timed_out(self, request: PolledRequest, now: float) -> str | None:
        """No answer within the timeout; returns a log line when the ECU has just gone silent."""
        s = self._state[request.name]
        s.next_at = now + self._interval(request)
        ecu = self._ecus[request.response_id]
        ecu.silent += 1
        base = max(self._interval(request), 1.0)
        ecu.until = now + min(self.policy.max_backoff_s, base * 2.0 ** min(ecu.silent - 1, 32))
        if ecu.silent == 1:
            return f"ECU 0x{request.response_id:X} does not answer {request.name}; asking it less often"
        return None

    def _interval(self, request: PolledRequest) -> float:
        return request.intervals.get(self._car_state, 0) or max(request.intervals.values())


def car_state(ready: object, charging: object) -> str:
    """off / on / charging from the profile's car state (``vehicle.ready``, ``vehicle.charging``).

    Unknown (no signal maps them, as with a plain OBD-II port) counts as on: the sleep and 12 V
    guards still keep a sleeping car quiet.
    """
    if charging is True:
        return "charging"
    if ready is False:
        return "off"
    return "on"


def poll_blocker(now: float, *, last_traffic: float | None, sleep_after: float, wake_policy: str,
                 aux_voltage: float | None, min_aux_voltage: float, powered: bool) -> str | None:
    """Why polling must wait now, or None. Pure: the poller passes what it knows.

    ``last_traffic``: when the bus last carried frames other than diagnostics (None: never since
    start). With ``wake_policy`` "answers" silence is no reason: the ECUs' answers decide.
    ``powered``: the car is known to be on or charging, so its DC-DC converter charges the 12 V
    battery and a low reading is no reason to stop.
    """
    if wake_policy == "traffic" and (last_traffic is None or now - last_traffic > sleep_after):
        quiet = "no traffic yet" if last_traffic is None else f"no traffic for {now - last_traffic:.0f} s"
        return f"car asleep ({quiet}); polling paused"
    if aux_voltage is not None and aux_voltage < min_aux_voltage and not powered:
        return f"12 V battery at {aux_voltage:.1f} V, below {min_aux_voltage:.1f} V; polling paused"
    return None
