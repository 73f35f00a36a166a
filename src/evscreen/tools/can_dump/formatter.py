"""Decoding one payload and writing its signals as ``Name: value unit, ...`` without float noise."""

from __future__ import annotations

from typing import Any

from evscreen.can.dbc.codegen import UnknownMux
from evscreen.can.dbc.decoder import CompiledMessage
from evscreen.can.dbc.spec import decimals


def id_text(frame_id: int, extended: bool) -> str:
    """An ID as the summary and the table show it: ``0x1A0``, ``0x18DAF110``."""
    return f"0x{frame_id:08X}" if extended else f"0x{frame_id:03X}"


def wire_id(frame_id: int, extended: bool) -> str:
    """An ID as candump writes it: three hex digits, or eight for a 29-bit ID."""
    return f"{frame_id:08X}" if extended else f"{frame_id:03X}"


def decode_payload(message: CompiledMessage, data: bytes, choices: bool
                   ) -> tuple[dict[str, Any], tuple[str, ...], str | None]:
    """(signals, missing signals, undefined multiplexer value) of one payload of any length."""
    n = len(data)
    length = message.length
    try:
        if n >= length:
            return message.function(length, choices)(data if n == length else data[:length]), (), None
        return message.function(n, choices)(data), message.missing(n), None
    except UnknownMux as exc:
        return exc.signals, message.missing(n), f"{exc.multiplexer} = {exc.value}"


class SignalFormatter:
    """Formats a message's decoded signals as ``Name: value unit`` parts."""

    def __init__(self, message: CompiledMessage) -> None:
        self.parts: dict[str, tuple[str, str]] = {}
        for name, s in message.signals.items():
            spec = ""
            if s["float"]:
                spec = ".7g"
            elif s["conv"] == "linear":
                spec = f".{decimals(s['scale'])}f"
            unit = f" {s['unit']}" if s["unit"] else ""
            self.parts[name] = (spec, unit)
        self.names = list(message.signals)
        # One format string for the usual case (all signals present, no multiplexing).
        self.template: str | None = None
        if self.names and not message.spec["tree"]["mux"]:
            self.template = ", ".join(
                f"{n}: {{{i}{':' + self.parts[n][0] if self.parts[n][0] else ''}}}{self.parts[n][1]}"
                for i, n in enumerate(self.names)
            )

    def value(self, name: str, value: Any) -> str:
        spec, unit = self.parts[name]
        if isinstance(value, str) or not spec:
            return f"{value}{unit}"
        return f"{format(value, spec)}{unit}"

    def format(self, signals: dict[str, Any]) -> str:
        """All signals on one line, separated by ", "."""
        if self.template is not None and len(signals) == len(self.names):
            try:
                return self.template.format(*signals.values())
            except (ValueError, TypeError):  # a value-table name where a number format is set
                return ", ".join(self.items(signals))
        return ", ".join(self.items(signals))

    def items(self, signals: dict[str, Any]) -> list[str]:
        """One ``Name: value unit`` per signal, for layouts that wrap between signals."""
        return [f"{name}: {self.value(name, v)}" for name, v in signals.items()]
