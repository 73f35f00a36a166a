"""A small synchronous client of the server, for ``evscreen send`` and ``evscreen watch``."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

from evscreen.errors import AccessDenied, ServerUnreachable, UsageError

DEFAULT_URL = "ws://127.0.0.1:8765"


def check_url(url: str) -> str:
    """Return ``url`` if it is a usable ws:// or wss:// URL, else raise UsageError saying why."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        raise UsageError(f"{url!r} is not a valid URL ({exc}); use e.g. {DEFAULT_URL}") from None
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise UsageError(f"{url!r} is not a WebSocket URL; use ws://HOST:PORT or wss://HOST:PORT, e.g. {DEFAULT_URL}")
    return url


def _connect(url: str, timeout: float, token: str | None = None, ca_file: str | None = None) -> Any:
    from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI
    from websockets.sync.client import connect

    check_url(url)
    options: dict[str, Any] = {}
    if token:
        options["additional_headers"] = {"Authorization": f"Bearer {token}"}
    if url.startswith("wss://"):
        import ssl

        try:
            options["ssl"] = ssl.create_default_context(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise UsageError(f"cannot use CA file {ca_file}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return connect(url, open_timeout=timeout, close_timeout=1, max_size=2**22, **options)
    except InvalidStatus as exc:
        status = exc.response.status_code
        if status == 401:
            raise AccessDenied(f"{url} refused the connection: missing or wrong token (use --token or "
                               "EVSCREEN_TOKEN)") from None
        if status == 403:
            raise AccessDenied(f"{url} refused the connection: HTTP 403 (origin not allowed)") from None
        raise ServerUnreachable(f"{url} refused the connection: HTTP {status}") from None
    except InvalidURI as exc:
        raise ServerUnreachable(f"{url} is not a WebSocket URL ({exc}); use e.g. {DEFAULT_URL}") from None
    except (OSError, InvalidHandshake, TimeoutError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise ServerUnreachable(
            f"the server is not reachable at {url} ({reason}); is `evscreen serve` running there?"
        ) from None


def send_command(url: str, command: dict[str, Any], timeout: float = 5.0, token: str | None = None,
                 ca_file: str | None = None) -> dict[str, Any]:
    """Send one command and return the server's response to it."""
    from websockets.exceptions import ConnectionClosed

    command = {**command, "request_id": command.get("request_id") or uuid.uuid4().hex[:12]}
    with _connect(url, timeout, token, ca_file) as ws:
        deadline = time.monotonic() + timeout
        try:
            ws.send(json.dumps(command))
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                message = json.loads(ws.recv(timeout=remaining))
                if message.get("type") == "response" and message.get("request_id") == command["request_id"]:
                    return message
        except TimeoutError:
            raise ServerUnreachable(f"no response from {url} within {timeout:g} s") from None
        except ConnectionClosed as exc:
            raise ServerUnreachable(f"{url} closed the connection ({exc})") from None


def telemetry_stream(url: str, timeout: float = 5.0, token: str | None = None,
                     ca_file: str | None = None) -> Iterator[dict[str, Any]]:
    """Yield telemetry messages from the server until the connection closes."""
    from websockets.exceptions import ConnectionClosed

    with _connect(url, timeout, token, ca_file) as ws:
        try:
            for text in ws:
                message = json.loads(text)
                if message.get("type") == "telemetry":
                    yield message
        except ConnectionClosed:
            return
