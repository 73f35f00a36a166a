"""The W3C VISS v2 endpoint: ``/viss`` on the server's port, WebSocket subprotocol ``VISSv2``.

The protocol itself is sans-I/O (:mod:`evscreen.vss.viss_protocol`); this module moves its
messages, reads values from the same telemetry snapshot the screen gets, sends ``set`` through the
screen's command validation and dispatcher, and runs the subscriptions.

Auth follows the screen's rules: with a token configured, a client presents it at the upgrade
(``Authorization: Bearer`` or ``?token=``), or in each request's ``authorization`` member (a wrong
token at the upgrade is refused there, with HTTP 401). TLS, connection limits, message size limits
and origins are the server's. Requests per connection are rate-limited like the screen's commands.

One scheduler task runs every subscription of every connection: a heap of due times, one snapshot
built per wake-up for all that are due, each distinct set of signals encoded once. ``timebased``
subscriptions are due every period, on a grid (multiples of the period on the loop's clock) so that
all subscriptions of one period share their wake-ups, snapshot and encoding, as the screens share
one telemetry tick; ``change`` and ``range`` ones are checked every ``viss.min_period`` on the same
kind of grid. Events go out like the screen's telemetry: written without
waiting to a client whose output has drained, skipped for one that has not, and a client that
stops reading for ``server.stall_timeout`` is disconnected.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import logging
import math
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from websockets.asyncio.server import ServerConnection, broadcast
from websockets.exceptions import ConnectionClosed

from evscreen.protocol import Rejected, command_from_object
from evscreen.server.access import presented_token, token_matches
from evscreen.server.ratelimit import FloodGuard
from evscreen.server.websocket import (
    POLICY_VIOLATION,
    STRIKES_WINDOW_S,
    Client,
    WebSocketRoute,
    _limit_send_buffer,
    _peer,
    dumps,
)
from evscreen.vss import values, viss_protocol
from evscreen.vss.catalog import CATALOG, Signal
from evscreen.vss.errors import (
    BAD_REQUEST,
    FORBIDDEN,
    INTERNAL_ERROR,
    INVALID_DATA,
    INVALID_TOKEN,
    MISSING_TOKEN,
    NOT_FOUND,
    UNAVAILABLE,
    VissError,
)
from evscreen.vss.filters import Change, Range, Timebased
from evscreen.vss.tree import SignalTree

if TYPE_CHECKING:
    from evscreen.app import Runtime
    from evscreen.config import VissConfig
    from evscreen.dispatch import Dispatcher
    from evscreen.server.websocket import TelemetryServer

log = logging.getLogger(__name__)

PATH = "/viss"
#: Longest timebased period accepted: a day.
MAX_PERIOD_MS = 86_400_000
#: Seed error codes (of a set carried out by the dispatcher) -> VISS status.
STATUS_OF_CODE = {"invalid_value": INVALID_DATA, "invalid_message": INVALID_DATA, "unavailable": UNAVAILABLE}
_UNSAMPLED = object()


class VissSession(Client):
    """One VISS connection: the screen's delivery bookkeeping, plus auth and subscriptions."""

    __slots__ = ("authorized", "subscriptions")

    def __init__(self, ws: ServerConnection, peer: str, authorized: bool) -> None:
        super().__init__(ws, peer)
        self.authorized = authorized  # a valid token came with the upgrade
        self.subscriptions: dict[str, Subscription] = {}


class Subscription:
    __slots__ = ("active", "id", "key", "last", "period", "request", "session", "slot")

    def __init__(self, sid: str, session: VissSession, request: viss_protocol.Subscribe, period: float,
                 now: float, last: Any) -> None:
        self.id = sid
        self.session = session
        self.request = request
        #: What its data member is made of: subscriptions with equal keys share one encoding.
        self.key = ("[" if request.many else "") + " ".join(signal.path for signal in request.signals)
        self.period = period  # seconds between checks (timebased: between events)
        self.slot = 0
        self.next_after(now)
        self.last = last  # change: the value to compare with (Change.step); range: last value sampled
        self.active = True

    @property
    def due(self) -> float:
        """Loop time of the next check: slot × period, the same float for every subscription of a period."""
        return self.slot * self.period

    def next_after(self, now: float) -> None:
        """Move to the first slot of the grid after ``now``."""
        self.slot = math.floor(now / self.period) + 1

    def __lt__(self, other: Subscription) -> bool:  # heap order on ties
        return self.id < other.id


class Batch:
    """One wake-up of the scheduler: the snapshot every subscription due now reads, and the data
    members encoded so far, by the signals they carry."""

    __slots__ = ("payloads", "snapshot", "ts")

    def __init__(self, snapshot: dict[str, Any]) -> None:
        self.snapshot = snapshot
        self.ts = json.dumps(snapshot["timestamp"])
        self.payloads: dict[str, str] = {}

    def payload(self, subscription: Subscription) -> str:
        """The encoded data member of ``subscription``'s signals ("" when none has a value)."""
        payload = self.payloads.get(subscription.key)
        if payload is None:
            request = subscription.request
            points = _points(request.signals, self.snapshot)
            payload = json.dumps(viss_protocol.data(points, self.snapshot["timestamp"], request.many),
                                 separators=(",", ":")) if points else ""
            self.payloads[subscription.key] = payload
        return payload


class VissEndpoint:
    def __init__(self, server: TelemetryServer, config: VissConfig, dispatcher: Dispatcher) -> None:
        self.server = server
        self.config = config
        self.dispatcher = dispatcher
        self.tree = SignalTree(CATALOG)
        self.sessions: set[VissSession] = set()
        self.counts = {"requests": 0, "errors": 0, "events": 0, "dropped": 0}
        self._ids = itertools.count(1)
        self._heap: list[tuple[float, Subscription]] = []
        self._retired = 0  # subscriptions ended since the heap was last compacted
        self._scheduler: asyncio.Task[None] | None = None
        self._wake: asyncio.Future[None] | None = None

    @property
    def period_limits(self) -> tuple[int, int]:
        return self.config.min_period, MAX_PERIOD_MS

    def route(self) -> WebSocketRoute:
        return WebSocketRoute(self.handle, viss_protocol.SUBPROTOCOL, token_in_messages=True)

    # -- a connection ------------------------------------------------------------------------------

    async def handle(self, ws: ServerConnection) -> None:
        _limit_send_buffer(ws)
        request = ws.request
        assert request is not None
        authorized = self.server.token is None or presented_token(
            request.headers.get("Authorization"), request.path) is not None  # a wrong one was refused
        session = VissSession(ws, _peer(ws), authorized)
        self.sessions.add(session)
        log.info("VISS client connected from %s (%d connected)", session.peer, self.server.connections)
        rate = self.server.config.command_rate
        guard = FloodGuard(rate, self.server.config.command_burst, STRIKES_WINDOW_S)
        try:
            async for message in ws:
                verdict = guard.check()
                if verdict == guard.DISCONNECT:
                    log.warning("VISS client %s kept flooding after refused requests; disconnecting it", session.peer)
                    await ws.close(POLICY_VIOLATION, "request flood")
                    break
                if verdict == guard.ALLOW:
                    response = await self.respond(session, message)
                else:
                    response = _refused(message, rate).response(self._now())
                await ws.send(dumps(response))
                await asyncio.sleep(0)  # a burst from one client must not starve the others
        except ConnectionClosed:
            pass
        finally:
            self._end_session(session)
            log.info("VISS client %s disconnected (code %s)", session.peer, ws.close_code)

    def _end_session(self, session: VissSession) -> None:
        self.sessions.discard(session)
        self._retire(session.subscriptions.values())
        session.subscriptions.clear()
        if not self.sessions and self._scheduler is not None:
            self._scheduler.cancel()  # nothing left to run (and the server may be stopping)
            self._heap.clear()

    async def respond(self, session: VissSession, message: str | bytes) -> dict[str, Any]:
        """The one response to one request (an error response for anything wrong)."""
        self.counts["requests"] += 1
        try:
            request = viss_protocol.parse_request(message, self.tree, self.period_limits)
            self._authorize(session, request)
            if isinstance(request, viss_protocol.Get):
                return self._get(request)
            if isinstance(request, viss_protocol.Set):
                return await self._set(request)
            if isinstance(request, viss_protocol.Subscribe):
                return self._subscribe(session, request)
            return self._unsubscribe(session, request)
        except VissError as exc:
            self.counts["errors"] += 1
            return exc.response(self._now())

    def _authorize(self, session: VissSession, request: viss_protocol.Request) -> None:
        token = self.server.token
        if token is None:
            return
        action = _action_of(request)
        if request.authorization is not None:
            if not token_matches(token, request.authorization):
                raise VissError(INVALID_TOKEN, "the authorization token is wrong", action, request.request_id)
        elif not session.authorized:
            raise VissError(MISSING_TOKEN, "this server needs its token: send \"authorization\": \"TOKEN\" in the "
                            "request, or connect with Authorization: Bearer TOKEN", action, request.request_id)

    # -- get and set -------------------------------------------------------------------------------

    def _get(self, request: viss_protocol.Get) -> dict[str, Any]:
        rid, filters, now = request.request_id, request.filters, self._now()
        if filters.history is not None:
            raise VissError(NOT_FOUND, "evscreen keeps no history of signal values; leave out the history filter "
                            "for the current value", "get", rid)
        if filters.dynamic_metadata is not None:
            if filters.dynamic_metadata != viss_protocol.SERVER_CAPABILITIES:
                raise VissError(BAD_REQUEST, f"dynamic metadata {filters.dynamic_metadata[:40]!r} is not offered; "
                                "evscreen answers server_capabilities", "get", rid)
            if request.path != "Vehicle" or filters.paths is not None:
                raise VissError(BAD_REQUEST, "ask for server_capabilities with the path \"Vehicle\" and no paths "
                                "filter", "get", rid)
            capabilities = viss_protocol.server_capabilities(self.server.config.tls_cert is not None)
            return viss_protocol.metadata_response(rid, capabilities, now)
        if filters.static_metadata is not None:
            metadata = viss_protocol.static_metadata(request.path, request.signals, filters.static_metadata,
                                                     self.tree)
            return viss_protocol.metadata_response(rid, metadata, now)
        snapshot = self.server.snapshot()
        points = _points(request.signals, snapshot)
        if not points:
            what = (f"{request.path} has no value yet (its source has not reported it, or the car does not have it)"
                    if not request.many else f"none of the {len(request.signals)} signals addressed has a value yet")
            raise VissError(NOT_FOUND, what, "get", rid)
        return viss_protocol.get_response(rid, viss_protocol.data(points, snapshot["timestamp"], request.many), now)

    async def _set(self, request: viss_protocol.Set) -> dict[str, Any]:
        signal, rid = request.signal, request.request_id
        if signal.actions is not None:
            obj: dict[str, Any] = {"action": dict(signal.actions)[request.value]}
        else:
            obj = {"action": signal.action, "value": values.command_value(signal, request.value)}
        try:
            command = command_from_object(obj)  # the screen's own validation, with its messages
        except Rejected as exc:
            raise VissError(INVALID_DATA, f"{signal.path}: {exc}", "set", rid) from None
        response = await self.dispatcher.execute(command)
        if response["status"] != "success":
            status = STATUS_OF_CODE.get(response["code"], INTERNAL_ERROR)
            raise VissError(status, f"{signal.path}: {response['error']}", "set", rid)
        return viss_protocol.set_response(rid, self._now())

    # -- subscriptions -----------------------------------------------------------------------------

    def _subscribe(self, session: VissSession, request: viss_protocol.Subscribe) -> dict[str, Any]:
        limit = self.config.max_subscriptions
        if len(session.subscriptions) >= limit:
            raise VissError(FORBIDDEN, f"this connection already holds {limit} subscriptions, the most allowed "
                            "(viss.max_subscriptions); unsubscribe from some first", "subscribe", request.request_id)
        trigger = request.trigger
        now = asyncio.get_running_loop().time()
        last: Any = _UNSAMPLED
        if isinstance(trigger, Timebased):
            period = trigger.period_ms / 1000
        else:
            period = self.config.min_period / 1000
            if isinstance(trigger, Change):  # the baseline is the value now: no event until it moves
                last = _native(request.watched, self.server.snapshot())
        sid = str(next(self._ids))
        subscription = Subscription(sid, session, request, period, now, last)
        session.subscriptions[sid] = subscription
        self._schedule(subscription)
        return viss_protocol.subscribe_response(request.request_id, sid, self._now())

    def _unsubscribe(self, session: VissSession, request: viss_protocol.Unsubscribe) -> dict[str, Any]:
        sid = request.subscription_id
        subscription = session.subscriptions.pop(sid, None)
        if subscription is None:
            error = VissError(INVALID_DATA, f"this connection has no subscription {sid[:40]!r}", "unsubscribe",
                              request.request_id)
            return {**error.response(self._now()), "subscriptionId": sid}
        self._retire([subscription])
        return viss_protocol.unsubscribe_response(request.request_id, sid, self._now())

    def _retire(self, subscriptions: Iterable[Subscription]) -> None:
        for subscription in subscriptions:
            subscription.active = False
            self._retired += 1
        # An ended subscription's entry waits in the heap until its due time, up to a day away:
        # compact once such entries may be the majority, so that subscribing and unsubscribing in a
        # loop cannot grow the heap.
        if self._retired > 64 and 2 * self._retired > len(self._heap):
            self._heap[:] = [entry for entry in self._heap if entry[1].active]
            heapq.heapify(self._heap)
            self._retired = 0

    def _schedule(self, subscription: Subscription) -> None:
        heapq.heappush(self._heap, (subscription.due, subscription))
        if self._scheduler is None or self._scheduler.done():
            self._scheduler = asyncio.create_task(self._run(), name="viss-subscriptions")
        elif self._wake is not None and not self._wake.done() and self._heap[0][1] is subscription:
            self._wake.set_result(None)  # due before what the scheduler sleeps towards

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        heap = self._heap
        while True:
            while heap and not heap[0][1].active:
                heapq.heappop(heap)
            if not heap:
                return  # the next subscribe starts a new scheduler
            now = loop.time()
            if heap[0][0] > now:
                self._wake = loop.create_future()
                timer = loop.call_at(heap[0][0], _wake, self._wake)
                try:
                    await self._wake
                finally:
                    timer.cancel()
                    self._wake = None
                continue
            try:
                self._run_due(now)
            except Exception:  # one bad wake-up must not end every subscription
                log.exception("VISS subscriptions failed")

    def _run_due(self, now: float) -> None:
        heap = self._heap
        batch: Batch | None = None
        while heap and heap[0][0] <= now:
            _, subscription = heapq.heappop(heap)
            if not subscription.active:
                continue
            if batch is None:
                batch = Batch(self.server.snapshot())
            try:
                self._check(subscription, batch)
            except Exception:
                log.exception("VISS subscription %s failed; ending it", subscription.id)
                self._fail(subscription, batch.snapshot)
                continue
            subscription.slot += 1
            if subscription.due <= now:  # fell behind (a stalled loop): no burst of late events
                subscription.next_after(now)
            heapq.heappush(heap, (subscription.due, subscription))

    def _check(self, subscription: Subscription, batch: Batch) -> None:
        request, trigger = subscription.request, subscription.request.trigger
        if isinstance(trigger, Change):
            fires, subscription.last = trigger.step(subscription.last, _native(request.watched, batch.snapshot))
            if not fires:
                return
        elif isinstance(trigger, Range):
            value = _native(request.watched, batch.snapshot)
            if value == subscription.last and subscription.last is not _UNSAMPLED:
                return
            subscription.last = value
            if not trigger.holds(value):
                return
        payload = batch.payload(subscription)
        if payload:
            # Built as text around the shared data member: one encoding for every subscription due now on
            # these signals, as one telemetry encoding serves every screen.
            self._deliver(subscription.session, f'{{"action":"subscription","subscriptionId":"{subscription.id}",'
                                                f'"data":{payload},"ts":{batch.ts}}}')

    def _deliver(self, session: VissSession, text: str) -> None:
        if session.ready():
            session.blocked_since = None
            session.sent += 1
            self.counts["events"] += 1
            broadcast([session.ws], text)
            return
        session.dropped += 1
        self.counts["dropped"] += 1
        now = asyncio.get_running_loop().time()
        if session.blocked_since is None:
            session.blocked_since = now
        elif now - session.blocked_since > self.server.config.stall_timeout:
            log.warning("VISS client %s left events unread for %g s; disconnecting it", session.peer,
                        self.server.config.stall_timeout)
            self._end_session(session)
            session.ws.transport.abort()  # a client that does not read cannot receive a close frame either

    def _fail(self, subscription: Subscription, snapshot: dict[str, Any]) -> None:
        subscription.active = False
        subscription.session.subscriptions.pop(subscription.id, None)
        error = VissError(INTERNAL_ERROR, "the subscription failed inside the server and has ended; see its log")
        event = viss_protocol.subscription_error(subscription.id, error, snapshot["timestamp"])
        broadcast([subscription.session.ws], dumps(event))

    @staticmethod
    def _now() -> str:
        return viss_protocol.timestamp(time.time())


def _points(signals: tuple[Signal, ...], snapshot: dict[str, Any]) -> list[tuple[str, str]]:
    """(path, value string) of each signal with a known value, in order."""
    points = []
    for signal in signals:
        value = values.to_vss(signal, values.read_field(snapshot, signal.field))
        if value is not None:
            points.append((signal.path, values.encode(value)))
    return points


def _native(signal: Signal, snapshot: dict[str, Any]) -> Any:
    return values.to_vss(signal, values.read_field(snapshot, signal.field))


def _action_of(request: viss_protocol.Request) -> str:
    return {viss_protocol.Get: "get", viss_protocol.Set: "set", viss_protocol.Subscribe: "subscribe",
            viss_protocol.Unsubscribe: "unsubscribe"}[type(request)]


def _refused(message: str | bytes, rate: float) -> VissError:
    """The rate-limit error, echoing action and requestId when the request has readable ones."""
    action = request_id = None
    try:
        obj = json.loads(message)
        if isinstance(obj, dict):
            if obj.get("action") in viss_protocol.ACTIONS:
                action = obj["action"]
            if isinstance(obj.get("requestId"), str) and len(obj["requestId"]) <= viss_protocol.MAX_ID_LENGTH:
                request_id = obj["requestId"]
    except (ValueError, TypeError, RecursionError):
        pass
    return VissError(UNAVAILABLE, f"more than {rate:g} requests per second; slow down", action, request_id)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def install(runtime: Runtime) -> VissEndpoint:
    """Serve VISS v2 at /viss on ``runtime``'s WebSocket port."""
    endpoint = VissEndpoint(runtime.server, runtime.loaded.config.viss, runtime.dispatcher)
    runtime.server.ws_routes[PATH] = endpoint.route()
    return endpoint
