"""``--id``, ``--message`` and ``--bus``: which frames can-dump shows, and what to say when none is.

Whether a frame passes depends only on its bus, its ID and (through the ID) its DBC message, so
the dump asks once per (ID, bus) and remembers the answer (see :mod:`.counting`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sized
from dataclasses import dataclass, field

from evscreen.can.dbc.decoder import CompiledMessage, DbcDecoder
from evscreen.can.logs import LogFrame, bus_matches
from evscreen.errors import UsageError

#: At most this many IDs or messages are listed when a filter matched nothing.
LISTED = 12


def _hex(text: str) -> int:
    return int(text, 0) if text.lower().startswith("0x") else int(text, 16)


def parse_id_filters(texts: Iterable[str]) -> list[tuple[int, int]]:
    """``--id 0x123,0x456`` or ``--id 0x100:0x700`` (id:mask) -> [(id, mask)]."""
    out = []
    for text in texts:
        for item in text.split(","):
            item = item.strip()
            if not item:
                continue
            ident, _, mask = item.partition(":")
            try:
                value = _hex(ident)
                mask_value = _hex(mask) if mask else 0x1FFFFFFF
            except ValueError:
                raise UsageError(f"--id: {item!r} is not a hex ID or id:mask (e.g. 0x542, 542, 0x500:0x700)") from None
            if not 0 <= value <= 0x1FFFFFFF or not 0 <= mask_value <= 0x1FFFFFFF:
                raise UsageError(f"--id: {item!r} is out of range (29-bit IDs at most)")
            out.append((value & mask_value, mask_value))
    return out


def match_messages(decoder: DbcDecoder, patterns: Iterable[str]) -> set[str]:
    """Message names matching ``--message`` names or regular expressions (case-sensitive)."""
    names: set[str] = set()
    for pattern in patterns:
        if decoder.has_message(pattern):
            names.add(pattern)
            continue
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise UsageError(f"--message: {pattern!r} is neither a message of {decoder.name} "
                             f"nor a regex ({exc})") from None
        found = {m.name for m in decoder.messages if regex.search(m.name)}
        if not found:
            raise UsageError(f"--message: nothing in {decoder.name} matches {pattern!r}")
        names |= found
    return names


def _id_text(frame_id: int, extended: bool = False) -> str:
    return f"0x{frame_id:08X}" if extended else f"0x{frame_id:03X}"


@dataclass
class FrameFilter:
    ids: list[tuple[int, int]] = field(default_factory=list)
    messages: set[str] | None = None
    bus: str | None = None

    def accepts(self, frame: LogFrame, message: CompiledMessage | None) -> bool:
        return self.accepts_key(frame.channel, frame.arbitration_id, message)

    def accepts_key(self, channel: str, frame_id: int, message: CompiledMessage | None) -> bool:
        return self.bus_ok(channel) and self.id_ok(frame_id) and self.message_ok(message)

    def bus_ok(self, channel: str) -> bool:
        return self.bus is None or bus_matches(channel, self.bus)

    def id_ok(self, frame_id: int) -> bool:
        return not self.ids or any(frame_id & mask == value for value, mask in self.ids)

    def message_ok(self, message: CompiledMessage | None) -> bool:
        return self.messages is None or (message is not None and message.name in self.messages)

    @property
    def empty(self) -> bool:
        return not self.ids and self.messages is None and self.bus is None

    def describe_ids(self) -> str:
        return ",".join(_id_text(v) if m == 0x1FFFFFFF else f"{_id_text(v)}:{_id_text(m)}" for v, m in self.ids)

    def check_against(self, decoder: DbcDecoder) -> list[str]:
        """Notes for filters the DBC alone says will show nothing decoded; UsageError when
        ``--id`` and ``--message`` together cannot match any frame at all."""
        if not self.ids:
            return []
        in_dbc = [m for m in decoder.messages if self.id_ok(m.frame_id)]
        if self.messages is not None and not any(m.name in self.messages for m in in_dbc):
            raise UsageError(f"--id {self.describe_ids()} and --message match no message of {decoder.name} together: "
                             "no frame could be shown")
        if not in_dbc:
            return [f"--id {self.describe_ids()}: no message of {decoder.name} has this ID; its frames show undecoded"]
        return []

    def nothing_shown(self, seen: Iterable[tuple[str, int, bool, CompiledMessage | None]], source: str) -> list[str]:
        """Why no frame was shown, naming what ``source`` ("the log", "can0") did carry.

        ``seen`` holds one (bus, ID, extended, message) per distinct ID and bus that was read.
        """
        seen = list(seen)
        if not seen:
            return [f"{source} has no frames"]
        notes = []
        if self.bus is not None and not any(self.bus_ok(bus) for bus, _, _, _ in seen):
            buses = sorted({bus for bus, _, _, _ in seen})
            notes.append(f"no frame is on bus {self.bus} ({source} has {_plural(buses, 'bus', 'buses')}: "
                         f"{', '.join(buses)})")
        if self.ids and not any(self.id_ok(frame_id) for _, frame_id, _, _ in seen):
            ids = sorted({(e, i) for _, i, e, _ in seen})
            notes.append(f"no frame has an ID matching --id {self.describe_ids()} ({source} has "
                         f"{_plural(ids, 'ID', 'IDs')}: {_listed([_id_text(i, e) for e, i in ids])})")
        if self.messages is not None and not any(self.message_ok(m) for _, _, _, m in seen):
            names = sorted({m.name for _, _, _, m in seen if m is not None})
            wanted = _listed(sorted(self.messages))
            notes.append(f"no frame of {wanted} (" + (f"{source} has {_listed(names)} of the DBC)" if names
                                                      else f"no frame of {source} is in the DBC)"))
        if not notes:
            notes.append("each filter matches some frames, but no frame matches them all together")
        return notes


def _plural(items: Sized, one: str, many: str) -> str:
    return f"{len(items)} {one if len(items) == 1 else many}"


def _listed(items: list[str]) -> str:
    if len(items) <= LISTED:
        return ", ".join(items)
    return ", ".join(items[:LISTED]) + f", ... ({len(items) - LISTED} more)"
