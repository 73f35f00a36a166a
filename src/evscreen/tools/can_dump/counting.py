"""What can-dump counts: one :class:`IdRecord` per (ID, bus, kind) read, the summary made from them.

Both outputs (the lines and the table) count only on these records; :meth:`Tally.summary` is the
one place the totals are made, so the two outputs cannot disagree about a log.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from evscreen.can.dbc.decoder import CompiledMessage, DbcDecoder
from evscreen.can.logs import ERROR, REMOTE
from evscreen.tools.can_dump.filters import FrameFilter
from evscreen.tools.can_dump.formatter import (
    SignalFormatter,
    decode_payload,
    id_text,
    wire_id,
)

#: (frame ID, extended, bus, kind): the key of a record.
Key = tuple[int, bool, str, int]

#: Distinct payloads per ID whose rendered line is remembered (bounds memory on a noisy bus).
RENDERED_PER_ID = 4096


class IdRecord:
    """One (ID, bus, kind) of the frames read: its DBC message, whether the filters show it, the fixed
    parts of its output line, and its counts. ``frames`` counts every frame read, ``decoded`` those
    shown and decoded; since the filters decide per record, every frame of an accepted record is shown."""

    __slots__ = (
        "accepted",
        "bad_mux",
        "decode",
        "decoded",
        "formatter",
        "frames",
        "label",
        "length",
        "message",
        "prefix",
        "rendered",
        "short",
    )

    def __init__(self, message: CompiledMessage | None, accepted: bool, channel: str, frame_id: int,
                 extended: bool, choices: bool) -> None:
        self.message = message
        self.accepted = accepted
        self.prefix = f" {channel} {wire_id(frame_id, extended)}#"
        self.label = f" :: {message.name}(" if message is not None else " :: unknown"
        shown_message = message if accepted else None  # nothing of a hidden ID is ever formatted
        self.formatter = SignalFormatter(shown_message) if shown_message is not None else None
        # The generated decode function for full-length payloads (the common case).
        self.decode: Any = shown_message.function(None, choices) if shown_message is not None else None
        self.length = message.length if message is not None else 0
        self.frames = 0
        self.decoded = 0
        self.short = 0
        self.bad_mux = 0
        self.rendered: dict[bytes, str] = {}  # payload -> the line after the timestamp

    def decode_counted(self, data: bytes, choices: bool) -> tuple[dict[str, Any], tuple[str, ...], str | None]:
        """Decode a payload that is not the full length or has an undefined multiplexer value, counting it."""
        assert self.message is not None
        signals, missing, bad_mux = decode_payload(self.message, data, choices)
        if missing:
            self.short += 1
        if bad_mux:
            self.bad_mux += 1
        return signals, missing, bad_mux


class Tally:
    """The records of one dump, created on the first frame of each (ID, bus, kind)."""

    def __init__(self, decoder: DbcDecoder, flt: FrameFilter, choices: bool = True) -> None:
        self.decoder = decoder
        self.filter = flt
        self.choices = choices
        self.records: dict[Key, IdRecord] = {}

    def add(self, key: Key) -> IdRecord:
        frame_id, extended, channel, _ = key
        message = self.decoder.find(frame_id, extended)
        record = self.records[key] = IdRecord(message, self.filter.accepts_key(channel, frame_id, message), channel,
                                              frame_id, extended, self.choices)
        return record

    def summary(self, corrupt: int = 0) -> Summary:
        summary = Summary(corrupt=corrupt)
        for (frame_id, extended, channel, kind), rec in self.records.items():
            summary.frames += rec.frames
            summary.per_bus[channel] += rec.frames
            if not rec.accepted:
                continue
            summary.shown += rec.frames
            if rec.decoded:
                summary.decoded += rec.decoded
                summary.decoded_per_bus[channel] += rec.decoded
            if rec.short and rec.message is not None:
                summary.short[rec.message.name] += rec.short
            summary.bad_mux += rec.bad_mux
            if kind == ERROR:
                summary.errors += rec.frames
            elif kind == REMOTE:
                summary.remote += rec.frames
            elif rec.message is None:
                summary.unknown[(channel, frame_id, extended)] += rec.frames
        return summary

    def nothing_shown(self, source: str) -> list[str]:
        """Notes saying why the filters let no frame through (empty when some frame was shown)."""
        if self.filter.empty or any(rec.accepted and rec.frames for rec in self.records.values()):
            return []
        seen = {(channel, frame_id, extended, rec.message)
                for (frame_id, extended, channel, _), rec in self.records.items() if rec.frames}
        return self.filter.nothing_shown(seen, source)


@dataclass
class Summary:
    """The totals printed to stderr at the end: frames read (per bus), then what was shown of them."""

    frames: int = 0
    shown: int = 0
    decoded: int = 0
    unknown: Counter[tuple[str, int, bool]] = field(default_factory=Counter)
    short: Counter[str] = field(default_factory=Counter)
    bad_mux: int = 0
    errors: int = 0
    remote: int = 0
    corrupt: int = 0
    per_bus: Counter[str] = field(default_factory=Counter)
    decoded_per_bus: Counter[str] = field(default_factory=Counter)

    def lines(self) -> list[str]:
        buses = ", ".join(f"bus {b}: {n}" for b, n in sorted(self.per_bus.items()))
        decoded = ", ".join(f"bus {b}: {n}" for b, n in sorted(self.decoded_per_bus.items()))
        out = [
            f"frames: {self.frames}" + (f" ({buses})" if buses else "") + f", shown: {self.shown}",
            f"decoded: {self.decoded}" + (f" ({decoded})" if decoded else ""),
        ]
        total_unknown = sum(self.unknown.values())
        if total_unknown:
            top = ", ".join(
                f"{id_text(i, e)} on {b}: {n}" for (b, i, e), n in sorted(self.unknown.items())[:40]
            )
            more = "" if len(self.unknown) <= 40 else f", ... ({len(self.unknown) - 40} more)"
            out.append(f"unknown IDs: {total_unknown} frames in {len(self.unknown)} IDs ({top}{more})")
        else:
            out.append("unknown IDs: 0")
        short = ", ".join(f"{name}: {n}" for name, n in sorted(self.short.items()))
        out.append(f"short payloads: {sum(self.short.values())}" + (f" ({short})" if short else ""))
        if self.bad_mux:
            out.append(f"undefined multiplexer values: {self.bad_mux}")
        out.append(f"error frames: {self.errors}, remote frames: {self.remote}, corrupt lines: {self.corrupt}")
        return out
