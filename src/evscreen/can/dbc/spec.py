"""A DBC as plain data (dicts, lists, numbers, strings): what the code generator needs, nothing more.

The spec is built once from a cantools database and cached with :mod:`marshal`, so a program
that decodes a log does not pay for importing cantools and parsing the DBC on every run.

Shapes (all keys always present)::

    DbcSpec     {"messages": [MessageSpec, ...]}
    MessageSpec {"name", "frame_id", "extended", "length", "cycle_time", "senders", "comment",
                 "signals": {name: SignalSpec}, "tree": Node}
    SignalSpec  {"name", "start", "length", "big_endian", "signed", "float", "conv", "scale",
                 "offset", "unit", "choices", "minimum", "maximum", "is_multiplexer", "comment"}
    Node        {"signals": [name, ...], "mux": [[mux_signal_name, {mux_id: Node}], ...]}

``conv`` says how cantools scales a raw value, so that we compute exactly what it computes:
``"identity"`` (raw as is), ``"int"`` (raw * int scale + int offset) or ``"linear"``
(raw * scale + offset, with scale and offset as cantools stores them).
"""

from __future__ import annotations

from typing import Any

DbcSpec = dict[str, Any]
MessageSpec = dict[str, Any]
SignalSpec = dict[str, Any]

#: Bumped whenever the spec's shape or the generated code changes, so stale caches are ignored.
SPEC_VERSION = 8


def first_bit(signal: SignalSpec) -> int:
    """Index of the signal's first bit counted from byte 0 bit 0 (little endian) or byte 0 MSB (big).

    A payload of ``n`` bytes holds the signal when ``first_bit + length <= 8 * n`` — the rule
    cantools applies to truncated payloads.
    """
    start = signal["start"]
    if signal["big_endian"]:
        return 8 * (start // 8) + (7 - start % 8)
    return start


def bytes_needed(signal: SignalSpec) -> int:
    return (first_bit(signal) + signal["length"] + 7) // 8


def decimals(resolution: float) -> int:
    """Decimal places that show multiples of this resolution without float noise (0.1 -> 1, 0.25 -> 2)."""
    resolution = abs(resolution)
    for digits in range(7):
        if abs(round(resolution, digits) - resolution) <= 1e-9 * max(1.0, resolution):
            return digits
    return 6


def spec_from_cantools(db: Any) -> DbcSpec:
    """Convert a loaded :class:`cantools.database.can.Database` into a :data:`DbcSpec`."""
    return {"messages": [_message_spec(m) for m in db.messages]}


def _message_spec(message: Any) -> MessageSpec:
    signals = {s.name: _signal_spec(s) for s in message.signals}
    return {
        "name": message.name,
        "frame_id": int(message.frame_id),
        "extended": bool(message.is_extended_frame),
        "length": int(message.length),
        "cycle_time": None if message.cycle_time is None else int(message.cycle_time),
        "senders": [str(s) for s in (message.senders or [])],
        "comment": _text(message.comment),
        "signals": signals,
        "tree": _node(message._codecs),
    }


def _node(codec: dict[str, Any]) -> dict[str, Any]:
    # cantools' own codec tree, so that multiplexing is resolved exactly as it resolves it. Private:
    # pyproject admits only the cantools versions tests/test_dbc_decoder.py was run against.
    return {
        "signals": [s.name for s in codec["signals"]],
        "mux": [[name, {int(mux_id): _node(child) for mux_id, child in children.items()}]
                for name, children in codec["multiplexers"].items()],
    }


def _signal_spec(signal: Any) -> SignalSpec:
    conv, scale, offset = _conversion(signal)
    choices = None
    if signal.choices:
        choices = {int(k): str(v) for k, v in signal.choices.items()}
    return {
        "name": signal.name,
        "start": int(signal.start),
        "length": int(signal.length),
        "big_endian": signal.byte_order == "big_endian",
        "signed": bool(signal.is_signed),
        "float": bool(signal.is_float),
        "conv": conv,
        "scale": scale,
        "offset": offset,
        "unit": signal.unit or "",
        "choices": choices,
        "minimum": signal.minimum,
        "maximum": signal.maximum,
        "is_multiplexer": bool(signal.is_multiplexer),
        "comment": _text(signal.comment),
    }


def _conversion(signal: Any) -> tuple[str, Any, Any]:
    """(kind, scale, offset) exactly as cantools' conversion object will apply them."""
    conversion = getattr(signal, "conversion", None)
    # NamedSignalConversion wraps another in a private attribute (hence pyproject's bound on cantools).
    inner = getattr(conversion, "_conversion", conversion)
    name = type(inner).__name__
    if name == "IdentityConversion":
        return "identity", 1, 0
    if name == "LinearIntegerConversion":
        return "int", int(inner.scale), int(inner.offset)
    if name == "LinearConversion":
        return "linear", inner.scale, inner.offset
    # An older or newer cantools: fall back to the rules its factory uses.
    scale, offset = signal.scale, signal.offset
    if scale == 1 and offset == 0:
        return "identity", 1, 0
    if float(scale).is_integer() and float(offset).is_integer() and not signal.is_float:
        return "int", int(scale), int(offset)
    return "linear", scale, offset


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):  # cantools keeps multilingual comments as {language: text}
        value = next(iter(value.values()), None)
    return None if value is None else str(value)
