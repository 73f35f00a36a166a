"""Generate Python source for one decode function per message (pure).

Each function turns the payload into one or two integers with :meth:`int.from_bytes` and reads
every signal with a precomputed shift and mask, sign-extends with ``(x ^ h) - h``, and scales with
the very numbers and operations cantools uses, so results are identical to
``Database.decode_message(..., decode_choices=False)`` — just without the layers in between.

The entry function of a message accepts any payload and passes one of another length to
``_other[index]``, which the decoder provides. For a payload of ``n`` bytes a function is
generated for exactly ``n`` bytes: signals that do
not fit are left out (cantools' ``allow_truncated`` rule) and multiplexed groups whose multiplexer
is missing are skipped. An unknown multiplexer value raises :class:`UnknownMux` carrying the
signals decoded so far (cantools raises ``DecodeError``).
"""

from __future__ import annotations

import struct
from typing import Any

from evscreen.can.dbc.spec import MessageSpec, SignalSpec, bytes_needed, first_bit


class UnknownMux(Exception):
    """A multiplexer value the DBC does not define; ``signals`` holds what was decoded."""

    def __init__(self, signals: dict[str, Any], multiplexer: str, value: int) -> None:
        super().__init__(f"{multiplexer} = {value} is not defined in the DBC")
        self.signals = signals
        self.multiplexer = multiplexer
        self.value = value


#: Names the generated code may use besides its own constants.
RUNTIME: dict[str, Any] = {
    "_UnknownMux": UnknownMux,
    "_f16": struct.Struct("<e").unpack,
    "_f32": struct.Struct("<f").unpack,
    "_f64": struct.Struct("<d").unpack,
    "_from_bytes": int.from_bytes,
}

_FLOAT_UNPACK = {16: "_f16", 32: "_f32", 64: "_f64"}


def function_name(index: int, nbytes: int | None = None, choices: bool = False) -> str:
    return f"_m{index}" + ("" if nbytes is None else f"_n{nbytes}") + ("_c" if choices else "")


def message_source(index: int, message: MessageSpec, nbytes: int | None = None, choices: bool = False) -> str:
    """Source of ``def _m<index>(data): ...`` for payloads of ``nbytes`` (default: the DBC length).

    The caller passes ``data`` of exactly that many bytes. With ``choices`` the function returns
    value-table names (``str``) instead of numbers for raw values the DBC names.
    """
    length = message["length"] if nbytes is None else nbytes
    guard = None
    if nbytes is None and not choices:
        # The entry point takes any payload: other lengths go to ``_other[index]`` (slicing a long
        # payload, or the function generated for a short one), so callers need no length check.
        guard = f"    if len(data) != {length}:\n        return _other[{index}](data)"
    return _Generator(message, length, choices, function_name(index, nbytes, choices)).function(guard)


class _Generator:
    def __init__(self, message: MessageSpec, nbytes: int, choices: bool, name: str) -> None:
        self.name = name
        self.message = message
        self.signals: dict[str, SignalSpec] = message["signals"]
        self.nbits = 8 * nbytes
        self.nbytes = nbytes
        self.choices = choices
        self.uses_little = False
        self.uses_big = False
        self.constants: dict[str, Any] = {}
        self.prelude: list[str] = []

    def fits(self, name: str) -> bool:
        return bytes_needed(self.signals[name]) <= self.nbytes

    def raw(self, s: SignalSpec) -> str:
        """Expression for the raw (unscaled) value, sign-extended or reinterpreted as float."""
        length = s["length"]
        mask = (1 << length) - 1
        first = first_bit(s)
        low, high = first // 8, (first + length - 1) // 8
        if not s["float"] and high - low < 3:
            # Within three bytes: combine indexed payload bytes (small ints) rather than shifting a
            # 64-bit integer built from the whole payload.
            if s["big_endian"]:
                shift = 7 - (first + length - 1) % 8
                parts = [f"data[{k}]" + (f" << {8 * (high - k)}" if k < high else "") for k in range(low, high + 1)]
            else:
                shift = s["start"] % 8
                parts = [f"data[{k}]" + (f" << {8 * (k - low)}" if k > low else "") for k in range(low, high + 1)]
            expr = parts[0] if len(parts) == 1 else f"({' | '.join(parts)})"
            if shift:
                expr = f"({expr} >> {shift})"
            if shift + length < 8 * (high - low + 1):
                expr = f"({expr} & {mask:#x})"
            if s["signed"]:
                half = 1 << (length - 1)
                return f"(({expr} ^ {half:#x}) - {half:#x})"
            return expr
        if s["big_endian"]:
            self.uses_big = True
            shift = self.nbits - (first_bit(s) + length)
            var = "B"
        else:
            self.uses_little = True
            shift = s["start"]
            var = "L"
        expr = var if shift == 0 else f"({var} >> {shift})"
        if shift + length < self.nbits:
            expr = f"({expr} & {mask:#x})"
        if s["float"]:
            unpack = _FLOAT_UNPACK.get(length)
            if unpack is None:
                raise ValueError(f"{self.message['name']}.{s['name']}: float signals must be 16, 32 or 64 bits")
            return f"{unpack}({expr}.to_bytes({length // 8}, 'little'))[0]"
        if s["signed"]:
            half = 1 << (length - 1)
            return f"(({expr} ^ {half:#x}) - {half:#x})"
        return expr

    def scaled(self, s: SignalSpec, raw: str) -> str:
        kind = s["conv"]
        if kind == "identity":
            return raw
        scale, offset = s["scale"], s["offset"]
        if kind == "int":
            out = raw if scale == 1 else f"{raw} * {scale!r}"
            return out if offset == 0 else f"({out} + {offset!r})"
        # "linear": the same two float operations cantools performs, with the same operands. Adding
        # a zero offset changes nothing unless the product is -0.0, which an integer raw value
        # times a positive scale never is: then the addition is left out.
        if offset == 0 and not s["float"] and scale > 0:
            return f"({raw} * {_literal(scale)})"
        return f"({raw} * {_literal(scale)} + {_literal(offset)})"

    def value(self, name: str) -> str:
        s = self.signals[name]
        raw = self.raw(s)
        if self.choices and s["choices"]:
            table = f"{self.name}_c{len(self.constants)}"
            self.constants[table] = s["choices"]
            # cantools looks the raw value up in the table and scales it when it is not there.
            return f"({table}[_r] if (_r := {raw}) in {table} else {self.scaled(s, '_r')})"
        return self.scaled(s, raw)

    def node(self, node: dict[str, Any], indent: str, first: bool, depth: int = 0) -> list[str]:
        names = [n for n in node["signals"] if self.fits(n)]
        lines: list[str] = []
        if first:
            values = self.byte_tables(names, lines, indent)
            items = ", ".join(f"{name!r}: {values.get(name) or self.value(name)}" for name in names)
            lines.append(f"{indent}d = {{{items}}}")
        else:
            lines += [f"{indent}d[{name!r}] = {self.value(name)}" for name in names]
        for mux_name, children in node["mux"]:
            if not self.fits(mux_name):
                continue  # the multiplexer itself is cut off: its whole group is missing
            var = f"m{depth}"
            s = self.signals[mux_name]
            lines.append(f"{indent}{var} = int({self.scaled(s, self.raw(s))})")
            if not children:
                continue
            keyword = "if"
            for mux_id, child in children.items():
                body = self.node(child, indent + "    ", False, depth + 1)
                lines.append(f"{indent}{keyword} {var} == {mux_id}:")
                lines += body or [f"{indent}    pass"]
                keyword = "elif"
            lines.append(f"{indent}else:")
            lines.append(f"{indent}    raise _UnknownMux(d, {mux_name!r}, {var})")
        return lines

    def byte_tables(self, names: list[str], lines: list[str], indent: str) -> dict[str, str]:
        """Read several signals that share one payload byte with one table lookup.

        For each byte holding two or more whole signals, a table built once when the module loads
        maps each of the 256 byte values to those signals' values — computed by the very
        expressions the function would run, so the results are the same.
        """
        by_byte: dict[int, list[str]] = {}
        for name in names:
            s = self.signals[name]
            first = first_bit(s)
            if not s["float"] and not s["is_multiplexer"] and first // 8 == (first + s["length"] - 1) // 8:
                by_byte.setdefault(first // 8, []).append(name)
        values: dict[str, str] = {}
        for byte, group in by_byte.items():
            if len(group) < 2:
                continue
            table = f"{self.name}_b{byte}"
            exprs = [self.value(name).replace(f"data[{byte}]", "_v") for name in group]
            self.prelude.append(f"{table} = tuple(({', '.join(exprs)},) for _v in range(256))")
            temps = [f"_s{len(values) + i}" for i in range(len(group))]
            lines.append(f"{indent}{', '.join(temps)}, = {table}[data[{byte}]]")
            values.update(zip(group, temps, strict=True))
        return values

    def function(self, guard: str | None = None) -> str:
        body = self.node(self.message["tree"], "    ", True)
        if not self.message["tree"]["mux"] and body[-1].startswith("    d = {"):
            body[-1] = "    return " + body[-1][len("    d = "):]  # no multiplexing: return the dict as built
        head = [f"def {self.name}(data):"] + ([guard] if guard else [])
        if self.uses_little:
            head.append("    L = _from_bytes(data, 'little')")
        if self.uses_big:
            head.append("    B = _from_bytes(data, 'big')")
        consts = [f"{k} = {v!r}" for k, v in self.constants.items()]
        tail = [] if body[-1].startswith("    return ") else ["    return d"]
        return "\n".join(consts + self.prelude + head + body + tail + [""])


def _literal(value: Any) -> str:
    """A literal that evaluates to exactly ``value`` (floats: repr round-trips; inf and nan too)."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return f"float({str(value)!r})"
    return repr(value)
