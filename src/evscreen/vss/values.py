"""Values between the telemetry message and VSS (pure).

Reading: a telemetry value becomes the VSS node's native value (converted, rounded to an integer
datatype, ``None`` when unknown or not representable) and then VISS's string form. Writing: a
VISS string is parsed by the node's datatype and limits, then converted back into the value of the
seed command that carries it out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from evscreen.vss.catalog import Scale, Signal

INTEGER_RANGES: dict[str, tuple[int, int]] = {
    "uint8": (0, 2**8 - 1), "int8": (-(2**7), 2**7 - 1),
    "uint16": (0, 2**16 - 1), "int16": (-(2**15), 2**15 - 1),
    "uint32": (0, 2**32 - 1), "int32": (-(2**31), 2**31 - 1),
    "uint64": (0, 2**64 - 1), "int64": (-(2**63), 2**63 - 1),
}
FLOAT_TYPES = frozenset({"float", "double"})
#: A number as RFC 8259 writes it, which is how VISS wants numbers in its strings.
JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def read_field(snapshot: Mapping[str, Any], field: str) -> Any:
    """The value at ``field`` ("speed", "gps.latitude") of a telemetry message; None if absent.

    A group that is missing or null (``predictions`` while predictions are off, ``battery_pack``
    before anything polled the BMS) reads as None for every field in it.
    """
    group, dot, name = field.partition(".")
    if not dot:
        return snapshot.get(field)
    members = snapshot.get(group)
    return members.get(name) if isinstance(members, Mapping) else None


def to_vss(signal: Signal, value: Any) -> Any:
    """Our value as the node's native VSS value, or None when it is unknown or does not fit."""
    if value is None:
        return None
    conversion = signal.conversion
    if isinstance(conversion, Scale):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None  # a source that wrote the wrong type: not a measurement
        value = conversion.to_vss(value)
    elif conversion is not None:
        value = conversion.to_vss(value)
        if value is None:
            return None
    return _as_datatype(signal.datatype, value)


def _as_datatype(datatype: str, value: Any) -> Any:
    if datatype in INTEGER_RANGES:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return None
        n = round(value)
        lo, hi = INTEGER_RANGES[datatype]
        return n if lo <= n <= hi else None
    if datatype in FLOAT_TYPES:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return None
        if isinstance(value, float):
            # A scaled value carries binary noise (2.3 psi * 6.89... = 15.857941774287231): keep 12
            # significant digits, far more than any sensor resolves.
            return float(f"{value:.12g}")
        return value
    if datatype == "boolean":
        return value if isinstance(value, bool) else None
    if datatype == "string":
        return value if isinstance(value, str) else None
    return None


def encode(value: Any) -> str:
    """A native value in VISS's string form ("true", "42", "12.5", "ECONOMY")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def decode(signal: Signal, text: str) -> Any:
    """A VISS string as the node's native value. Raises ValueError saying what is wrong."""
    datatype = signal.datatype
    if datatype == "boolean":
        if text not in ("true", "false"):
            raise ValueError(f"{signal.path} is a boolean: send \"true\" or \"false\", got {_quote(text)}")
        return text == "true"
    if datatype == "string":
        allowed = signal.allowed
        if allowed is not None and text not in allowed:
            raise ValueError(f"{signal.path} must be one of {', '.join(allowed)}, got {_quote(text)}")
        return text
    if datatype in INTEGER_RANGES or datatype in FLOAT_TYPES:
        if not JSON_NUMBER.fullmatch(text):
            raise ValueError(f"{signal.path} is a number ({datatype}): send it as a string like \"42\", "
                             f"got {_quote(text)}")
        number = float(text)
        if not math.isfinite(number):
            raise ValueError(f"{signal.path}: {_quote(text)} is out of range")
        value: int | float = number
        if datatype in INTEGER_RANGES:
            lo, hi = INTEGER_RANGES[datatype]
            if not number.is_integer() or not lo <= number <= hi:
                raise ValueError(f"{signal.path} is an integer from {lo} to {hi} ({datatype}), got {_quote(text)}")
            value = int(number)
        if (signal.min is not None and value < signal.min) or (signal.max is not None and value > signal.max):
            raise ValueError(f"{signal.path} must be from {signal.min:g} to {signal.max:g}, got {_quote(text)}")
        return value
    raise ValueError(f"{signal.path}: datatype {datatype} cannot be set")


def command_value(signal: Signal, native: Any) -> Any:
    """The seed command's value for a native VSS value (the conversion undone).

    A whole number arrives as an integer (VSS's brightness is a float percent, the seed's an
    integer), so "55" and "55.0" set 55 while "55.5" reaches the seed's check and is refused there.
    """
    value = native
    if signal.conversion is not None:
        value = signal.conversion.from_vss(native)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _quote(text: str) -> str:
    shown = text if len(text) <= 40 else text[:37] + "..."
    return '"' + shown.replace("\\", "\\\\").replace('"', '\\"') + '"'
