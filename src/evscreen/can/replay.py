"""A recorded log played as a python-can bus, so the ordinary CAN source reads it like a live one.

``open_bus("replay", FILE, ...)`` (``[can] interface = "replay"``, or ``evscreen serve --replay
FILE``) gives a :class:`ReplayBus`: every log format :mod:`evscreen.can.logs` reads, gzip too.
``recv`` hands out the frames at the pace they were recorded (python-can's ``MessageSync``
does the same for its own readers): ``speed`` 1 is real time, 2 twice as fast, 0 as fast as the
reader takes them. ``bus`` keeps one bus of a multi-bus log; ``loop`` starts again at the end,
otherwise the bus falls silent there, as a car that has been switched off.

:func:`check_replay` reads the start of the log before anything is served, so a missing, corrupt
or empty file, or a bus the log does not have, is one clear error line (exit code 2) instead of a
source that keeps failing.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import can

from evscreen.can.logs import LogFrame, as_message, bus_matches, open_log
from evscreen.errors import LogFormatError, UsageError

log = logging.getLogger(__name__)

INTERFACE = "replay"
#: Keyword arguments the replay bus takes (``[can] options`` / the serve flags).
OPTIONS = ("speed", "bus", "loop", "log_format")


def check_replay(path: str | Path, bus: str | None = None, log_format: str | None = None) -> str:
    """Fail with one line unless ``path`` is a readable CAN log with frames (on ``bus``, if given).

    Returns the log's format. Stops at the first frame that qualifies: cheap for a good file; only
    a bus that is not there makes it read the whole log (to list the buses it has).
    """
    reader = open_log(path, log_format)  # missing file, unknown format: LogFormatError
    seen: Counter[str] = Counter()
    for frame in reader:
        if bus is None or bus_matches(frame.channel, bus):
            return reader.format
        seen[frame.channel] += 1
    if not seen:
        corrupt = f" ({reader.corrupt} corrupt lines or records skipped)" if reader.corrupt else ""
        raise LogFormatError(f"{reader.path}: no CAN frames in this {reader.format} log{corrupt}; nothing to replay")
    buses = ", ".join(f"{name} ({n} frames)" for name, n in sorted(seen.items()))
    raise UsageError(f"--replay-bus: {reader.path} has no frames on bus {bus!r}; its buses: {buses}")


class ReplayBus(can.BusABC):
    """A CAN log as a read-only python-can bus, paced by the frames' recorded timestamps."""

    def __init__(self, channel: Any = None, speed: float = 1.0, bus: Any = None, loop: bool = False,
                 log_format: str | None = None, **kwargs: Any) -> None:
        if channel is None or not str(channel).strip():
            raise UsageError("replay: name the log file to play (--replay FILE, or [can] channel)")
        unknown = set(kwargs) - {"can_filters", "bitrate", "receive_own_messages"}
        if unknown:
            raise UsageError(f"replay: unknown option(s) {', '.join(sorted(unknown))} (known: {', '.join(OPTIONS)})")
        if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not 0 <= speed <= 1e6:
            raise UsageError(f"--replay-speed: must be a number from 0 (as fast as possible) up, got {speed!r}")
        self.path = Path(str(channel))
        self.speed = float(speed)
        self.bus_filter = None if bus is None or str(bus) == "" else str(bus)
        self.loop = bool(loop)
        self.log_format = check_replay(self.path, self.bus_filter, log_format)
        self.frames_played = 0
        self.passes = 0  # times the log was played to its end
        self.finished = False
        self._frames = self._all_frames()
        self._next: LogFrame | None = None
        self._wall0 = 0.0  # monotonic time at which the log's first frame (of this pass) is due
        self._log0: float | None = None
        super().__init__(channel=str(channel), can_filters=kwargs.get("can_filters"))
        self.channel_info = f"replay of {self.path}"

    def _all_frames(self) -> Iterator[LogFrame]:
        keep = self.bus_filter
        while True:
            reader = open_log(self.path, self.log_format)
            played = 0
            for frame in reader:
                if keep is None or bus_matches(frame.channel, keep):
                    played += 1
                    yield frame
            self.passes += 1
            if not self.loop or not played:
                log.info("replay: end of %s after %d frames%s", self.path, self.frames_played,
                         "" if self.loop else " (--loop plays it again)")
                return
            log.debug("replay: %s played %d times; again from the start", self.path, self.passes)
            self._log0 = None  # the next pass keeps its own timing from now on

    def _recv_internal(self, timeout: float | None) -> tuple[can.Message | None, bool]:
        frame = self._next
        if frame is None:
            frame = next(self._frames, None)
            if frame is None:
                self.finished = True
                time.sleep(0.1 if timeout is None else timeout)  # a quiet bus: nothing ever comes
                return None, False
            self._next = frame
        if self.speed > 0:
            now = time.monotonic()
            if self._log0 is None:
                self._log0, self._wall0 = frame.timestamp, now
            wait = self._wall0 + (frame.timestamp - self._log0) / self.speed - now
            if wait > 0:
                if timeout is not None and wait > timeout:
                    time.sleep(timeout)
                    return None, False
                time.sleep(wait)
        self._next = None
        self.frames_played += 1
        return as_message(frame), False

    def send(self, msg: can.Message, timeout: float | None = None) -> None:
        raise can.CanOperationError("a replayed log is read-only: nothing can be sent on it")

    def shutdown(self) -> None:
        frames, self._frames = self._frames, iter(())
        close = getattr(frames, "close", None)
        if close is not None:
            close()  # the reader's file is closed now, not when the generator is collected
        super().shutdown()

    def describe(self) -> str:
        speed = "as fast as possible" if self.speed == 0 else f"{self.speed:g}x real time"
        bus = f", bus {self.bus_filter}" if self.bus_filter is not None else ""
        return f"replay {self.path} ({self.log_format}{bus}, {speed}{', looped' if self.loop else ''})"
