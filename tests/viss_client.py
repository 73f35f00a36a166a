"""A VISS v2 client written from the specification (W3C VISS v2 transport, "Secure WebSocket"),
not from evscreen's code: it imports nothing of evscreen.

Every message it sends (except the deliberately malformed ones of :meth:`VissClient.raw`) and
every message it receives is validated against the specification's schemas (:mod:`viss_schema`).
Responses are matched to requests by ``requestId``; subscription events are kept per
``subscriptionId`` until asked for.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import defaultdict, deque
from typing import TYPE_CHECKING, Any

import viss_schema

if TYPE_CHECKING:
    from typing_extensions import Self
from websockets.sync.client import connect

SUBPROTOCOL = "VISSv2"


class VissClient:
    def __init__(self, url: str, *, bearer: str | None = None, token: str | None = None, **connect_args: Any) -> None:
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else None
        self._connection = connect(url, subprotocols=[SUBPROTOCOL], additional_headers=headers, **connect_args)
        self.ws = self._connection.__enter__()
        self.token = token  # sent as "authorization" in every request
        self.events: dict[str, deque[dict[str, Any]]] = defaultdict(deque)
        self.unmatched: deque[dict[str, Any]] = deque()  # errors that name no request
        self.received = 0
        self.log: list[tuple[str, dict[str, Any]]] = []  # ("sent" | "received", message), in order
        self._ids = itertools.count(1)

    def close(self) -> None:
        self._connection.__exit__(None, None, None)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests --------------------------------------------------------------------------------

    def request(self, message: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
        """Send one request (given without requestId) and return its response."""
        request_id = str(next(self._ids))
        message = {**message, "requestId": request_id}
        if self.token is not None:
            message["authorization"] = self.token
        viss_schema.check(message, f"{message['action']}Request")
        self.log.append(("sent", message))
        self.ws.send(json.dumps(message))
        response = self._receive_until(lambda m: m.get("requestId") == request_id, timeout)
        assert response.get("action") == message["action"], response
        return response

    def get(self, path: str, filter: Any = None) -> dict[str, Any]:
        return self.request({"action": "get", "path": path, **({"filter": filter} if filter is not None else {})})

    def set(self, path: str, value: Any) -> dict[str, Any]:
        return self.request({"action": "set", "path": path, "value": value})

    def subscribe(self, path: str, filter: Any) -> dict[str, Any]:
        return self.request({"action": "subscribe", "path": path, "filter": filter})

    def unsubscribe(self, subscription_id: str) -> dict[str, Any]:
        return self.request({"action": "unsubscribe", "subscriptionId": subscription_id})

    def raw(self, text: str | bytes, timeout: float = 10.0) -> dict[str, Any]:
        """Send anything; return the next message that is not a subscription event."""
        self.ws.send(text)
        return self._receive_until(lambda m: m.get("action") != "subscription", timeout)

    # -- events ----------------------------------------------------------------------------------

    def next_event(self, subscription_id: str, timeout: float = 10.0) -> dict[str, Any]:
        queue = self.events[subscription_id]
        if not queue:
            self._receive_until(lambda m: bool(self.events[subscription_id]), timeout)
        return queue.popleft()

    def wait_events(self, subscription_id: str, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        return [self.next_event(subscription_id, timeout) for _ in range(count)]

    def _receive_until(self, done: Any, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("no matching VISS message in time")
            text = self.ws.recv(timeout=remaining)
            assert isinstance(text, str), "VISS messages are JSON text"
            message = json.loads(text)
            viss_schema.check(message)
            self.received += 1
            self.log.append(("received", message))
            if message.get("action") == "subscription":
                self.events[message["subscriptionId"]].append(message)
                if done(message):
                    return message
                continue
            if done(message):
                return message
            self.unmatched.append(message)


def values_of(message: dict[str, Any]) -> dict[str, str]:
    """path -> value of a get response or subscription event (single or several data points)."""
    data = message["data"]
    items = data if isinstance(data, list) else [data]
    return {item["path"]: (item["dp"] if isinstance(item["dp"], dict) else item["dp"][-1])["value"] for item in items}
