"""VISS v2 filter expressions: parsing them and deciding when a subscription fires (pure).

A filter is one ``{"type": ..., "parameter": ...}`` object, or an array of two: at most one
``paths`` plus one other. Supported: ``paths``, ``timebased``, ``change``, ``range``,
``static-metadata``, ``dynamic-metadata`` (``server_capabilities``) and ``history`` (answered
with 404: evscreen keeps no history). ``curvelog`` is refused.

Trigger semantics (VISS v2 core, "Filter Request"):

- ``timebased`` ``{"period": "500"}``: an event every period (milliseconds).
- ``change`` ``{"logic-op": "gt", "diff": "10"}``: an event when ``current - last op diff``. For a
  number, *last* is the value last reported ("since last capture"; the value when the subscription
  started, at first), so a slow drift is reported once it adds up to ``diff``. For a boolean or a
  string it is the previous sample, so each transition counts: booleans count as 0 and 1 (``gt 0``
  is false -> true, ``lt 0`` true -> false, ``ne 0`` either), strings allow ``ne``/``eq`` with diff
  ``"0"``. A value appearing where there was none counts as a change.
- ``range`` ``{"boundary-op": "gt", "boundary": "50"}``, or two such objects, the first with an
  optional ``"combination-op": "AND" | "OR"`` (AND by default): an event each time the watched
  signal takes a new value that lies in the range.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from evscreen.vss.errors import BAD_REQUEST, INVALID_DATA, VissError
from evscreen.vss.values import JSON_NUMBER

OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq, "ne": operator.ne, "gt": operator.gt, "gte": operator.ge, "lt": operator.lt,
    "lte": operator.le,
}
TYPES = ("paths", "timebased", "change", "range", "curvelog", "history", "static-metadata", "dynamic-metadata")
SUPPORTED = ("paths", "timebased", "change", "range", "history", "static-metadata", "dynamic-metadata")
TRIGGERS = ("timebased", "change", "range")
MAX_PATHS = 64
MAX_PATH_LENGTH = 512


@dataclass(frozen=True)
class Timebased:
    period_ms: int


@dataclass(frozen=True)
class Change:
    op: str
    diff: float

    def step(self, last: Any, current: Any) -> tuple[bool, Any]:
        """Whether ``current`` fires against ``last``, and the *last* to compare the next sample with."""
        if current is None:
            return False, last
        if last is None:
            return self.op != "eq", current
        if isinstance(current, str):  # transitions: compared with the previous sample
            return OPERATORS[self.op](current != last, self.diff != 0), current
        if isinstance(current, bool):
            return OPERATORS[self.op](_number(current) - _number(last), self.diff), current
        fires = OPERATORS[self.op](_number(current) - _number(last), self.diff)
        return fires, current if fires else last  # a deadband: compared with the last reported value


@dataclass(frozen=True)
class Range:
    bounds: tuple[tuple[str, float], ...]
    combination: str  # "AND" or "OR"

    def holds(self, value: Any) -> bool:
        if value is None or isinstance(value, str):
            return False
        results = [OPERATORS[op](_number(value), boundary) for op, boundary in self.bounds]
        return all(results) if self.combination == "AND" else any(results)


Trigger = Timebased | Change | Range


@dataclass(frozen=True)
class Filters:
    """What a request's filter asks for; each part None when absent."""

    paths: tuple[str, ...] | None = None
    trigger: Trigger | None = None
    static_metadata: tuple[str, ...] | None = None  # () = every key
    dynamic_metadata: str | None = None
    history: str | None = None


def parse_filters(raw: Any, action: str, request_id: str | None, limits: tuple[int, int]) -> Filters:
    """Parse the ``filter`` member of a request. ``limits`` is (smallest, largest) period in ms."""

    def bad(message: str, status: tuple[int, str] = BAD_REQUEST) -> VissError:
        return VissError(status, message, action, request_id)

    items = raw if isinstance(raw, list) else [raw]
    if not items or len(items) > 2:
        raise bad("filter must be one {\"type\", \"parameter\"} object or an array of two")
    parts: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, dict) or "type" not in item or "parameter" not in item:
            raise bad("each filter must be an object with \"type\" and \"parameter\"")
        kind = item["type"]
        if kind not in TYPES:
            raise bad(f"unknown filter type {_show(kind)} (VISS v2 has: {', '.join(TYPES)})")
        if kind not in SUPPORTED:
            raise bad(f"filter type {kind} is not supported by evscreen (supported: {', '.join(SUPPORTED)})")
        if kind in parts or (kind != "paths" and any(k != "paths" for k in parts)):
            raise bad("a filter combines at most one \"paths\" with one other type")
        parts[kind] = item["parameter"]
    allowed = (("paths",) + TRIGGERS) if action == "subscribe" else (
        "paths", "history", "static-metadata", "dynamic-metadata")
    for kind in parts:
        if kind not in allowed:
            raise bad(f"a {kind} filter cannot be used with {action}")
    result: dict[str, Any] = {}
    if "paths" in parts:
        result["paths"] = _paths(parts["paths"], bad)
    if "timebased" in parts:
        result["trigger"] = _timebased(parts["timebased"], bad, limits)
    if "change" in parts:
        result["trigger"] = _change(parts["change"], bad)
    if "range" in parts:
        result["trigger"] = _range(parts["range"], bad)
    if "static-metadata" in parts:
        result["static_metadata"] = _metadata_keys(parts["static-metadata"], bad)
    if "dynamic-metadata" in parts:
        if not isinstance(parts["dynamic-metadata"], str):
            raise bad("a dynamic-metadata parameter is one name, e.g. \"server_capabilities\"")
        result["dynamic_metadata"] = parts["dynamic-metadata"]
    if "history" in parts:
        if not isinstance(parts["history"], str):
            raise bad("a history parameter is an ISO 8601 duration string, e.g. \"P2DT12H\"")
        result["history"] = parts["history"]
    return Filters(**result)


def _paths(parameter: Any, bad: Callable[..., VissError]) -> tuple[str, ...]:
    paths = [parameter] if isinstance(parameter, str) else parameter
    if not isinstance(paths, list) or not paths or len(paths) > MAX_PATHS:
        raise bad(f"a paths parameter is a relative path or an array of 1 to {MAX_PATHS} of them")
    for path in paths:
        if not isinstance(path, str) or not path or len(path) > MAX_PATH_LENGTH:
            raise bad("each path of a paths filter must be a non-empty string of at most "
                      f"{MAX_PATH_LENGTH} characters")
    return tuple(p.removeprefix("/").replace("/", ".") if "/" in p else p for p in paths)


def _timebased(parameter: Any, bad: Callable[..., VissError], limits: tuple[int, int]) -> Timebased:
    period = parameter.get("period") if isinstance(parameter, dict) else None
    if not isinstance(period, str) or not period.isascii() or not period.isdigit() or len(period) > 12:
        raise bad("a timebased parameter is {\"period\": \"MILLISECONDS\"}, e.g. {\"period\": \"500\"}")
    lo, hi = limits
    value = int(period)
    if not lo <= value <= hi:
        raise bad(f"period must be from {lo} to {hi} ms, got {value}", INVALID_DATA)
    return Timebased(value)


def _change(parameter: Any, bad: Callable[..., VissError]) -> Change:
    if not isinstance(parameter, dict):
        raise bad("a change parameter is {\"logic-op\": \"ne\", \"diff\": \"0\"}")
    op = parameter.get("logic-op")
    if op not in OPERATORS:
        raise bad(f"logic-op must be one of {', '.join(OPERATORS)}, got {_show(op)}")
    return Change(op, _number_text(parameter.get("diff"), "diff", bad))


def _range(parameter: Any, bad: Callable[..., VissError]) -> Range:
    items = parameter if isinstance(parameter, list) else [parameter]
    if len(items) not in (1, 2) or not all(isinstance(i, dict) for i in items):
        raise bad("a range parameter is {\"boundary-op\": \"gt\", \"boundary\": \"50\"} or an array of two")
    bounds = []
    for item in items:
        op = item.get("boundary-op")
        if op not in OPERATORS:
            raise bad(f"boundary-op must be one of {', '.join(OPERATORS)}, got {_show(op)}")
        bounds.append((op, _number_text(item.get("boundary"), "boundary", bad)))
    combination = items[0].get("combination-op", "AND")
    if combination not in ("AND", "OR"):
        raise bad(f"combination-op must be \"AND\" or \"OR\", got {_show(combination)}")
    return Range(tuple(bounds), combination)


def _metadata_keys(parameter: Any, bad: Callable[..., VissError]) -> tuple[str, ...]:
    if parameter == "":
        return ()
    keys = [parameter] if isinstance(parameter, str) else parameter
    if not isinstance(keys, list) or not all(isinstance(k, str) and 0 < len(k) <= 64 for k in keys) or len(keys) > 16:
        raise bad("a static-metadata parameter is \"\" (everything), a key name or an array of key names")
    return tuple(keys)


def _number_text(value: Any, name: str, bad: Callable[..., VissError]) -> float:
    if not isinstance(value, str) or len(value) > 40 or not JSON_NUMBER.fullmatch(value):
        raise bad(f"{name} must be a number written as a string, e.g. \"10\", got {_show(value)}")
    number = float(value)
    if number in (float("inf"), float("-inf")):
        raise bad(f"{name} is out of range")
    return number


def _number(value: Any) -> float:
    return float(value)  # bool -> 0.0 / 1.0, as the change filter's boolean rules want


def _show(value: Any) -> str:
    if isinstance(value, str):
        return '"' + (value if len(value) <= 40 else value[:37] + "...") + '"'
    if value is None:
        return "nothing"
    return type(value).__name__
