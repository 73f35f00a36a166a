"""Encode DBC messages from physical signal values (pure: values in, payload bytes out).

The counterpart of :mod:`evscreen.can.dbc.decoder`, built from the same cached
:data:`~evscreen.can.dbc.spec.DbcSpec`, so a program that encodes (the simulated vehicle) needs no
cantools either. Physical values become raw values exactly as cantools'
``Message.encode(..., scaling=True)`` computes them; where cantools refuses a value out of the
signal's range, this encoder saturates it to the range, as a sensor's ECU does.

A payload is handled as one integer, the payload read big-endian (``int.from_bytes(data,
"big")``), so that each signal is one shift and one OR, and a frame's rolling counter can be
ORed into a payload prepared once (:meth:`MessageEncoder.raw_bits`). As for decoding, each message
variant gets a generated function with the signals' constants written in (:func:`encoder_source`);
:meth:`SignalEncoder.raw` is the same conversion, one signal at a time.

Multiplexed messages have several *variants*, one per combination of multiplexer values; each
frame carries one of them (:attr:`MessageEncoder.variants`).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Mapping
from typing import Any

from evscreen.can.dbc.spec import MessageSpec, SignalSpec, first_bit

_FLOAT_PACK = {16: struct.Struct("<e").pack, 32: struct.Struct("<f").pack, 64: struct.Struct("<d").pack}


class SignalEncoder:
    """One signal's conversion physical value -> raw bits at their place in the payload integer."""

    __slots__ = ("name", "length", "signed", "is_float", "conv", "scale", "offset", "minimum", "maximum",
                 "raw_min", "raw_max", "mask", "shift", "little", "nbytes", "choices", "_pack")

    def __init__(self, spec: SignalSpec, nbytes: int) -> None:
        self.name: str = spec["name"]
        self.length: int = spec["length"]
        self.signed: bool = spec["signed"]
        self.is_float: bool = spec["float"]
        self.conv: str = spec["conv"]
        self.scale = spec["scale"]
        self.offset = spec["offset"]
        self.minimum: float | None = spec["minimum"]
        self.maximum: float | None = spec["maximum"]
        self.nbytes = nbytes
        self.mask: int = (1 << self.length) - 1
        if self.signed:
            self.raw_min, self.raw_max = -(1 << (self.length - 1)), (1 << (self.length - 1)) - 1
        else:
            self.raw_min, self.raw_max = 0, self.mask
        self.little = not spec["big_endian"]
        # Little-endian signals are placed in the payload read little-endian, then byte-swapped.
        self.shift: int = spec["start"] if self.little else 8 * nbytes - (first_bit(spec) + self.length)
        if self.shift < 0 or self.shift + self.length > 8 * nbytes:
            raise ValueError(f"signal {self.name} does not fit in {nbytes} bytes")
        self.choices: dict[str, int] = {name: raw for raw, name in (spec["choices"] or {}).items()}
        self._pack: Callable[[float], bytes] | None = None  # set for float signals, and only for them
        if self.is_float:
            pack = _FLOAT_PACK.get(self.length)
            if pack is None:
                raise ValueError(f"signal {self.name}: float signals must be 16, 32 or 64 bits")
            self._pack = pack

    def raw(self, value: Any) -> int:
        """The raw bits (an unsigned integer of ``length`` bits) for a physical value or a value-table name."""
        if value.__class__ is str:
            try:
                return self.choices[value] & self.mask
            except KeyError:
                raise ValueError(f"{self.name}: {value!r} is not in its value table "
                                 f"({', '.join(self.choices) or 'none'})") from None
        value = float(value)
        if not -math.inf < value < math.inf:  # also false for NaN
            raise ValueError(f"{self.name}: cannot encode {value}")
        low, high = self.minimum, self.maximum
        if low is not None and value < low:
            value = low
        if high is not None and value > high:
            value = high
        conv = self.conv
        if self._pack is not None:
            scaled = value if conv == "identity" else (value - self.offset) / self.scale
            return int.from_bytes(self._pack(scaled), "little")
        raw: int
        if conv == "linear":
            raw = round((value - self.offset) / self.scale)
        elif conv == "identity":
            raw = round(value)
        else:
            # cantools' exact-integer path: no float division when the value is a multiple.
            quotient, remainder = divmod(value - self.offset, self.scale)
            raw = round(quotient if remainder == 0 else (value - self.offset) / self.scale)
        if raw > self.raw_max:
            raw = self.raw_max
        elif raw < self.raw_min:
            raw = self.raw_min
        return raw & self.mask

    def place(self, raw: int) -> int:
        """Raw bits at their position in the payload integer (big-endian reading of the payload)."""
        bits = raw << self.shift
        if self.little:
            n = self.nbytes
            bits = int.from_bytes(bits.to_bytes(n, "little"), "big")
        return bits


class MessageEncoder:
    """One DBC message: physical values (by signal name) -> payload.

    ``variants`` lists, per multiplexer combination, the multiplexer values it sets; a message
    without multiplexing has one variant, ``{}``.
    """

    def __init__(self, spec: MessageSpec) -> None:
        self.spec = spec
        self.name: str = spec["name"]
        self.frame_id: int = spec["frame_id"]
        self.is_extended: bool = spec["extended"]
        self.length: int = spec["length"]
        self.cycle_time: int | None = spec["cycle_time"]
        self.signals = {name: SignalEncoder(s, self.length) for name, s in spec["signals"].items()}
        combos = _variants(spec["tree"])
        self.variants: list[dict[str, int]] = [mux for mux, _ in combos]
        self._members: list[list[SignalEncoder]] = [
            [self.signals[n] for n in names if n not in mux] for mux, names in combos
        ]
        # Multiplexer values are raw values (as in the DBC's ``m<id>``), placed once per variant.
        self._mux_bits = [sum(self.raw_bits(n, v) for n, v in mux.items()) for mux in self.variants]
        namespace: dict[str, Any] = {"_from_bytes": int.from_bytes, "_bad": _bad, "_FLOAT_PACK": _FLOAT_PACK,
                                     "_inf": math.inf}
        source = "\n".join(encoder_source(f"_e{v}", members, self._mux_bits[v], self.length, namespace)
                           for v, members in enumerate(self._members))
        exec(compile(source, f"<encoder {self.name}>", "exec"), namespace)
        self._functions: list[Callable[[Mapping[str, Any]], int]] = [
            namespace[f"_e{v}"] for v in range(len(self.variants))]

    def __repr__(self) -> str:
        return f"<MessageEncoder {self.name}>"

    def signal_names(self, variant: int = 0) -> list[str]:
        """Signals a frame of this variant carries, multiplexers included."""
        return list(self.variants[variant]) + [s.name for s in self._members[variant]]

    def encode_int(self, values: Mapping[str, Any], variant: int = 0) -> int:
        """The payload as an integer (big-endian reading); signals missing from ``values`` (or None) are raw 0.

        Raises ValueError for a value that is not finite or a name that is not in the value table.
        """
        return self._functions[variant](values)

    def encode(self, values: Mapping[str, Any], variant: int = 0) -> bytes:
        return self.encode_int(values, variant).to_bytes(self.length, "big")

    def raw_bits(self, signal: str, raw: int) -> int:
        """A raw value of ``signal`` placed in the payload integer (for ORing into a prepared payload)."""
        s = self.signals[signal]
        return s.place(raw & s.mask)


def _variants(node: dict[str, Any]) -> list[tuple[dict[str, int], list[str]]]:
    """Every multiplexer combination of a codec tree: (multiplexer values, signals present)."""
    combos: list[tuple[dict[str, int], list[str]]] = [({}, list(node["signals"]))]
    for mux_name, children in node["mux"]:
        if not children:
            continue
        expanded = []
        for mux, names in combos:
            for mux_id, child in children.items():
                for child_mux, child_names in _variants(child):
                    expanded.append(({**mux, mux_name: mux_id, **child_mux}, names + child_names))
        combos = expanded
    return combos


def _bad(signal: SignalEncoder, value: Any) -> int:
    """What a generated function calls for a value it cannot encode: :meth:`SignalEncoder.raw` says why."""
    signal.raw(value)  # raises ValueError naming the signal
    raise ValueError(f"{signal.name}: cannot encode {value!r}")


def encoder_source(name: str, members: list[SignalEncoder], mux_bits: int, nbytes: int,
                   namespace: dict[str, Any]) -> str:
    """Source of ``def <name>(v)``: the payload integer of one message variant from ``v`` (a mapping).

    Constants that are not plain literals (value tables, the signals for error messages) are put
    in ``namespace`` under names the source uses.
    """
    lines = [f"def {name}(v):", f"    b = {mux_bits:#x}", "    l = 0", "    get = v.get"]
    for i, s in enumerate(members):
        sig = f"{name}_s{i}"
        namespace[sig] = s
        lines.append(f"    x = get({s.name!r})")
        lines.append("    if x is not None:")
        body = ["if x.__class__ is str:"]
        if s.choices:
            table = f"{name}_c{i}"
            namespace[table] = {k: raw & s.mask for k, raw in s.choices.items()}
            body.append(f"    r = {table}.get(x)")
            body.append(f"    if r is None: r = _bad({sig}, x)")
        else:
            body.append(f"    r = _bad({sig}, x)")
        body.append("else:")
        body += ["    " + line for line in _numeric(s, sig)]
        target = "l" if s.little else "b"
        body.append(f"{target} |= r << {s.shift}" if s.shift else f"{target} |= r")
        lines += ["        " + line for line in body]
    lines.append(f"    if l: b |= _from_bytes(l.to_bytes({nbytes}, 'little'), 'big')")
    lines.append("    return b")
    return "\n".join(lines) + "\n"


def _numeric(s: SignalEncoder, sig: str) -> list[str]:
    """Lines turning the number ``x`` into raw bits ``r``, exactly as :meth:`SignalEncoder.raw` does."""
    out = ["x = float(x)", f"if not -_inf < x < _inf: _bad({sig}, x)"]
    if s.minimum is not None:
        out.append(f"if x < {s.minimum!r}: x = {s.minimum!r}")
    if s.maximum is not None:
        out.append(f"if x > {s.maximum!r}: x = {s.maximum!r}")
    if s.is_float:
        scaled = "x" if s.conv == "identity" else f"(x - {s.offset!r}) / {s.scale!r}"
        out.append(f"r = _from_bytes(_FLOAT_PACK[{s.length}]({scaled}), 'little')")
        return out
    if s.conv == "linear":
        out.append(f"r = round(x / {s.scale!r})" if s.offset == 0 else f"r = round((x - {s.offset!r}) / {s.scale!r})")
    elif s.conv == "identity":
        out.append("r = round(x)")
    else:
        out.append(f"q, m = divmod(x - {s.offset!r}, {s.scale!r})")
        out.append(f"r = round(q if m == 0 else (x - {s.offset!r}) / {s.scale!r})")
    out.append(f"if r > {s.raw_max}: r = {s.raw_max}")
    out.append(f"elif r < {s.raw_min}: r = {s.raw_min}")
    if s.signed:
        out.append(f"r &= {s.mask:#x}")
    return out
