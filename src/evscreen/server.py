"""The WebSocket server: telemetry out to every screen, commands in to the dispatcher.

Each tick the snapshot is built and serialized once, then offered to every client. A client holds
at most one pending snapshot (the latest; older ones are dropped), and its own sender task writes
it, so a client that stops reading delays and costs no one but itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from evscreen.config import ServerConfig
from evscreen.dispatch import Dispatcher
from evscreen.settings import SettingsStore
from evscreen.state import VehicleState, build_telemetry

log = logging.getLogger(__name__)


def dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), allow_nan=False)


class Client:
    """One connected screen and its latest-only outgoing telemetry slot."""

    __slots__ = ("ws", "pending", "wakeup", "sent", "dropped")

    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.pending: str | None = None
        self.wakeup = asyncio.Event()
        self.sent = 0
        self.dropped = 0

    def offer(self, text: str) -> None:
        if self.pending is not None:
            self.dropped += 1
        self.pending = text
        self.wakeup.set()

    async def send_telemetry(self) -> None:
        while True:
            await self.wakeup.wait()
            self.wakeup.clear()
            text, self.pending = self.pending, None
            if text is None:
                continue
            await self.ws.send(text)
            self.sent += 1


class TelemetryServer:
    def __init__(
        self,
        config: ServerConfig,
        state: VehicleState,
        settings: SettingsStore,
        dispatcher: Dispatcher,
    ) -> None:
        self.config = config
        self.state = state
        self.settings = settings
        self.dispatcher = dispatcher
        self.clients: set[Client] = set()
        self.ticks = 0
        self._server: Server | None = None
        self._ticker: asyncio.Task[None] | None = None
        self.on_tick: list[Callable[[dict[str, Any]], None]] = []
        #: Checks run on every HTTP request before the WebSocket upgrade (authentication, origin,
        #: connection limits): each returns None to let the request through or a Response to refuse it.
        self.request_checks: list[Callable[[ServerConnection, Request], Response | None]] = []
        #: Plain HTTP (non-upgrade) GET routes served on the same port: path -> handler.
        self.http_routes: dict[str, Callable[[ServerConnection, Request], Response]] = {}

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    def snapshot(self) -> dict[str, Any]:
        return build_telemetry(self.state, self.settings.values)

    async def start(self) -> None:
        self._server = await serve(
            self._handle,
            self.config.host,
            self.config.port,
            max_size=self.config.max_message_size,
            max_queue=64,
            ping_interval=20,
            ping_timeout=20,
            close_timeout=2,
            server_header=None,
            process_request=self._process_request,
        )
        self._ticker = asyncio.create_task(self._tick_forever(), name="telemetry-ticker")

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
        """Build and serialize one snapshot, and offer it to every client."""
        message = self.snapshot()
        text = dumps(message)
        for client in self.clients:
            client.offer(text)
        self.ticks += 1
        for hook in self.on_tick:
            hook(message)

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

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        for check in self.request_checks:
            refusal = check(connection, request)
            if refusal is not None:
                return refusal
        if "websocket" in request.headers.get("Upgrade", "").lower():
            return None
        handler = self.http_routes.get(urlsplit(request.path).path)
        if handler is None:
            return connection.respond(
                HTTPStatus.NOT_FOUND, "Not found. This is evscreen's WebSocket server: connect with a ws:// URL.\n"
            )
        return handler(connection, request)

    async def _handle(self, ws: ServerConnection) -> None:
        _limit_send_buffer(ws)
        client = Client(ws)
        peer = _peer(ws)
        log.info("screen connected from %s (%d connected)", peer, len(self.clients) + 1)
        try:
            await ws.send(dumps(self.snapshot()))
        except ConnectionClosed:
            return
        self.clients.add(client)
        sender = asyncio.create_task(client.send_telemetry(), name=f"telemetry-to-{peer}")
        try:
            async for message in ws:
                response = await self.dispatcher.handle_text(message)
                await ws.send(dumps(response))
                # A client sending a burst must not starve the ticker and the other clients.
                await asyncio.sleep(0)
        except ConnectionClosed:
            pass
        finally:
            self.clients.discard(client)
            sender.cancel()
            try:
                await sender
            except (asyncio.CancelledError, ConnectionClosed):
                pass
            code = ws.close_code
            log.info("screen %s disconnected (code %s, %d connected)", peer, code, len(self.clients))


#: Kernel send buffer per connection. Linux would otherwise grow it to megabytes for a client that
#: stops reading; this bounds what a stuck client holds to this plus websockets' write limit.
SEND_BUFFER_BYTES = 64 * 1024


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
