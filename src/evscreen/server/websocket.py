"""The WebSocket server: telemetry out to every screen, commands in to the dispatcher.

Each tick the snapshot is built and serialized once, then written without waiting to every client
whose previous output has drained (``broadcast``: one encoding, no task per client). A client
that has not drained skips the snapshot — it only ever gets the latest, never a queue — so a
client that stops reading delays and costs no one but itself (its socket buffer is capped), and
once it has not drained for ``stall_timeout`` seconds the ticker disconnects it.

Before the upgrade, every request passes the checks in ``request_checks`` (connection limit,
token, origin); plain HTTP requests are answered from ``http_routes``. Other WebSocket endpoints on
the same port (VISS at ``/viss``) are ``ws_routes``; every other path is the screen's protocol.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from evscreen.config import ServerConfig
from evscreen.dispatch import Dispatcher
from evscreen.errors import ConfigError
from evscreen.host.logthrottle import ThrottledLog
from evscreen.protocol import ErrorCode, Rejected, error_response, parse_command
from evscreen.server.access import origin_allowed, presented_token, token_matches
from evscreen.server.ratelimit import FloodGuard
from evscreen.settings import SettingsStore
from evscreen.state import VehicleState, build_telemetry

log = logging.getLogger(__name__)

#: Kernel send buffer per connection. Linux would otherwise grow it to megabytes for a client that
#: stops reading; this bounds what a stuck client holds to this plus websockets' write limit.
SEND_BUFFER_BYTES = 64 * 1024
#: Close code for policy violations (flooding after rate_limited errors, unread telemetry).
POLICY_VIOLATION = 1008
#: Refused connections of one kind (token, origin, full) are logged at most this often.
REFUSAL_LOG_INTERVAL_S = 10.0
#: Refused commands per connection, within one window, after which it is disconnected.
STRIKES_WINDOW_S = 10.0


def dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True)
class WebSocketRoute:
    """A WebSocket endpoint other than the screen's, at its own path on the same port."""

    handler: Callable[[ServerConnection], Awaitable[None]]
    #: The subprotocol clients must offer (and get), or None.
    subprotocol: str | None = None
    #: Clients may upgrade without the token and present it in each message instead (VISS's
    #: ``authorization``); a wrong token at the upgrade is still refused.
    token_in_messages: bool = False


class Client:
    """One connected screen: what it was sent, what it missed, and since when it stopped draining."""

    __slots__ = ("ws", "peer", "sent", "dropped", "blocked_since")

    def __init__(self, ws: ServerConnection, peer: str) -> None:
        self.ws = ws
        self.peer = peer
        self.sent = 0
        self.dropped = 0
        self.blocked_since: float | None = None  # loop time its output last stopped draining

    def ready(self) -> bool:
        """True when everything sent so far has gone to the kernel: this client keeps up."""
        return self.ws.transport.get_write_buffer_size() == 0


class TelemetryServer:
    def __init__(
        self,
        config: ServerConfig,
        state: VehicleState,
        settings: SettingsStore,
        dispatcher: Dispatcher,
        token: str | None = None,
    ) -> None:
        self.config = config
        self.state = state
        self.settings = settings
        self.dispatcher = dispatcher
        self.token = token
        self.clients: set[Client] = set()
        self.connections = 0
        self.ticks = 0
        self.refused = {"unauthorized": 0, "origin": 0, "full": 0}
        self._refusal_log = ThrottledLog(log, REFUSAL_LOG_INTERVAL_S)
        self._server: Server | None = None
        self._ticker: asyncio.Task[None] | None = None
        self.on_tick: list[Callable[[dict[str, Any]], None]] = []
        #: Checks run on every HTTP request before the WebSocket upgrade: each returns None to let
        #: the request through or a Response to refuse it.
        self.request_checks: list[Callable[[ServerConnection, Request], Response | None]] = [
            self._check_capacity, self._check_token, self._check_origin,
        ]
        #: Plain HTTP (non-upgrade) GET routes served on the same port: path -> handler.
        self.http_routes: dict[str, Callable[[ServerConnection, Request], Response]] = {}
        #: WebSocket endpoints other than the screen's: path -> route.
        self.ws_routes: dict[str, WebSocketRoute] = {}

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    @property
    def scheme(self) -> str:
        return "wss" if self.config.tls_cert else "ws"

    def snapshot(self) -> dict[str, Any]:
        return build_telemetry(self.state, self.settings.values)

    async def start(self) -> None:
        self._server = await serve(
            self._handle,
            self.config.host,
            self.config.port,
            ssl=self._ssl_context(),
            max_size=self.config.max_message_size,
            max_queue=64,
            ping_interval=20,
            ping_timeout=20,
            close_timeout=2,
            server_header=None,
            process_request=self._process_request,
            select_subprotocol=self._select_subprotocol,
        )
        self._ticker = asyncio.create_task(self._tick_forever(), name="telemetry-ticker")

    def _ssl_context(self) -> ssl.SSLContext | None:
        cert, key = self.config.tls_cert, self.config.tls_key
        if not cert and not key:
            return None
        if not cert or not key:
            raise ConfigError("server.tls_cert and server.tls_key must be set together")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(cert, key)
        except FileNotFoundError as exc:
            raise ConfigError(f"server.tls_cert/tls_key: file not found: {exc.filename}") from None
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(f"server.tls_cert/tls_key: cannot load {cert} / {key}: {exc}") from None
        return context

    async def stop(self) -> None:
        """Stop accepting, close every client with 1001 (going away), stop ticking."""
        if self._ticker is not None:
            self._ticker.cancel()
            try:
                await self._ticker
            except asyncio.CancelledError:
                pass
        if self._server is not None:
            self._server.close(close_connections=True)
            await self._server.wait_closed()

    def tick(self) -> None:
        """Build and serialize one snapshot, and write it to every client that keeps up."""
        message = self.snapshot()
        text = dumps(message)
        now = asyncio.get_running_loop().time()
        stall_timeout = self.config.stall_timeout
        ready = []
        for client in list(self.clients):
            if client.ready():
                client.blocked_since = None
                client.sent += 1
                ready.append(client.ws)
                continue
            client.dropped += 1
            if client.blocked_since is None:
                client.blocked_since = now
            elif now - client.blocked_since > stall_timeout:
                self._drop_stalled(client)
        broadcast(ready, text)
        self.ticks += 1
        for hook in self.on_tick:
            hook(message)

    def _drop_stalled(self, client: Client) -> None:
        log.warning("screen %s left telemetry unread for %g s; disconnecting it", client.peer,
                    self.config.stall_timeout)
        self.clients.discard(client)
        # A client that does not read cannot receive a close frame either.
        client.ws.transport.abort()

    async def _tick_forever(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.config.telemetry_interval
        deadline = loop.time()
        while True:
            deadline += interval
            delay = deadline - loop.time()
            if delay < -interval:  # fell far behind (suspended laptop, stalled loop): do not burst
                deadline = loop.time()
                delay = 0
            await asyncio.sleep(max(delay, 0))
            try:
                self.tick()
            except Exception:
                log.exception("telemetry tick failed")

    # -- before the upgrade ------------------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if "websocket" not in request.headers.get("Upgrade", "").lower():
            handler = self.http_routes.get(urlsplit(request.path).path)
            if handler is None:
                return connection.respond(
                    HTTPStatus.NOT_FOUND, "Not found. This is evscreen's WebSocket server: connect with a ws:// URL.\n"
                )
            return handler(connection, request)
        route = self.ws_routes.get(urlsplit(request.path).path)
        if route is not None and route.subprotocol is not None and route.subprotocol not in _offered(request):
            return connection.respond(
                HTTPStatus.BAD_REQUEST, f"This endpoint speaks the WebSocket subprotocol {route.subprotocol}: offer it "
                f"(Sec-WebSocket-Protocol: {route.subprotocol}).\n"
            )
        for check in self.request_checks:
            refusal = check(connection, request)
            if refusal is not None:
                return refusal
        return None

    def _check_capacity(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.connections < self.config.max_connections:
            return None
        self.refused["full"] += 1
        self._refusal_log.warning("full", "refused %s: %d clients connected, the maximum (server.max_connections)",
                                  _peer(connection), self.connections)
        return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "Too many clients connected; try again later.\n")

    def _check_token(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.token is None:
            return None
        presented = presented_token(request.headers.get("Authorization"), request.path)
        if token_matches(self.token, presented):
            return None
        route = self.ws_routes.get(urlsplit(request.path).path)
        if presented is None and route is not None and route.token_in_messages:
            return None
        self.refused["unauthorized"] += 1
        # Never log the presented value: it may be a real token mistyped by one character.
        reason = "missing" if presented is None else "wrong"
        self._refusal_log.warning(f"token-{reason}", "refused %s: %s token", _peer(connection), reason)
        response = connection.respond(
            HTTPStatus.UNAUTHORIZED,
            "Missing or wrong token: send 'Authorization: Bearer TOKEN' or add ?token=TOKEN to the URL.\n",
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="evscreen"'
        return response

    def _check_origin(self, connection: ServerConnection, request: Request) -> Response | None:
        origin = request.headers.get("Origin")
        if origin_allowed(origin, request.headers.get("Host"), self.config.allowed_origins):
            return None
        self.refused["origin"] += 1
        self._refusal_log.warning("origin", "refused %s: origin %r is not in server.allowed_origins",
                                  _peer(connection), origin[:100])
        return connection.respond(HTTPStatus.FORBIDDEN, "This origin may not connect (see server.allowed_origins).\n")

    def _select_subprotocol(self, connection: ServerConnection, offered: object) -> Subprotocol | None:
        route = self.ws_routes.get(urlsplit(connection.request.path).path) if connection.request else None
        return Subprotocol(route.subprotocol) if route is not None and route.subprotocol else None

    # -- a connection ------------------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        self.connections += 1
        try:
            route = self.ws_routes.get(urlsplit(ws.request.path).path) if ws.request else None
            await (route.handler(ws) if route is not None else self._serve_client(ws))
        finally:
            self.connections -= 1

    async def _serve_client(self, ws: ServerConnection) -> None:
        _limit_send_buffer(ws)
        peer = _peer(ws)
        client = Client(ws, peer)
        log.info("screen connected from %s (%d connected)", peer, self.connections)
        try:
            await ws.send(dumps(self.snapshot()))
        except ConnectionClosed:
            return
        self.clients.add(client)
        guard = FloodGuard(self.config.command_rate, self.config.command_burst, STRIKES_WINDOW_S)
        try:
            async for message in ws:
                verdict = guard.check()
                if verdict == guard.ALLOW:
                    response = await self.dispatcher.handle_text(message)
                elif verdict == guard.DISCONNECT:
                    log.warning("screen %s kept flooding after rate_limited errors; disconnecting it", peer)
                    await ws.close(POLICY_VIOLATION, "command flood")
                    break
                else:
                    response = _rate_limited(message, self.config.command_rate)
                await ws.send(dumps(response))
                # A client sending a burst must not starve the ticker and the other clients.
                await asyncio.sleep(0)
        except ConnectionClosed:
            pass
        finally:
            self.clients.discard(client)
            log.info("screen %s disconnected (code %s, %d connected)", peer, ws.close_code, self.connections - 1)


def _rate_limited(message: str | bytes, rate: float) -> dict[str, Any]:
    """The rate_limited response, naming the action and echoing request_id when they can be read."""
    try:
        command = parse_command(message)
        action, request_id = command.action, command.request_id
    except Rejected as exc:
        action, request_id = exc.action, exc.request_id
    return error_response(action, ErrorCode.RATE_LIMITED, f"more than {rate:g} commands per second; slow down",
                          request_id)


def _offered(request: Request) -> list[str]:
    """The subprotocols a WebSocket upgrade request offers."""
    return [name.strip() for value in request.headers.get_all("Sec-WebSocket-Protocol") for name in value.split(",")]


def _limit_send_buffer(ws: ServerConnection) -> None:
    sock = ws.transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        except OSError:
            pass


def _peer(ws: ServerConnection) -> str:
    address = ws.remote_address
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)
