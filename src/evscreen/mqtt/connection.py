"""The one place where paho-mqtt meets asyncio (the aiomqtt model).

paho runs its network loop in a thread of its own and reports through callbacks. Every callback
here does two things only: convert paho's types to ours (:class:`Message`, :class:`Connack`, plain
strings for reason codes) and hand the result to the event loop with ``call_soon_threadsafe``.
Blocking work (DNS, TCP connect, TLS handshake) runs in a short-lived daemon thread whose result
comes back the same way, so the event loop (and the screen it serves) never waits for the broker.
Nothing else in evscreen imports paho.

One :class:`MqttConnection` is one connection: it is never reconnected. The bridge makes a new one
for each attempt, so no half-sent state of an old connection leaks into the next; the bridge's
own outbox decides what to send again.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from evscreen.address import host_port
from evscreen.aio import within

log = logging.getLogger(__name__)

#: QoS 1/2 messages sent and not yet acknowledged, at most (paho's and mosquitto's default; a
#: broker may ask for fewer with its MQTT 5 Receive Maximum). The bridge keeps its telemetry
#: window at half of this so that state updates and command responses never queue behind it.
MAX_INFLIGHT = 20


@dataclass(frozen=True)
class ConnectionSettings:
    """How to reach and authenticate to the broker."""

    host: str
    port: int
    client_id: str
    protocol: str = "3.1.1"  # or "5"
    keepalive: int = 60
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    ca_cert: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    tls_insecure: bool = False
    connect_timeout: float = 10.0

    def describe(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{host_port(self.host, self.port)}"


@dataclass(frozen=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


@dataclass(frozen=True)
class Message:
    """A message received from the broker, in our own terms."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    correlation_data: bytes | None = None


@dataclass(frozen=True)
class Connack:
    session_present: bool
    properties: dict[str, Any]


class ConnectFailed(Exception):
    """A connection attempt that did not succeed: ``reason`` says what happened, ``advice`` what to check."""

    def __init__(self, reason: str, advice: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.advice = advice

    def __str__(self) -> str:
        return f"{self.reason} ({self.advice})" if self.advice else self.reason


class NotConnected(Exception):
    """A publish on a connection that has gone away."""


# Reason codes (MQTT 5 numbering; paho maps 3.1.1 return codes onto them) and what to check.
_CONNACK_ADVICE = {
    0x84: "the broker does not speak this MQTT version; set mqtt.protocol",
    0x85: "the broker rejected the client id; set mqtt.client_id",
    0x86: "check mqtt.username and mqtt.password",
    0x87: "check mqtt.username and mqtt.password, and the broker's access rules",
    0x88: "the broker is up but not serving; try again later",
    0x8A: "this client is banned by the broker",
    0x8C: "the broker wants another authentication method",
}


class MqttConnection:
    """One connection to the broker; its paho callbacks feed the event loop and nothing else."""

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        will: Will | None = None,
        on_message: Callable[[Message], None] | None = None,
        on_published: Callable[[int, str | None], None] | None = None,
        max_inflight: int = MAX_INFLIGHT,
    ) -> None:
        self.settings = settings
        self.max_inflight = max_inflight
        self.will = will
        #: Called on the event loop for each message received.
        self.on_message = on_message
        #: Called on the event loop with (mid, None) when a QoS>0 publish is acknowledged, or
        #: (mid, reason) when the broker refused it (MQTT 5 only).
        self.on_published = on_published
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: paho.Client | None = None
        self._connack: asyncio.Future[Connack] | None = None
        self._subscriptions: dict[int, asyncio.Future[list[int]]] = {}
        #: Resolves with the reason when the connection ends (never raises).
        self.closed: asyncio.Future[str] | None = None
        #: The broker's MQTT 5 Receive Maximum (how many unacknowledged messages it accepts), if it said.
        self.receive_maximum: int | None = None

    # -- life cycle ------------------------------------------------------------------------------

    async def connect(self) -> Connack:
        """Open the connection; raises :class:`ConnectFailed` with the reason and what to check."""
        loop = self._loop = asyncio.get_running_loop()
        self._connack = loop.create_future()
        self.closed = loop.create_future()
        try:
            client = self._client = self._make_client()
        except ConnectFailed:  # TLS files that cannot be used
            self._resolve_closed("not connected")
            raise
        s = self.settings
        kwargs: dict[str, Any] = {}
        if s.protocol == "5":
            kwargs["clean_start"] = True
        attempt = _in_thread(loop, lambda: client.connect(s.host, s.port, s.keepalive, **kwargs), "mqtt-connect")
        try:
            done, _ = await asyncio.wait({attempt}, timeout=s.connect_timeout + 2.0)
        except asyncio.CancelledError:
            _discard_when_done(attempt, client)
            raise
        if not done:  # paho's own timeout did not fire (a hanging DNS lookup, say)
            _discard_when_done(attempt, client)
            self._resolve_closed("connection attempt timed out")
            raise ConnectFailed(
                f"no answer from {s.describe()} within {s.connect_timeout:g} s",
                "check mqtt.broker, mqtt.port and any firewall in between",
            )
        try:
            attempt.result()
        except Exception as exc:
            self._resolve_closed("connection attempt failed")
            raise _explain_connect_error(exc, s) from None
        client.loop_start()
        try:
            return await within(asyncio.shield(self._connack), s.connect_timeout)
        except asyncio.TimeoutError:
            await self.disconnect()
            raise ConnectFailed(
                f"{s.describe()} accepted the connection but never answered the MQTT handshake",
                "is this an MQTT port? does it expect TLS (mqtt.tls)?",
            ) from None
        except ConnectFailed:
            await self.disconnect()
            raise
        except asyncio.CancelledError:
            self.close_nowait()
            raise

    def _make_client(self) -> paho.Client:
        s = self.settings
        if s.protocol == "5":
            client = paho.Client(CallbackAPIVersion.VERSION2, client_id=s.client_id, protocol=paho.MQTTv5,
                                 reconnect_on_failure=False)
        else:
            client = paho.Client(CallbackAPIVersion.VERSION2, client_id=s.client_id, protocol=paho.MQTTv311,
                                 clean_session=True, reconnect_on_failure=False)
        client.on_log = _paho_log
        client.connect_timeout = s.connect_timeout
        client.max_inflight_messages_set(self.max_inflight)
        client.max_queued_messages_set(0)
        if s.username is not None:
            client.username_pw_set(s.username, s.password)
        if self.will is not None:
            client.will_set(self.will.topic, self.will.payload, self.will.qos, self.will.retain)
        if s.tls:
            client.tls_set_context(tls_context(s))
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        client.on_subscribe = self._on_subscribe
        return client

    async def disconnect(self) -> None:
        """Close the connection politely (no last will) and wait for paho's thread to end."""
        client = self._client
        if client is None or self._loop is None:
            return
        client.disconnect()
        await _in_thread(self._loop, client.loop_stop, "mqtt-stop")
        self._resolve_closed("closed by evscreen")

    def close_nowait(self) -> None:
        """Close without waiting (for cancellation paths); paho's thread ends on its own."""
        client = self._client
        if client is None or self._loop is None:
            return
        client.disconnect()
        _in_thread(self._loop, client.loop_stop, "mqtt-stop")
        self._resolve_closed("closed by evscreen")

    @property
    def is_open(self) -> bool:
        return self.closed is not None and not self.closed.done()

    # -- operations ------------------------------------------------------------------------------

    def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False,
                correlation_data: bytes | None = None) -> int:
        """Queue a message (never blocks); returns its message id. Raises :class:`NotConnected`."""
        client = self._client
        if client is None or not self.is_open:
            raise NotConnected("not connected to the broker")
        properties = None
        if correlation_data is not None and self.settings.protocol == "5":
            properties = Properties(PacketTypes.PUBLISH)
            properties.CorrelationData = correlation_data
        info = client.publish(topic, payload, qos, retain, properties)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            raise NotConnected(paho.error_string(info.rc))
        return info.mid

    async def subscribe(self, topic: str, qos: int = 1, *, retain_as_published: bool = False) -> int:
        """Subscribe and wait for the broker's answer; returns the granted QoS.

        ``retain_as_published`` (MQTT 5 only): messages keep the retain flag their publisher set, also
        when delivered live. Without it (and always with MQTT 3.1.1) the broker sets the flag only on
        retained messages sent because of the subscription itself."""
        client = self._client
        if client is None or not self.is_open or self._loop is None:
            raise NotConnected("not connected to the broker")
        if self.settings.protocol == "5":
            options = SubscribeOptions(qos=qos, retainAsPublished=retain_as_published)
            rc, mid = client.subscribe(topic, options=options)
        else:
            rc, mid = client.subscribe(topic, qos)
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            raise NotConnected(paho.error_string(rc))
        fut = self._subscriptions.setdefault(mid, self._loop.create_future())
        try:
            codes = await within(asyncio.shield(fut), self.settings.connect_timeout)
        finally:
            self._subscriptions.pop(mid, None)
        if not codes or codes[0] >= 0x80:
            raise ConnectFailed(f"the broker refused the subscription to {topic}",
                                "check the broker's access rules for this client")
        return codes[0]

    # -- paho's thread: convert and hand over, nothing else ------------------------------------------

    def _post(self, fn: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the event loop is closed: evscreen is shutting down
            pass

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        props = properties.json() if properties is not None and hasattr(properties, "json") else {}
        code = int(getattr(reason_code, "value", reason_code))
        self._post(self._connack_arrived, code, str(reason_code), bool(getattr(flags, "session_present", False)), props)

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        self._post(self._resolve_closed, str(reason_code))

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = msg._topic.decode("utf-8", "replace")
        correlation = getattr(msg.properties, "CorrelationData", None) if msg.properties is not None else None
        message = Message(topic, bytes(msg.payload), int(msg.qos), bool(msg.retain),
                          bytes(correlation) if correlation is not None else None)
        self._post(self._deliver, message)

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason_code: Any, properties: Any) -> None:
        failure = str(reason_code) if getattr(reason_code, "is_failure", False) else None
        self._post(self._published, mid, failure)

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reason_codes: Any, properties: Any) -> None:
        codes = [int(getattr(rc, "value", rc)) for rc in reason_codes]
        self._post(self._subscribed, mid, codes)

    # -- the event loop's side ----------------------------------------------------------------------

    def _connack_arrived(self, code: int, text: str, session_present: bool, props: dict[str, Any]) -> None:
        fut = self._connack
        if fut is None or fut.done():
            return
        if code >= 0x80:
            advice = _CONNACK_ADVICE.get(code, "")
            fut.set_exception(ConnectFailed(f"{self.settings.describe()} refused the connection: {text}", advice))
        else:
            receive_maximum = props.get("ReceiveMaximum")
            if isinstance(receive_maximum, int) and receive_maximum > 0:
                self.receive_maximum = receive_maximum
            fut.set_result(Connack(session_present, props))

    def _resolve_closed(self, reason: str) -> None:
        if self._connack is not None and not self._connack.done():
            self._connack.set_exception(ConnectFailed(
                f"{self.settings.describe()} closed the connection before accepting it ({reason})",
                "if this port expects TLS set mqtt.tls = true; check mqtt.protocol and the broker's log",
            ))
            self._connack.exception()  # retrieved here, so an abandoned attempt logs nothing
        for fut in self._subscriptions.values():
            if not fut.done():
                fut.set_exception(NotConnected(f"connection closed ({reason})"))
        if self.closed is not None and not self.closed.done():
            self.closed.set_result(reason)

    def _deliver(self, message: Message) -> None:
        if self.on_message is not None:
            self.on_message(message)

    def _published(self, mid: int, failure: str | None) -> None:
        if self.on_published is not None:
            self.on_published(mid, failure)

    def _subscribed(self, mid: int, codes: list[int]) -> None:
        assert self._loop is not None
        fut = self._subscriptions.setdefault(mid, self._loop.create_future())
        if not fut.done():
            fut.set_result(codes)


_paho_logger = logging.getLogger("evscreen.mqtt.paho")


def _paho_log(client: Any, userdata: Any, level: int, text: str) -> None:
    # paho's own lines are diagnostics (it calls a closed socket an ERROR during a normal stop);
    # what matters is reported by the bridge, once, with the reason. So: debug only.
    _paho_logger.debug("%s", text)


def tls_context(s: ConnectionSettings) -> ssl.SSLContext:
    """The TLS context for ``s``: the broker's certificate and host name are verified unless
    ``tls_insecure`` says otherwise. Raises :class:`ConnectFailed` for files that cannot be used."""
    try:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=s.ca_cert)
        if s.client_cert:
            ctx.load_cert_chain(s.client_cert, s.client_key)
    except (OSError, ssl.SSLError) as exc:
        what = getattr(exc, "filename", None) or "mqtt.ca_cert / mqtt.client_cert / mqtt.client_key"
        raise ConnectFailed(f"cannot load TLS files: {getattr(exc, 'strerror', None) or exc} ({what})",
                            "check mqtt.ca_cert, mqtt.client_cert and mqtt.client_key (PEM files)") from None
    if s.tls_insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _explain_connect_error(exc: BaseException, s: ConnectionSettings) -> ConnectFailed:
    where = s.describe()
    if isinstance(exc, ConnectFailed):
        return exc
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ConnectFailed(
            f"the TLS certificate of {where} does not verify: {exc.verify_message or exc.reason}",
            "set mqtt.ca_cert to the CA that signed the broker's certificate, and check that it names mqtt.broker",
        )
    if isinstance(exc, ssl.CertificateError):
        return ConnectFailed(f"the TLS certificate of {where} does not match: {exc}",
                             "mqtt.broker must be a name (or address) the certificate is issued for")
    if isinstance(exc, ssl.SSLError):
        return ConnectFailed(f"TLS handshake with {where} failed: {exc.reason or exc}",
                             "is this a TLS port (usually 8883)? mqtt.tls must match the broker's listener")
    if isinstance(exc, socket.gaierror):
        return ConnectFailed(f"cannot resolve the broker's host name {s.host!r}: {exc.strerror or exc}",
                             "check mqtt.broker and this machine's network and DNS")
    if isinstance(exc, ConnectionRefusedError):
        return ConnectFailed(f"connection refused by {where}",
                             "is the broker running and listening on mqtt.port?")
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return ConnectFailed(f"no answer from {where} within {s.connect_timeout:g} s",
                             "check mqtt.broker, mqtt.port and any firewall in between")
    if isinstance(exc, ConnectionResetError) and s.tls:
        return ConnectFailed(f"{where} closed the connection during the TLS handshake",
                             "is this port a TLS listener? mqtt.tls must match the broker's listener")
    if isinstance(exc, ConnectionResetError):
        return ConnectFailed(f"{where} closed the connection during the handshake",
                             "if this port expects TLS set mqtt.tls = true")
    if isinstance(exc, OSError):
        return ConnectFailed(f"cannot reach {where}: {exc.strerror or exc}",
                             "check mqtt.broker, mqtt.port and this machine's network")
    if isinstance(exc, (ValueError, TypeError)):
        return ConnectFailed(f"cannot connect to {where}: {exc}", "check the [mqtt] settings")
    return ConnectFailed(f"cannot connect to {where}: {type(exc).__name__}: {exc}")


def _discard_when_done(attempt: asyncio.Future[Any], client: paho.Client) -> None:
    """Close the socket of a connect that completes after we stopped waiting for it."""

    def done(fut: asyncio.Future[Any]) -> None:
        if not fut.cancelled() and fut.exception() is None:
            client.disconnect()

    attempt.add_done_callback(done)


def _in_thread(loop: asyncio.AbstractEventLoop, fn: Callable[[], Any], name: str) -> asyncio.Future[Any]:
    """Run blocking ``fn`` in a daemon thread; its outcome resolves the returned future on ``loop``.

    A daemon thread rather than the loop's executor: a connect that hangs on DNS must not hold
    up interpreter exit (``asyncio.run`` waits for the default executor)."""
    fut: asyncio.Future[Any] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if fut.done():
            return
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)

    def run() -> None:
        try:
            result = fn()
        except BaseException as exc:  # handed to the loop, raised there
            outcome = (False, exc)
        else:
            outcome = (True, result)
        try:
            loop.call_soon_threadsafe(settle, *outcome)
        except RuntimeError:
            pass

    threading.Thread(target=run, name=name, daemon=True).start()
    return fut
