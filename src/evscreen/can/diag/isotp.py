"""Passive ISO-TP (ISO 15765-2) reassembly: CAN frames in, diagnostic messages and events out.

Pure (no clock, no I/O), like the DBC decoder: :class:`Reassembler` is fed frames with their
timestamps and returns what they complete. It listens; it never answers, so it can follow a
conversation between a scan tool and the car's ECUs on a live bus or in a log.

- Single frames (classic and the CAN FD escape form), first frames (12-bit and the 32-bit escape
  length), consecutive frames and flow-control frames, on 11-bit IDs 0x700–0x7FF and 29-bit
  normal-fixed IDs 0x18DA/0x18DB (:func:`is_diagnostic_id`). Padding after the payload is ignored.
- A consecutive frame out of sequence, a message cut short by a new first or single frame, a
  first frame longer than ``max_size`` (overflow), a consecutive frame with no message open and
  a message whose next frame never came (timeout, ``n_cr`` seconds after the last one, checked on
  every frame and by :meth:`Reassembler.expire`) are reported as :class:`IsoTpError` events; the
  partial message is dropped, never passed on as if it were whole.
- Flow-control frames are :class:`FlowControl` events, not messages. A "wait" frame restarts the
  sender's clock, so the message it pauses is not timed out while the receiver asks for time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

#: N_Cr of ISO 15765-2: the longest gap between two frames of one message (1 s).
N_CR_S = 1.0
#: The largest message a 12-bit first-frame length can announce; an escape length may say more.
MAX_CLASSIC_SIZE = 4095

SINGLE, FIRST, CONSECUTIVE, FLOW = 0, 1, 2, 3
FLOW_STATUS = {0: "continue", 1: "wait", 2: "overflow"}


def is_diagnostic_id(arbitration_id: int, extended: bool) -> bool:
    """11-bit 0x700–0x7FF (0x7DF functional, 0x7E0–0x7EF physical OBD-II, the rest maker-specific)
    and 29-bit normal fixed addressing 0x18DA<target><source> / 0x18DB<target><source>."""
    if extended:
        return arbitration_id >> 16 in (0x18DA, 0x18DB)
    return 0x700 <= arbitration_id <= 0x7FF


def peer_ids(arbitration_id: int, extended: bool) -> tuple[int, ...]:
    """The IDs the other side of a physical conversation may use.

    29-bit: target and source swapped. 11-bit: ISO 15765-4 pairs 0x7E0+n with 0x7E8+n and most
    makers keep that distance of 8 across 0x700–0x7FF (Hyundai 0x770/0x778, 0x7A0/0x7A8...), in
    either direction.
    """
    if extended:
        target, source = (arbitration_id >> 8) & 0xFF, arbitration_id & 0xFF
        return ((0x18DA << 16) | (source << 8) | target,)
    return tuple(i for i in (arbitration_id + 8, arbitration_id - 8) if 0x700 <= i <= 0x7FF)


def id_text(arbitration_id: int, extended: bool) -> str:
    return f"0x{arbitration_id:08X}" if extended else f"0x{arbitration_id:03X}"


class DiagMessage(NamedTuple):
    """One complete diagnostic message (the payload without ISO-TP's protocol bytes)."""

    timestamp: float  # of its last frame
    bus: str
    arbitration_id: int
    extended: bool
    payload: bytes
    frames: int  # CAN frames it took (1 for a single frame)


class FlowControl(NamedTuple):
    timestamp: float
    bus: str
    arbitration_id: int
    extended: bool
    status: str  # "continue", "wait", "overflow" or "reserved"
    block_size: int
    st_min_s: float


class IsoTpError(NamedTuple):
    """A frame or message ISO-TP cannot accept; ``kind`` is one of :data:`ERROR_KINDS`."""

    timestamp: float
    bus: str
    arbitration_id: int
    extended: bool
    kind: str
    detail: str
    partial: bytes = b""  # what had arrived of a message that was dropped


ERROR_KINDS = ("invalid", "out_of_sequence", "interrupted", "unexpected", "overflow", "timeout")

Event = DiagMessage | FlowControl | IsoTpError


def st_min_seconds(raw: int) -> float:
    """STmin byte of a flow-control frame: 0x00–0x7F ms, 0xF1–0xF9 100–900 µs; reserved values
    mean 127 ms, as ISO 15765-2 tells the sender to assume."""
    if raw <= 0x7F:
        return raw / 1000.0
    if 0xF1 <= raw <= 0xF9:
        return (raw - 0xF0) / 10000.0
    return 0.127


class ParsedFrame(NamedTuple):
    type: int
    #: SINGLE: the payload. FIRST: the first bytes. CONSECUTIVE: its bytes (with padding).
    data: bytes
    #: SINGLE/FIRST: the message length. CONSECUTIVE: the sequence number. FLOW: the status.
    number: int
    block_size: int = 0
    st_min: int = 0


class FrameError(ValueError):
    """A CAN frame that is no valid ISO-TP frame."""


def parse_frame(data: bytes) -> ParsedFrame:
    """Split one CAN frame's data into its ISO-TP protocol control information and data."""
    if not data:
        raise FrameError("empty frame")
    pci = data[0] >> 4
    if pci == SINGLE:
        length = data[0] & 0x0F
        start = 1
        if length == 0:  # CAN FD escape: the length is in the next byte
            if len(data) < 2 or data[1] == 0:
                raise FrameError("single frame of length 0")
            length, start = data[1], 2
        if length > len(data) - start:
            raise FrameError(f"single frame says {length} bytes, has {len(data) - start}")
        return ParsedFrame(SINGLE, bytes(data[start:start + length]), length)
    if pci == FIRST:
        if len(data) < 2:
            raise FrameError("first frame too short")
        length = ((data[0] & 0x0F) << 8) | data[1]
        start = 2
        if length == 0:  # escape: a 32-bit length follows
            if len(data) < 6:
                raise FrameError("first frame with escape length too short")
            length, start = int.from_bytes(data[2:6], "big"), 6
        if length < len(data) - start + 1:
            raise FrameError(f"first frame announces only {length} bytes: a single frame would carry them")
        return ParsedFrame(FIRST, bytes(data[start:]), length)
    if pci == CONSECUTIVE:
        return ParsedFrame(CONSECUTIVE, bytes(data[1:]), data[0] & 0x0F)
    if pci == FLOW:
        if len(data) < 3:
            raise FrameError("flow-control frame too short")
        return ParsedFrame(FLOW, b"", data[0] & 0x0F, data[1], data[2])
    raise FrameError(f"unknown frame type 0x{pci:X}")


@dataclass
class _Pending:
    started: float
    last: float
    length: int
    data: bytearray
    next_sn: int
    frames: int


class Reassembler:
    """Follows every diagnostic conversation on a bus (or several: keys include the bus name).

    ``max_size`` bounds what one message may announce (a corrupt or hostile first frame cannot make
    it buffer megabytes); ``n_cr`` is the timeout between two frames of one message.
    """

    def __init__(self, *, max_size: int = MAX_CLASSIC_SIZE, n_cr: float = N_CR_S) -> None:
        self.max_size = max_size
        self.n_cr = n_cr
        self._pending: dict[tuple[str, int, bool], _Pending] = {}

    @property
    def open_messages(self) -> int:
        return len(self._pending)

    def feed(self, timestamp: float, bus: str, arbitration_id: int, extended: bool, data: bytes) -> list[Event]:
        """Events completed by this frame (often none). Frames of non-diagnostic IDs are ignored."""
        if not is_diagnostic_id(arbitration_id, extended):
            return []
        events: list[Event] = self.expire(timestamp) if self._pending else []
        key = (bus, arbitration_id, extended)
        try:
            frame = parse_frame(data)
        except FrameError as exc:
            events.append(IsoTpError(timestamp, bus, arbitration_id, extended, "invalid", str(exc)))
            return events
        kind = frame.type
        if kind == SINGLE:
            self._interrupt(key, timestamp, "single frame", events)
            events.append(DiagMessage(timestamp, bus, arbitration_id, extended, frame.data, 1))
        elif kind == FIRST:
            self._interrupt(key, timestamp, "first frame", events)
            if frame.number > self.max_size:
                events.append(IsoTpError(timestamp, bus, arbitration_id, extended, "overflow",
                                         f"first frame announces {frame.number} bytes, more than {self.max_size}"))
            else:
                self._pending[key] = _Pending(timestamp, timestamp, frame.number, bytearray(frame.data), 1, 1)
        elif kind == CONSECUTIVE:
            pending = self._pending.get(key)
            if pending is None:
                events.append(IsoTpError(timestamp, bus, arbitration_id, extended, "unexpected",
                                         f"consecutive frame {frame.number} with no message open"))
            elif frame.number != pending.next_sn:
                del self._pending[key]
                events.append(IsoTpError(
                    timestamp, bus, arbitration_id, extended, "out_of_sequence",
                    f"consecutive frame {frame.number} where {pending.next_sn} was due "
                    f"({len(pending.data)} of {pending.length} bytes received)", bytes(pending.data)))
            else:
                pending.data += frame.data
                pending.frames += 1
                pending.last = timestamp
                pending.next_sn = (pending.next_sn + 1) & 0x0F
                if len(pending.data) >= pending.length:
                    del self._pending[key]
                    events.append(DiagMessage(timestamp, bus, arbitration_id, extended,
                                              bytes(pending.data[:pending.length]), pending.frames))
        else:
            status = FLOW_STATUS.get(frame.number, "reserved")
            events.append(FlowControl(timestamp, bus, arbitration_id, extended, status, frame.block_size,
                                      st_min_seconds(frame.st_min)))
            # The receiver answers the sender: the sender's message goes on (or waits) from now.
            for peer in peer_ids(arbitration_id, extended):
                pending = self._pending.get((bus, peer, extended))
                if pending is not None:
                    if status == "overflow":
                        del self._pending[(bus, peer, extended)]
                        events.append(IsoTpError(timestamp, bus, peer, extended, "overflow",
                                                 f"the receiver cannot take {pending.length} bytes",
                                                 bytes(pending.data)))
                    else:
                        pending.last = timestamp
                    break
        return events

    def expire(self, now: float) -> list[Event]:
        """Messages whose next frame is overdue at ``now`` (call it with the last timestamp at the
        end of a log, or from a live bus's clock)."""
        events: list[Event] = []
        for key, pending in list(self._pending.items()):
            if now - pending.last > self.n_cr:
                del self._pending[key]
                bus, arbitration_id, extended = key
                # Stamped when it timed out, not when the next frame (perhaps much later) showed it.
                events.append(IsoTpError(
                    pending.last + self.n_cr, bus, arbitration_id, extended, "timeout",
                    f"no frame within {self.n_cr:g} s after {len(pending.data)} of {pending.length} bytes",
                    bytes(pending.data)))
        return events

    def flush(self) -> list[Event]:
        """The end of the input: every message still open is incomplete."""
        events: list[Event] = []
        for (bus, arbitration_id, extended), pending in self._pending.items():
            events.append(IsoTpError(pending.last, bus, arbitration_id, extended, "timeout",
                                     f"input ended after {len(pending.data)} of {pending.length} bytes",
                                     bytes(pending.data)))
        self._pending.clear()
        return events

    def _interrupt(self, key: tuple[str, int, bool], timestamp: float, by: str, events: list[Event]) -> None:
        pending = self._pending.pop(key, None)
        if pending is not None:
            events.append(IsoTpError(
                timestamp, key[0], key[1], key[2], "interrupted",
                f"{by} after {len(pending.data)} of {pending.length} bytes: consecutive frames missing",
                bytes(pending.data)))
