"""The diagnostics source (``sources.obd``): polls a vehicle profile's requests over ISO-TP.

It talks on the CAN source's own bus (:mod:`evscreen.can.share`): the CAN source must be running
on the same interface and channel; until it is, this source is offline and retried with backoff.
Requests go out through :class:`~evscreen.can.transport.DiagTransport` (can-isotp), one at a time,
as :class:`~evscreen.can.diag.schedule.Scheduler` decides: intervals per car state, the global
requests/s cap, NRC handling, silent ECUs backing off. Each positive answer's fields (the profile's
byte offset, length, sign, scale, offset) are written to the vehicle state.

It never drains or wakes the car: no request while the car sleeps (no traffic on the bus, with
``wake_policy = "traffic"``) or while the 12 V battery reads below ``min_aux_voltage`` and the car
is not known to be on or charging (:func:`~evscreen.can.diag.schedule.poll_blocker`); its values
are then kept, shown stale. With ``listen_only`` it transmits nothing at all and only reads the
answers another tester gets.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import time
from typing import TYPE_CHECKING, Any

from evscreen.can import share as bus_share
from evscreen.can.diag.isotp import DiagMessage, Reassembler
from evscreen.can.diag.obd import supported_pids
from evscreen.can.diag.schedule import PollPolicy, Scheduler, car_state, poll_blocker
from evscreen.drivers.base import Source
from evscreen.errors import SourceUnavailable

if TYPE_CHECKING:
    from evscreen.config import Config
    from evscreen.state import VehicleState
    from evscreen.vehicles.profile import DiagRequest, Profile

log = logging.getLogger(__name__)

#: Where the 12 V battery's voltage is read from, when a request maps it.
AUX_VOLTAGE = "battery_pack.aux_voltage"
GUARD_CHECK_S = 0.5  # how often a paused poller looks again
STARTUP_WAIT_S = 10.0  # how long the first open waits for the CAN source to open the bus
DEFAULT_PROFILE = "obd2"


def profile_name(config: Config) -> str:
    return config.obd.profile or config.vehicle.name or DEFAULT_PROFILE


def response_prefix(request: DiagRequest) -> bytes:
    """The first bytes of a positive answer to ``request``: its service + 0x40, then what it echoes
    (the DID of 0x22, the local ID of 0x21, the PID of mode 01, the info type of mode 09...)."""
    echo = {0x22: 2, 0x21: 1, 0x01: 1, 0x02: 1, 0x09: 1, 0x19: 1}.get(request.request[0], 0)
    return bytes([request.request[0] + 0x40]) + request.request[1:1 + echo]


def read_fields(request: DiagRequest, payload: bytes) -> dict[str, Any]:
    """The request's fields out of its positive answer; a field beyond a short answer is left out."""
    values: dict[str, Any] = {}
    for f in request.fields:
        value = f.decode(payload)
        if value is not None:
            values[f.target] = value
    return values


class ObdSource(Source):
    name = "obd"

    def __init__(self, config: Config, state: VehicleState, *, simulated: bool = False,
                 profile: Profile | None = None) -> None:
        if profile is None:
            from evscreen.vehicles.loader import load_profile

            profile = load_profile(profile_name(config))
        self.profile = profile
        self.cfg = config.obd
        self.requests = list(profile.diagnostics)
        if not self.requests:
            raise SourceUnavailable(f"obd: profile {profile.id} has no [[diagnostics.requests]] to poll",
                                    retry=False)
        fastest = min(v for r in self.requests for v in r.intervals.values() if v)
        super().__init__(config, state, simulated=simulated, stale_after=max(10.0, 3 * fastest))
        self.where = bus_share.key(config.can.interface, config.can.channel)
        self.policy = PollPolicy(max_requests_per_s=self.cfg.max_requests_per_s, max_backoff_s=self.cfg.max_backoff)
        self.scheduler = Scheduler(self.requests, self.policy)
        self.transport: Any = None
        self.share: bus_share.BusShare | None = None
        self.sent = 0
        self.answers = 0
        self._passive: queue.SimpleQueue[Any] | None = None
        self._paused: str | None = None
        self._opened_once = False
        self._opened_at = 0.0
        self._discovered = False

    def describe(self) -> str:
        mode = "listening only" if self.cfg.listen_only else f"at most {self.cfg.max_requests_per_s:g} requests/s"
        return (f"obd: {len(self.requests)} diagnostic requests of profile {self.profile.id} on {self.where}, "
                f"{mode} ({'simulated' if self.simulated else 'real'})")

    async def open(self) -> None:
        share = bus_share.find(self.where)
        if share is None and not self._opened_once:
            # At start-up the CAN source is opening its interface too: give it time before
            # calling this an outage.
            deadline = time.monotonic() + STARTUP_WAIT_S
            while share is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
                share = bus_share.find(self.where)
        self._opened_once = True
        if share is None or share.closed.is_set():
            raise SourceUnavailable(f"the CAN source is not reading {self.where}: [obd] polls through it")
        self.share = share
        self._opened_at = time.monotonic()
        share.users.append(self)
        if self.cfg.listen_only:
            self._passive = queue.SimpleQueue()
            share.notifier.add_listener(self._passive.put)
        else:
            from evscreen.can.transport import DiagTransport

            self.transport = DiagTransport(share)
        self.availability.reached("obd: %s on %s", "listening" if self.cfg.listen_only else "polling", self.where)

    async def close(self) -> None:
        transport, self.transport = self.transport, None
        if transport is not None:
            await asyncio.to_thread(transport.close)
        share, passive = self.share, self._passive
        self.share, self._passive = None, None
        if share is not None:
            if self in share.users:
                share.users.remove(self)
            if passive is not None:
                try:
                    share.notifier.remove_listener(passive.put)
                except ValueError:
                    pass

    async def read(self) -> None:
        if self.cfg.listen_only:
            await self._listen()
        else:
            await self._poll()

    # -- polling -----------------------------------------------------------------------------------

    def _car_state(self) -> str:
        return car_state(self.state.get("vehicle.ready"), self.state.get("vehicle.charging"))

    def blocker(self, now: float) -> str | None:
        share = self.share
        assert share is not None
        ready, charging = self.state.get("vehicle.ready"), self.state.get("vehicle.charging")
        return poll_blocker(now, last_traffic=share.last_traffic, sleep_after=self.cfg.sleep_after,
                            wake_policy=self.cfg.wake_policy, aux_voltage=self.state.get(AUX_VOLTAGE),
                            min_aux_voltage=self.cfg.min_aux_voltage, powered=ready is True or charging is True)

    def _just_opened(self, now: float) -> bool:
        share = self.share
        return (self.cfg.wake_policy == "traffic" and share is not None and share.last_traffic is None
                and now - self._opened_at < self.cfg.sleep_after)

    def _check_bus(self) -> bus_share.BusShare:
        share = self.share
        if share is None or share.closed.is_set():
            raise SourceUnavailable(f"{self.where} closed under the poller")
        return share

    async def _poll(self) -> None:
        scheduler = self.scheduler
        while True:
            self._check_bus()
            now = time.monotonic()
            why = self.blocker(now)
            if why is not None:
                if self._just_opened(now):
                    await asyncio.sleep(GUARD_CHECK_S)  # the car's traffic may simply not have come yet
                    continue
                self._pause(why)
                await asyncio.sleep(GUARD_CHECK_S)
                continue
            if not self._discovered:
                await self._discover_pids()
                self._discovered = True
                continue
            request, wait = scheduler.next_due(now, self._car_state())
            if request is None:
                await asyncio.sleep(min(wait, GUARD_CHECK_S))
                continue
            scheduler.sent(now)
            self.sent += 1
            answer = await asyncio.to_thread(
                self.transport.request, request.request_id, request.response_id, request.request,
                extended=request.extended, timeout=request.timeout)
            done = time.monotonic()
            if answer.kind == "positive":
                line = scheduler.answered(request, done)
                self.answers += 1
                values = read_fields(request, answer.payload)
                self.state.update(self.name, values)
                self._resume()
            elif answer.kind == "negative":
                line = scheduler.negative(request, done, answer.nrc or 0)
            else:
                line = scheduler.timed_out(request, done)
                if len(scheduler.silent_ecus()) == len({r.response_id for r in self.requests}):
                    self._pause("no ECU answers")
            if line:
                log.info("obd: %s", line)

    async def _discover_pids(self) -> None:
        """Ask each ECU polled in OBD-II mode 01 for its supported-PID bitmaps once, and stop the
        requests for PIDs it does not support: each car answers what it supports."""
        groups: dict[tuple[int, int, bool], list[DiagRequest]] = {}
        for r in self.requests:
            if r.request[0] == 0x01 and len(r.request) == 2 and r.request[1] % 0x20:
                groups.setdefault((r.request_id, r.response_id, r.extended), []).append(r)
        for (tx, rx, extended), requests in groups.items():
            top = max(r.request[1] for r in requests)
            supported: set[int] = set()
            base, complete = 0, False
            while not complete:
                self.scheduler.sent(time.monotonic())
                answer = await asyncio.to_thread(self.transport.request, tx, rx, bytes([0x01, base]),
                                                 extended=extended, timeout=max(r.timeout for r in requests))
                if answer.kind != "positive" or len(answer.payload) < 6:
                    break
                pids = supported_pids(base, answer.payload[2:6])
                supported.update(pids)
                base += 0x20
                complete = base not in pids or base >= top
            if not complete:
                continue  # no (whole) bitmap: ask them all, and let the answers decide
            for r in requests:
                if r.request[1] not in supported:
                    log.info("obd: %s", self.scheduler.stop(
                        r, f"PID {r.request[1]:02X} is not among ECU 0x{rx:X}'s supported PIDs"))

    def _pause(self, why: str) -> None:
        if self._paused != why:
            self._paused = why
            self.availability.down(why, stale=True)

    def _resume(self) -> None:
        self._paused = None
        self.availability.up()

    # -- listening only ----------------------------------------------------------------------------

    async def _listen(self) -> None:
        """Read the profile's answers as another tester gets them; transmit nothing."""
        passive = self._passive
        assert passive is not None
        reassembler = Reassembler()
        wanted: dict[tuple[int, bool], list[tuple[bytes, DiagRequest]]] = {}
        for r in self.requests:
            wanted.setdefault((r.response_id, r.extended), []).append((response_prefix(r), r))
        while True:
            self._check_bus()
            try:
                msg = await asyncio.to_thread(passive.get, True, GUARD_CHECK_S)
            except queue.Empty:
                continue
            for event in reassembler.feed(time.monotonic(), "", msg.arbitration_id, msg.is_extended_id,
                                          bytes(msg.data)):
                if not isinstance(event, DiagMessage):
                    continue
                for prefix, request in wanted.get((event.arbitration_id, event.extended), ()):
                    if event.payload.startswith(prefix):
                        self.answers += 1
                        self.state.update(self.name, read_fields(request, event.payload))
                        self._resume()
