"""The MQTT bridge: mirrors the vehicle to a broker, answers commands from it, loses no telemetry.

Three flows share one connection at a time:

- telemetry: once the sources have something to say, every ``publish_interval`` a telemetry
  message is numbered (``seq``) and put in the outbox (memory first, disk only for what the broker
  does not acknowledge promptly); a sender publishes the outbox in ``seq`` order (QoS 1) with a
  small window in flight and forgets what the broker acknowledged. While the broker is
  unreachable the outbox grows on disk (within its bounds); after a reconnect the backlog goes out
  in order first.
- state: retained ``<prefix>/state/...`` topics, published when a known value moved beyond its
  deadband (all known ones after each connect; never ``null``). They and command responses never
  wait behind the backlog: the telemetry window is far smaller than what paho lets fly, so they
  are sent right away.
- commands: ``<prefix>/command`` through the WebSocket protocol's parser and dispatcher, answered
  on ``<prefix>/response``. Retained commands and empty payloads (clearing a retained one) are
  ignored.

Connecting, reconnecting (exponential backoff with jitter) and all broker I/O happen off the
screen's path: nothing here is awaited by the WebSocket server.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import random
from pathlib import Path
from typing import Any, TypedDict

from evscreen.aio import within
from evscreen.config import MqttConfig, data_dir
from evscreen.dispatch import Dispatcher
from evscreen.drivers.backoff import Backoff
from evscreen.mqtt.commands import answer_command
from evscreen.mqtt.connection import MAX_INFLIGHT, ConnectFailed, Message, MqttConnection, NotConnected, Will
from evscreen.mqtt.discovery import discovery_messages
from evscreen.mqtt.options import BridgeOptions
from evscreen.mqtt.outbox import Outbox
from evscreen.mqtt.topics import StateTracker, encode_value
from evscreen.protocol import ErrorCode, error_response
from evscreen.settings import SettingsStore
from evscreen.state import SourceState, VehicleState, build_telemetry

log = logging.getLogger(__name__)

OUTBOX_FILE = "mqtt-outbox.sqlite3"
#: Telemetry messages in flight at once; half of what may fly, so live messages never queue
#: behind a backlog.
TELEMETRY_WINDOW = MAX_INFLIGHT // 2
#: Seconds a clean stop waits for queued telemetry to be acknowledged (the rest stays on disk).
FLUSH_TIMEOUT = 3.0
#: Commands waiting to be carried out; more than this are answered ``rate_limited``.
COMMAND_QUEUE = 32
#: Seconds after start that telemetry waits for the slowest source's first data (once another
#: source has delivered); a source still silent then shows as ``starting`` in it.
SOURCES_GRACE = 10.0
#: Seconds between two looks at the sources while waiting for them.
SOURCES_POLL = 0.05
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


class BridgeHealth(TypedDict):
    """The bridge as ``/healthz`` shows it."""

    state: str  # stopped, connecting, connected, disconnected (waiting to retry)
    connected: bool
    broker: str
    last_error: str | None
    outbox_size: int
    outbox_dropped: int
    outbox_durable: bool
    outbox_written: int  # messages that had to be written to disk since start
    last_seq: int
    connects: int  # connections since start: reconnects are this minus one
    commands_answered: int


class MqttBridge:
    """Mirrors ``state`` and ``settings`` to a broker and carries out its commands with ``dispatcher``."""

    def __init__(
        self,
        config: MqttConfig,
        state: VehicleState,
        settings: SettingsStore,
        dispatcher: Dispatcher,
        *,
        outbox_path: Path | None = None,
    ) -> None:
        self.options = BridgeOptions.from_config(config)
        self.config = config
        self.topics = self.options.topics
        self.state = state
        self.settings = settings
        self.dispatcher = dispatcher
        self.connection = self.options.connection_settings()
        path = outbox_path if outbox_path is not None else data_dir() / OUTBOX_FILE
        self.outbox = Outbox(path, config.outbox_max_messages, config.outbox_max_age_hours * 3600.0,
                             interval=config.publish_interval)
        #: "stopped", "connecting", "connected" or "disconnected" (waiting to retry).
        self.connection_state = "stopped"
        #: Why the last connection attempt failed or the last connection ended; None while connected.
        self.last_error: str | None = None
        #: Connections made since start (so reconnects are ``connects - 1``) and commands answered,
        #: shown in /healthz.
        self.connects = 0
        self.commands_answered = 0
        self._conn: MqttConnection | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._stopping = False
        self._wake = asyncio.Event()  # the telemetry sender has something to do
        self._state_wake = asyncio.Event()  # a setting changed: publish state now
        self._drained = asyncio.Event()
        self._inflight: dict[int, int] = {}  # message id -> seq, this connection's telemetry
        self._waiters: dict[int, asyncio.Future[str | None]] = {}
        self._commands: asyncio.Queue[Message] = asyncio.Queue(COMMAND_QUEUE)
        self._rng = random.Random()
        #: Reconnection waits; a connection that ends within ``stable_s`` of starting (another car
        #: with our client id, a broker that drops us) counts as a failed attempt.
        self._backoff = Backoff(config.reconnect_min_delay, config.reconnect_max_delay)
        self._max_inflight = MAX_INFLIGHT
        self._warned_retained = False
        self._records: dict[str, bytes] = {}  # the journal's last trip and charge: topic -> payload
        settings.subscribe(lambda name, value: self._state_wake.set())

    # -- what /healthz and the banner show ----------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.connection_state == "connected"

    @property
    def outbox_size(self) -> int:
        return self.outbox.size

    def health(self) -> BridgeHealth:
        return {
            "state": self.connection_state,
            "connected": self.connected,
            "broker": self.connection.describe(),
            "last_error": self.last_error,
            "outbox_size": self.outbox.size,
            "outbox_dropped": self.outbox.dropped,
            "outbox_durable": self.outbox.durable,
            "outbox_written": self.outbox.written,
            "last_seq": self.outbox.last_seq,
            "connects": self.connects,
            "commands_answered": self.commands_answered,
        }

    def describe(self) -> str:
        return (f"mqtt: {self.connection.describe()} (MQTT {self.config.protocol}) as {self.options.client_id}, "
                f"topics {self.topics.prefix}/..., telemetry every {self.config.publish_interval:g} s"
                + (f", {self.outbox.size} queued" if self.outbox.size else ""))

    # -- life cycle -----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the outbox and start publishing; returns at once (connecting goes on in the background)."""
        self._warn_about_security()
        await self.outbox.open()
        if self.outbox.size:
            log.info("MQTT outbox holds %d telemetry message(s) from before; they go out first", self.outbox.size)
        self._stopping = False
        self._tasks = [
            asyncio.create_task(self._produce_telemetry(), name="mqtt-telemetry"),
            asyncio.create_task(self.outbox.run_spills(), name="mqtt-spill"),
            asyncio.create_task(self._keep_connected(), name="mqtt-connection"),
        ]

    async def stop(self) -> None:
        """Stop publishing, give queued telemetry a moment to be acknowledged, say ``offline``, close."""
        if not self._tasks:
            return
        self._stopping = True
        producer, spiller, keeper = self._tasks
        producer.cancel()
        spiller.cancel()  # what is left goes to disk in one batch when the outbox closes
        await asyncio.gather(producer, spiller, return_exceptions=True)
        conn = self._conn
        if conn is not None and conn.is_open and conn.closed is not None:
            self._wake.set()
            drained: asyncio.Future[Any] = asyncio.ensure_future(self._drained.wait())
            waits: list[asyncio.Future[Any]] = [drained, conn.closed]
            await asyncio.wait(waits, timeout=FLUSH_TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
            drained.cancel()
            if self.outbox.size:
                log.info("MQTT: %d telemetry message(s) not acknowledged yet are kept on disk for the next start",
                         self.outbox.size)
            with contextlib.suppress(NotConnected, asyncio.TimeoutError):
                await within(self._publish_and_wait(conn, self.topics.status, b"offline", retain=True), 1.0)
            await conn.disconnect()
        keeper.cancel()
        await asyncio.gather(keeper, return_exceptions=True)
        self._tasks = []
        await self.outbox.close()
        self.connection_state = "stopped"

    def _warn_about_security(self) -> None:
        c = self.config
        if c.tls and c.tls_insecure:
            log.warning("MQTT: mqtt.tls_insecure = true: the broker's certificate is NOT verified; anyone on the "
                        "network path can pose as the broker, read the car's data and send it commands")
        if c.password and not c.tls and c.broker not in _LOOPBACK:
            log.warning("MQTT: mqtt.password is sent to %s unencrypted; set mqtt.tls = true", c.broker)

    # -- connection ---------------------------------------------------------------------------------------

    async def _keep_connected(self) -> None:
        failures = 0  # sets the backoff
        failed_attempts = 0  # since the last connection, for the log
        logged: str | None = None
        flapping: str | None = None  # why the last, short-lived connection ended
        loop = asyncio.get_running_loop()
        while not self._stopping:
            self.connection_state = "connecting"
            conn = MqttConnection(self.connection, will=Will(self.topics.status, b"offline"),
                                  max_inflight=self._max_inflight)
            conn.on_message = functools.partial(self._on_message, conn)
            conn.on_published = functools.partial(self._on_published, conn)
            try:
                await conn.connect()
            except Exception as exc:
                if not isinstance(exc, ConnectFailed):  # a bug, not a broker problem: show where
                    log.exception("MQTT: connection attempt failed unexpectedly")
                    exc = ConnectFailed(f"unexpected error: {type(exc).__name__}: {exc}")
                failures += 1
                failed_attempts += 1
                self.last_error = str(exc)
                self.connection_state = "disconnected"
                if self.last_error != logged:  # one line per cause, not one per attempt
                    log.error("MQTT: cannot connect: %s; evscreen keeps running and retries in the background",
                              self.last_error)
                    logged = self.last_error
                else:
                    log.debug("MQTT: still cannot connect: %s", self.last_error)
                await asyncio.sleep(self._backoff.delay(failures, self._rng))
                continue
            log.log(logging.DEBUG if flapping else logging.INFO, "MQTT: connected to %s as %s%s",
                    self.connection.describe(), self.options.client_id,
                    f" after {failed_attempts} failed attempt(s)" if failed_attempts else "")
            logged, failed_attempts = None, 0
            if conn.receive_maximum is not None and conn.receive_maximum < self._max_inflight:
                # paho cannot change this on a live connection: honoured from the next one on,
                # and by the telemetry window (below half of it) right away.
                log.info("MQTT: the broker accepts at most %d unacknowledged messages; keeping to that",
                         conn.receive_maximum)
                self._max_inflight = conn.receive_maximum
            connected_at = loop.time()
            self._conn = conn
            try:
                reason = await self._serve(conn)
            except Exception as exc:  # a bug: log it, drop this connection, carry on
                log.exception("MQTT: serving the connection failed")
                reason = f"unexpected error: {type(exc).__name__}: {exc}"
            finally:
                self._conn = None
                if conn.is_open and not self._stopping:
                    conn.close_nowait()
            if self._stopping:
                return
            self.last_error = f"connection lost: {reason}"
            self.connection_state = "disconnected"
            # A connection that ends soon after it began (another client with our id, a broker
            # that drops us) is retried with growing delays and logged once, not every time.
            short = loop.time() - connected_at < self._backoff.stable_s
            log.log(logging.DEBUG if short and flapping is not None else logging.WARNING,
                    "MQTT: connection to %s lost (%s); telemetry waits on disk until it is back",
                    self.connection.describe(), reason)
            flapping = reason if short else None
            failures = failures + 1 if short else 1
            await asyncio.sleep(self._backoff.delay(failures, self._rng))

    async def _serve(self, conn: MqttConnection) -> str:
        """Run one connection until it ends; returns why it ended."""
        assert conn.closed is not None
        self._inflight.clear()
        try:
            # MQTT 5: keep the retain flag as published, so a command published retained while we
            # are subscribed is recognised too (3.1.1 brokers clear it on live delivery).
            await conn.subscribe(self.topics.command, 1, retain_as_published=True)
            if self.config.homeassistant:
                await conn.subscribe(f"{self.config.homeassistant_prefix}/status", 1)
            conn.publish(self.topics.status, b"online", 1, retain=True)
            for topic, payload in self._records.items():
                conn.publish(topic, payload, 1, retain=True)
            if self.config.homeassistant:
                self._publish_discovery(conn)
        except (NotConnected, ConnectFailed, asyncio.TimeoutError) as exc:
            if not conn.closed.done():
                conn.close_nowait()
            return str(exc) or "the broker did not answer the subscription"
        self.connection_state = "connected"
        self.last_error = None
        self.connects += 1
        workers = [
            asyncio.create_task(self._send_outbox(conn), name="mqtt-outbox"),
            asyncio.create_task(self._publish_state(conn), name="mqtt-state"),
            asyncio.create_task(self._serve_commands(conn), name="mqtt-commands"),
        ]
        try:
            waits: list[asyncio.Future[Any]] = [conn.closed, *workers]
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for task in workers:
                if task in done and not task.cancelled() and task.exception() is not None:
                    error = task.exception()
                    log.error("MQTT: %s failed; reconnecting", task.get_name(), exc_info=error)
                    conn.close_nowait()
                    return f"{task.get_name()} failed: {error}"
            return conn.closed.result() if conn.closed.done() else "closed"
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            if not self._stopping:  # (a stop closes the outbox, which does the same)
                await self.outbox.connection_ended()

    def _on_published(self, conn: MqttConnection, mid: int, failure: str | None) -> None:
        if conn is not self._conn:
            return  # a late acknowledgement from a connection that is gone
        waiter = self._waiters.pop(mid, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(failure)
        seq = self._inflight.pop(mid, None)
        if seq is None:
            return
        if failure is not None:
            log.error("MQTT: the broker refused telemetry seq %d (%s); dropped", seq, failure)
        self.outbox.acknowledged(seq)
        self._wake.set()

    async def _publish_and_wait(self, conn: MqttConnection, topic: str, payload: bytes, *, retain: bool) -> None:
        mid = conn.publish(topic, payload, 1, retain=retain)
        waiter = self._waiters[mid] = asyncio.get_running_loop().create_future()
        await waiter

    # -- telemetry ----------------------------------------------------------------------------------------

    async def _produce_telemetry(self) -> None:
        """Once the sources have spoken, every publish_interval number a telemetry message and put it
        in the outbox (which never waits for the disk)."""
        await self._wait_for_sources()
        loop = asyncio.get_running_loop()
        interval = self.config.publish_interval
        next_tick = loop.time()
        failing: str | None = None
        while True:
            try:
                message = build_telemetry(self.state, self.settings.values)
                message["vehicle_id"] = self.options.vehicle_id
                self.outbox.add(message)
                failing = None
            except Exception as exc:  # a bug must not stop the car's screen
                if str(exc) != failing:
                    log.exception("MQTT: cannot queue telemetry")
                    failing = str(exc)
            self._wake.set()
            next_tick += interval
            delay = next_tick - loop.time()
            if delay < 0:  # fell behind (a stalled machine): skip the missed ticks, do not burst
                next_tick = loop.time()
                delay = 0.0
            await asyncio.sleep(delay)

    async def _wait_for_sources(self) -> None:
        """Return once a source has delivered data and every source has delivered (or failed), or
        SOURCES_GRACE seconds after start: telemetry full of nulls says nothing about the car."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SOURCES_GRACE
        told = False
        while True:
            sources = self.state.describe_sources().values()
            delivered = any(s["age"] is not None for s in sources)
            waiting = any(s["state"] == SourceState.STARTING for s in sources)
            late = loop.time() >= deadline
            if delivered and (not waiting or late):
                log.debug("MQTT: the sources have delivered; telemetry starts")
                return
            if late and not told:
                log.info("MQTT: no source has delivered data yet; telemetry starts with the first data "
                         "(state topics with the settings go out meanwhile)")
                told = True
            await asyncio.sleep(SOURCES_POLL if not late else 10 * SOURCES_POLL)

    async def _send_outbox(self, conn: MqttConnection) -> None:
        """Publish the outbox in seq order, a window at a time; acknowledgements arrive in _on_published."""
        last_sent = 0
        # Half of what may fly stays free for live messages (state, responses).
        window = max(1, min(TELEMETRY_WINDOW, min(self._max_inflight, conn.receive_maximum or MAX_INFLIGHT) // 2))
        while True:
            self._wake.clear()
            room = window - len(self._inflight)
            sent = 0
            exhausted = False  # everything waiting has been sent
            if room > 0:
                rows = await self.outbox.take(last_sent, room)
                for seq, payload in rows:
                    try:
                        mid = conn.publish(self.topics.telemetry, payload, 1)
                    except NotConnected:
                        return
                    self._inflight[mid] = seq
                    last_sent = seq
                sent = len(rows)
                exhausted = sent < room
            idle = exhausted and not self._inflight
            await self.outbox.flush_deletes(force=idle)
            if idle:
                self._drained.set()
            else:
                self._drained.clear()
            if not sent:
                await self._wake.wait()

    # -- state topics -------------------------------------------------------------------------------------

    async def _publish_state(self, conn: MqttConnection) -> None:
        tracker = StateTracker(self.config.state_deadband)
        interval = min(1.0, self.config.publish_interval)
        while True:
            self._state_wake.clear()
            telemetry = build_telemetry(self.state, self.settings.values)
            for path, value in tracker.changes(telemetry):
                try:
                    conn.publish(self.topics.state(path), encode_value(value), 1, retain=True)
                except NotConnected:
                    return
            with contextlib.suppress(asyncio.TimeoutError):
                await within(self._state_wake.wait(), interval)

    def publish_record(self, kind: str, record: dict[str, Any]) -> None:
        """The journal's last closed ``trip`` or ``charge``, retained: now if connected, else on connecting."""
        topic = self.topics.last_record(kind)
        self._records[topic] = json.dumps(record, separators=(",", ":"), allow_nan=False).encode()
        conn = self._conn
        if conn is not None and self.connected:
            with contextlib.suppress(NotConnected):
                conn.publish(topic, self._records[topic], 1, retain=True)

    def _publish_discovery(self, conn: MqttConnection) -> None:
        for topic, payload in discovery_messages(self.topics, self.options.vehicle_id,
                                                 self.config.homeassistant_prefix):
            conn.publish(topic, payload, 1, retain=True)

    # -- commands -----------------------------------------------------------------------------------------

    def _on_message(self, conn: MqttConnection, message: Message) -> None:
        if message.topic == self.topics.command:
            if not message.payload:
                # Not a command: what a client sends to clear a retained command (-r -n).
                log.debug("MQTT: empty message on %s ignored", message.topic)
                return
            if message.retain:
                # A retained command would be carried out again after every reconnect.
                if not self._warned_retained:
                    log.warning("MQTT: ignoring a retained command on %s (commands must not be retained; clear it "
                                "with: mosquitto_pub -r -n -t %s)", message.topic, message.topic)
                    self._warned_retained = True
                return
            try:
                self._commands.put_nowait(message)
            except asyncio.QueueFull:
                self._respond(conn, message, error_response(
                    None, ErrorCode.RATE_LIMITED, f"more than {COMMAND_QUEUE} commands waiting; try again later"))
        elif (self.config.homeassistant and message.topic == f"{self.config.homeassistant_prefix}/status"
              and message.payload == b"online"):
            # Home Assistant restarted: it asks devices to announce themselves again.
            with contextlib.suppress(NotConnected):
                self._publish_discovery(conn)

    async def _serve_commands(self, conn: MqttConnection) -> None:
        while True:
            message = await self._commands.get()
            response = await answer_command(message.payload, self.dispatcher, self.options.allowed_actions,
                                            self.config.max_command_size)
            if response.get("status") != "success":
                log.info("MQTT command rejected: %s (%s)", response.get("error"), response.get("code"))
            self.commands_answered += 1
            self._respond(conn, message, response)

    def _respond(self, conn: MqttConnection, request: Message, response: dict[str, Any]) -> None:
        try:
            conn.publish(self.topics.response, json.dumps(response).encode(), 1,
                         correlation_data=request.correlation_data)
        except NotConnected:
            log.debug("MQTT: response to %s lost with the connection", response.get("action"))
