"""The W3C VISS v2 messages over WebSocket, sans I/O: request text in, a typed request or a
:class:`~evscreen.vss.errors.VissError` out; responses and subscription events built here.

Message shapes follow the VISS v2 transport specification ("Secure WebSocket"): every request has
an ``action`` and a string ``requestId``; responses echo both and carry ``ts``; data is
``{"path", "dp": {"value", "ts"}}`` with every value a string, and an array of those when the
request addressed a branch or several paths. Nothing here reads a clock or a socket: times come in
as arguments.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from evscreen.vss import values
from evscreen.vss.catalog import Signal
from evscreen.vss.errors import (
    BAD_REQUEST,
    FORBIDDEN,
    INVALID_DATA,
    NOT_FOUND,
    VissError,
)
from evscreen.vss.filters import (
    MAX_PATH_LENGTH,
    Change,
    Filters,
    Range,
    Trigger,
    parse_filters,
)
from evscreen.vss.tree import SignalTree, normalize

SUBPROTOCOL = "VISSv2"
ACTIONS = ("get", "set", "subscribe", "unsubscribe")
MAX_ID_LENGTH = 128
MAX_VALUE_LENGTH = 1024
MAX_TOKEN_LENGTH = 8192
#: Dynamic metadata evscreen answers (the specification makes only this one mandatory).
SERVER_CAPABILITIES = "server_capabilities"
FILTER_CAPABILITIES = ("timebased", "change", "range", "paths", "static_metadata", "dynamic_metadata")


@dataclass(frozen=True)
class Get:
    request_id: str
    path: str
    signals: tuple[Signal, ...]
    many: bool  # a branch or paths: data is an array
    filters: Filters
    authorization: str | None = None


@dataclass(frozen=True)
class Set:
    request_id: str
    signal: Signal
    value: Any  # the node's native value, parsed and checked against its datatype
    authorization: str | None = None


@dataclass(frozen=True)
class Subscribe:
    request_id: str
    path: str
    signals: tuple[Signal, ...]
    many: bool
    trigger: Trigger
    authorization: str | None = None

    @property
    def watched(self) -> Signal:
        """The signal change and range filters evaluate (the specification's "first signal")."""
        return self.signals[0]


@dataclass(frozen=True)
class Unsubscribe:
    request_id: str
    subscription_id: str
    authorization: str | None = None


Request = Get | Set | Subscribe | Unsubscribe


def parse_request(message: str | bytes, tree: SignalTree, period_limits: tuple[int, int]) -> Request:
    """Parse and check one client message against ``tree``. Raises VissError for anything invalid."""
    if isinstance(message, (bytes, bytearray, memoryview)):
        raise VissError(BAD_REQUEST, "binary frames are not accepted; send each request as JSON text")
    try:
        obj = json.loads(message, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        text = str(exc)
        raise VissError(BAD_REQUEST, f"the request is not valid JSON: {text[:120]}") from None
    if not isinstance(obj, dict):
        raise VissError(BAD_REQUEST, "a request must be a JSON object with \"action\" and \"requestId\"")
    action = obj.get("action")
    known_action = action if isinstance(action, str) and action in ACTIONS else None
    request_id = obj.get("requestId")
    if not isinstance(request_id, str) or not 0 < len(request_id) <= MAX_ID_LENGTH:
        what = "is missing" if request_id is None else f"must be a string of 1 to {MAX_ID_LENGTH} characters"
        raise VissError(BAD_REQUEST, f"requestId {what}, e.g. \"requestId\": \"42\"", known_action)
    if known_action is None:
        shown = "missing" if action is None else json.dumps(action)[:40]
        raise VissError(BAD_REQUEST, f"action {shown} is not one of {', '.join(ACTIONS)}", None, request_id)
    action = known_action
    authorization = obj.get("authorization")
    if authorization is not None and (not isinstance(authorization, str) or len(authorization) > MAX_TOKEN_LENGTH):
        raise VissError(BAD_REQUEST, "authorization must be the token as a string", action, request_id)
    if action == "unsubscribe":
        sid = obj.get("subscriptionId")
        if not isinstance(sid, str) or not 0 < len(sid) <= MAX_ID_LENGTH:
            raise VissError(BAD_REQUEST, "unsubscribe needs the subscriptionId (a string) of the subscribe response",
                            action, request_id)
        return Unsubscribe(request_id, sid, authorization)
    path = _path(obj, action, request_id)
    filters = Filters()
    if "filter" in obj:
        filters = parse_filters(obj["filter"], action, request_id, period_limits)
    if action == "set":
        return _set(obj, path, tree, request_id, authorization)
    signals, many = _address(path, filters.paths, tree, action, request_id)
    if action == "get":
        return Get(request_id, path, tuple(signals), many, filters, authorization)
    if filters.trigger is None:
        raise VissError(BAD_REQUEST, "subscribe needs a timebased, change or range filter, e.g. "
                        "{\"type\": \"timebased\", \"parameter\": {\"period\": \"1000\"}}", action, request_id)
    request = Subscribe(request_id, path, tuple(signals), many, filters.trigger, authorization)
    if isinstance(filters.trigger, (Change, Range)):
        _check_watchable(request, filters, tree)
    return request


def _path(obj: dict[str, Any], action: str, request_id: str) -> str:
    path = obj.get("path")
    if not isinstance(path, str) or not path or len(path) > MAX_PATH_LENGTH:
        raise VissError(BAD_REQUEST, f"{action} needs a \"path\": a VSS path like \"Vehicle.Speed\"", action,
                        request_id)
    if "*" in path:
        raise VissError(BAD_REQUEST, "a path cannot hold wildcards; put them in a paths filter", action, request_id)
    return normalize(path)


def _address(path: str, relative: tuple[str, ...] | None, tree: SignalTree, action: str,
             request_id: str) -> tuple[list[Signal], bool]:
    found = tree.resolve(path)
    if found is None:
        raise VissError(NOT_FOUND, f"evscreen has no VSS node {path} (docs/vss.md lists them)", action, request_id)
    if relative is None:
        return found, not tree.is_leaf(path)
    if tree.is_leaf(path):
        raise VissError(BAD_REQUEST, "with a paths filter, path must be the branch the relative paths start from",
                        action, request_id)
    signals: list[Signal] = []
    for pattern in relative:
        matched = tree.match(path, pattern)
        if not matched:
            # VISS v2 core, "Multiple Signals Request": an invalid node among several is a 403.
            raise VissError(FORBIDDEN, f"{path}.{pattern} addresses no node evscreen has", action, request_id)
        signals += [s for s in matched if s not in signals]
    return signals, True


def _set(obj: dict[str, Any], path: str, tree: SignalTree, request_id: str, authorization: str | None) -> Set:
    if "filter" in obj:
        raise VissError(BAD_REQUEST, "set takes no filter: it sets one actuator", "set", request_id)
    if path not in tree.leaves:
        if tree.resolve(path) is None:
            raise VissError(NOT_FOUND, f"evscreen has no VSS node {path} (docs/vss.md lists them)", "set", request_id)
        raise VissError(BAD_REQUEST, f"{path} is a branch; set needs the path of one actuator", "set", request_id)
    signal = tree.leaves[path]
    if not signal.settable:
        raise VissError(BAD_REQUEST, f"{path} is a {signal.kind}; only actuators can be set", "set", request_id)
    if "value" not in obj:
        raise VissError(BAD_REQUEST, "set needs a \"value\" (a string, e.g. \"80\")", "set", request_id)
    raw = obj["value"]
    if not isinstance(raw, str) or len(raw) > MAX_VALUE_LENGTH:
        raise VissError(INVALID_DATA, f"a value is always a string in VISS, e.g. \"value\": \"{_example(signal)}\"",
                        "set", request_id)
    try:
        native = values.decode(signal, raw)
    except ValueError as exc:
        raise VissError(INVALID_DATA, str(exc), "set", request_id) from None
    return Set(request_id, signal, native, authorization)


def _check_watchable(request: Subscribe, filters: Filters, tree: SignalTree) -> None:
    watched = request.signals[0]
    single = not request.many or (filters.paths is not None and "*" not in filters.paths[0]
                                  and len(tree.match(request.path, filters.paths[0])) == 1)
    if not single:
        raise VissError(BAD_REQUEST, "a change or range filter watches one signal: subscribe to a leaf, or put "
                        "the watched signal first in a paths filter", "subscribe", request.request_id)
    if isinstance(request.trigger, Range) and watched.datatype in ("string", "boolean"):
        raise VissError(BAD_REQUEST, f"a range filter needs a numeric signal; {watched.path} is a {watched.datatype}",
                        "subscribe", request.request_id)
    if isinstance(request.trigger, Change) and watched.datatype == "string" and (
            request.trigger.op not in ("eq", "ne") or request.trigger.diff != 0):
        raise VissError(BAD_REQUEST, f"{watched.path} is a string: a change filter can only be "
                        "{\"logic-op\": \"ne\", \"diff\": \"0\"} (or eq)", "subscribe", request.request_id)


# --- responses ---------------------------------------------------------------------------------


def timestamp(wall: float) -> str:
    """VISS time: ISO 8601, UTC, with a trailing Z (milliseconds)."""
    return datetime.fromtimestamp(wall, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def data(points: list[tuple[str, str]], ts: str, many: bool) -> dict[str, Any] | list[dict[str, Any]]:
    """The ``data`` member: ``points`` are (path, value string), all captured at ``ts``."""
    items = [{"path": path, "dp": {"value": value, "ts": ts}} for path, value in points]
    return items if many else items[0]


def get_response(request_id: str, payload: dict[str, Any] | list[dict[str, Any]], ts: str) -> dict[str, Any]:
    return {"action": "get", "requestId": request_id, "data": payload, "ts": ts}


def metadata_response(request_id: str, metadata: dict[str, Any], ts: str) -> dict[str, Any]:
    return {"action": "get", "requestId": request_id, "metadata": metadata, "ts": ts}


def set_response(request_id: str, ts: str) -> dict[str, Any]:
    return {"action": "set", "requestId": request_id, "ts": ts}


def subscribe_response(request_id: str, subscription_id: str, ts: str) -> dict[str, Any]:
    return {"action": "subscribe", "subscriptionId": subscription_id, "requestId": request_id, "ts": ts}


def unsubscribe_response(request_id: str, subscription_id: str, ts: str) -> dict[str, Any]:
    return {"action": "unsubscribe", "subscriptionId": subscription_id, "requestId": request_id, "ts": ts}


def subscription_event(subscription_id: str, payload: dict[str, Any] | list[dict[str, Any]], ts: str) -> dict[str, Any]:
    return {"action": "subscription", "subscriptionId": subscription_id, "data": payload, "ts": ts}


def subscription_error(subscription_id: str, error: VissError, ts: str) -> dict[str, Any]:
    """The error event that ends a subscription."""
    return {"action": "subscription", "subscriptionId": subscription_id, "error": error.error_object(), "ts": ts}


def server_capabilities(secure: bool) -> dict[str, Any]:
    """Dynamic metadata ``server_capabilities`` (VISS v2 core, appendix "Server Capabilities").

    ``transport_protocol`` is ``wss`` with TLS; without it evscreen serves plain ``ws`` (loopback,
    or a trusted network with a token), which the specification has no name for.
    """
    return {"filter": list(FILTER_CAPABILITIES), "access_ctrl": [], "transport_protocol": ["wss" if secure else "ws"]}


def static_metadata(path: str, signals: tuple[Signal, ...], keys: tuple[str, ...], tree: SignalTree) -> dict[str, Any]:
    """The VSS metadata of ``signals`` under the node ``path``, nested as vss-tools' JSON export nests it."""
    name = path.rsplit(".", 1)[-1]
    if tree.is_leaf(path):
        return {name: _leaf_metadata(signals[0], keys)}
    root: dict[str, Any] = {"type": "branch", "children": {}}
    for signal in signals:
        node = root
        relative = signal.path[len(path) + 1:].split(".")
        for part in relative[:-1]:
            node = node["children"].setdefault(part, {"type": "branch", "children": {}})
        node["children"][relative[-1]] = _leaf_metadata(signal, keys)
    return {name: root}


def _leaf_metadata(signal: Signal, keys: tuple[str, ...]) -> dict[str, Any]:
    meta: dict[str, Any] = {"type": signal.kind, "datatype": signal.datatype, "description": signal.description}
    if signal.unit:
        meta["unit"] = signal.unit
    if signal.allowed:
        meta["allowed"] = list(signal.allowed)
    if signal.min is not None and not signal.allowed:
        meta["min"] = signal.min
    if signal.max is not None and not signal.allowed:
        meta["max"] = signal.max
    return {k: v for k, v in meta.items() if not keys or k in keys}


def _example(signal: Signal) -> str:
    if signal.allowed:
        return signal.allowed[0]
    return {"boolean": "true", "string": "text"}.get(signal.datatype, "50")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
