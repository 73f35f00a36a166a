"""Where can-dump's frames come from besides a log file: a live python-can bus, or a file paced
at its recorded speed."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

from evscreen.can.logs import DATA, ERROR, REMOTE, LogFrame
from evscreen.errors import SourceUnavailable


def paced(frames: Iterable[LogFrame]) -> Iterator[LogFrame]:
    """Replay at the pace the frames were recorded (``--realtime``)."""
    start_wall = None
    start_ts = 0.0
    for frame in frames:
        if start_wall is None:
            start_wall, start_ts = time.monotonic(), frame.timestamp
        else:
            delay = (frame.timestamp - start_ts) - (time.monotonic() - start_wall)
            if delay > 0:
                time.sleep(delay)
        yield frame


def open_live_bus(interface: str, channel: str, bitrate: int, options: dict[str, Any]) -> Any:
    from evscreen.can.bus import check_interface, open_bus

    check_interface(interface, "--interface")
    try:
        return open_bus(interface, channel, bitrate, options)
    except Exception as exc:
        raise SourceUnavailable(f"cannot open CAN interface {interface} {channel}: {exc}") from None


def bus_frames(bus: Any, channel: str) -> Iterator[LogFrame]:
    """Frames from a python-can bus until Ctrl-C; an interface failure ends with SourceUnavailable."""
    while True:
        try:
            msg = bus.recv(0.1)
        except Exception as exc:
            raise SourceUnavailable(f"CAN interface failed: {exc}") from None
        if msg is None:
            continue
        kind = ERROR if msg.is_error_frame else REMOTE if msg.is_remote_frame else DATA
        yield LogFrame(msg.timestamp, str(msg.channel if msg.channel is not None else channel), msg.arbitration_id,
                       msg.is_extended_id, bytes(msg.data), kind)
