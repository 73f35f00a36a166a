"""The compiled DBC decoder (pure: frames in, signal values out).

:class:`DbcDecoder` holds one :class:`CompiledMessage` per DBC message, each with a generated
decode function (:mod:`evscreen.can.dbc.codegen`). Values equal cantools'
``decode_message(frame_id, data, decode_choices=False, allow_truncated=True)``; what cantools
treats as errors, a real bus treats as normal and so do we:

- a payload shorter than the DBC's length decodes the signals that fit; :meth:`CompiledMessage.missing`
  names the others;
- a longer payload decodes its first ``length`` bytes (cantools' ``allow_excess``);
- an undefined multiplexer value yields the signals outside the multiplexed group, and
  :meth:`CompiledMessage.decode_frame` reports the value.

Unknown IDs are not errors either: :meth:`DbcDecoder.find` returns ``None`` and callers count them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from evscreen.can.dbc import codegen
from evscreen.can.dbc.codegen import UnknownMux
from evscreen.can.dbc.spec import DbcSpec, MessageSpec, bytes_needed


class Decoded(NamedTuple):
    """One decoded frame."""

    message: CompiledMessage
    signals: dict[str, Any]
    missing: tuple[str, ...]  # signals the payload was too short to hold
    unknown_mux: str | None  # "Mux = 7" when the multiplexer value is not in the DBC


class CompiledMessage:
    """One DBC message with its generated decode function."""

    __slots__ = ("index", "spec", "name", "frame_id", "is_extended", "length", "cycle_time", "signals",
                 "has_choices", "_decode", "_namespace", "_variants", "_missing", "__weakref__")

    def __init__(self, index: int, spec: MessageSpec, namespace: dict[str, Any]) -> None:
        self.index = index
        self.spec = spec
        self.name: str = spec["name"]
        self.frame_id: int = spec["frame_id"]
        self.is_extended: bool = spec["extended"]
        self.length: int = spec["length"]
        self.cycle_time: int | None = spec["cycle_time"]
        self.signals: dict[str, dict[str, Any]] = spec["signals"]
        self.has_choices = any(s["choices"] for s in self.signals.values())
        self._namespace = namespace
        self._decode = namespace[codegen.function_name(index)]
        self._variants: dict[tuple[int, bool], Any] = {}
        self._missing: dict[int, tuple[str, ...]] = {}

    def __repr__(self) -> str:
        return f"<CompiledMessage {self.name} {self.id_text}>"

    @property
    def id_text(self) -> str:
        return f"0x{self.frame_id:08X}" if self.is_extended else f"0x{self.frame_id:03X}"

    def decode(self, data: bytes, choices: bool = False) -> dict[str, Any]:
        """Signal values of ``data``: those that fit, and none of a group with an unknown multiplexer value."""
        try:
            if not choices:
                return self._decode(data)  # handles every length itself
            n = len(data)
            return self._variant(min(n, self.length), True)(data if n <= self.length else data[:self.length])
        except UnknownMux as exc:
            return exc.signals

    def _other_length(self, data: bytes) -> dict[str, Any]:
        """What the generated entry function calls for a payload that is not ``length`` bytes long."""
        n = len(data)
        if n > self.length:
            return self._decode(data[:self.length])
        return self._variant(n, False)(data)

    def decode_frame(self, data: bytes, choices: bool = False) -> Decoded:
        """Like :meth:`decode`, also naming missing signals and an unknown multiplexer value."""
        n = len(data)
        try:
            fn = self._variant(min(n, self.length), choices)
            signals = fn(data if n == self.length else data[:self.length])
            unknown = None
        except UnknownMux as exc:
            signals = exc.signals
            unknown = f"{exc.multiplexer} = {exc.value}"
        return Decoded(self, signals, self.missing(n), unknown)

    def missing(self, nbytes: int) -> tuple[str, ...]:
        """Signals that a payload of ``nbytes`` bytes is too short to hold (empty for full frames)."""
        if nbytes >= self.length:
            return ()
        found = self._missing.get(nbytes)
        if found is None:
            found = tuple(name for name, s in self.signals.items() if bytes_needed(s) > nbytes)
            self._missing[nbytes] = found
        return found

    def unit(self, signal: str) -> str:
        return self.signals[signal]["unit"]

    def function(self, nbytes: int | None = None, choices: bool = False) -> Any:
        """The generated function for payloads of exactly ``nbytes`` (default: the DBC length).

        It raises :class:`~evscreen.can.dbc.codegen.UnknownMux` for an undefined multiplexer value;
        tight loops call it directly instead of :meth:`decode`.
        """
        return self._variant(self.length if nbytes is None else min(nbytes, self.length), choices)

    def _variant(self, nbytes: int, choices: bool) -> Any:
        choices = choices and self.has_choices
        key = (nbytes, choices)
        fn = self._variants.get(key)
        if fn is None:
            if nbytes == self.length and not choices:
                fn = self._decode  # full length: the entry function itself
            else:
                # Short payloads and value-table names are rare: generate those functions on first use.
                source = codegen.message_source(self.index, self.spec, nbytes, choices)
                namespace = dict(codegen.RUNTIME)
                exec(compile(source, f"<dbc {self.name} {nbytes} bytes>", "exec"), namespace)
                fn = namespace[codegen.function_name(self.index, nbytes, choices)]
            self._variants[key] = fn
        return fn


def module_source(spec: DbcSpec) -> str:
    """Source defining the full-length decode function of every message of ``spec``."""
    return "\n".join(codegen.message_source(i, m) for i, m in enumerate(spec["messages"]))


def compile_spec(spec: DbcSpec, filename: str = "<dbc>") -> Any:
    return compile(module_source(spec), filename, "exec")


class DbcDecoder:
    """Every message of one DBC, compiled, looked up by frame ID."""

    def __init__(self, spec: DbcSpec, code: Any = None, *, name: str = "<dbc>",
                 warnings: Iterable[str] = ()) -> None:
        self.spec = spec
        self.name = name
        self.warnings = list(warnings)
        namespace = dict(codegen.RUNTIME)
        exec(code if code is not None else compile_spec(spec, f"<dbc {name}>"), namespace)
        self.messages = [CompiledMessage(i, m, namespace) for i, m in enumerate(spec["messages"])]
        namespace["_other"] = [m._other_length for m in self.messages]
        # Later definitions of an ID win, as in cantools.
        self.standard: dict[int, CompiledMessage] = {m.frame_id: m for m in self.messages if not m.is_extended}
        self.extended: dict[int, CompiledMessage] = {m.frame_id: m for m in self.messages if m.is_extended}
        self._by_name = {m.name: m for m in self.messages}
        self._standard_fns = {i: m._decode for i, m in self.standard.items()}
        self._extended_fns = {i: m._decode for i, m in self.extended.items()}

    def __repr__(self) -> str:
        return f"<DbcDecoder {self.name}: {len(self.messages)} messages>"

    def find(self, frame_id: int, is_extended: bool = False) -> CompiledMessage | None:
        return (self.extended if is_extended else self.standard).get(frame_id)

    def message(self, name: str) -> CompiledMessage:
        """The message called ``name``; KeyError if the DBC has none."""
        return self._by_name[name]

    def has_message(self, name: str) -> bool:
        return name in self._by_name

    def functions(self, is_extended: bool = False) -> dict[int, Any]:
        """Frame ID -> generated decode function, for loops that cannot afford a method call per frame.

        Each function takes a payload of any length and returns the numeric signal values; it raises
        :class:`~evscreen.can.dbc.codegen.UnknownMux` for an undefined multiplexer value.
        """
        return self._extended_fns if is_extended else self._standard_fns

    def decode(self, frame_id: int, data: bytes, is_extended: bool = False, choices: bool = False) -> Decoded | None:
        """Decode one frame, or ``None`` if its ID is not in the DBC."""
        message = (self.extended if is_extended else self.standard).get(frame_id)
        if message is None:
            return None
        return message.decode_frame(data, choices)
