"""The GPS source: NMEA 0183 from a serial receiver (pyserial), or fixes from a running gpsd.

``[gps] source`` picks the feed: :class:`SerialNmeaFeed` here, or
:class:`evscreen.drivers.gpsd.GpsdFeed`. Either one hands fixes to :class:`GpsSource`, which writes
them into the vehicle state. When the receiver vanishes (USB unplugged, UART gone) the source
goes offline with the position cleared — a screen in a moving car must not show where the car
was a minute ago as where it is — and the feed reopens the device with backoff until it returns.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from evscreen.aio import WorkerThread
from evscreen.drivers.base import Source
from evscreen.errors import SourceUnavailable
from evscreen.gps.nmea import UNKNOWN_TELEMETRY, Fix, NmeaReader

if TYPE_CHECKING:
    from evscreen.config import Config
    from evscreen.state import VehicleState

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 0.2  # one quiet read finishes the epoch in progress
SILENCE_S = 5.0  # no valid sentence for this long: the receiver is offline
BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 5.0  # a receiver plugged back in is picked up within this


@dataclass(frozen=True)
class Problem:
    """Why the GPS is not delivering: ``cause`` is a short code the probe turns into advice."""

    cause: str  # not_found, permission, busy, not_serial, open_failed, unplugged, silent, no_nmea, gpsd_*
    message: str


class PortError(SourceUnavailable):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def open_serial(path: str, baud: int) -> Any:
    """Open the receiver's device with pyserial, or raise PortError saying why not."""
    import serial

    try:
        return serial.Serial(path, baud, timeout=READ_TIMEOUT_S, exclusive=True)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise PortError(classify_open_error(path, exc)) from None


def classify_open_error(path: str, exc: BaseException) -> Problem:
    code = getattr(exc, "errno", None)
    text = str(exc)
    if code in (errno.ENOENT, errno.ENODEV, errno.ENXIO) or "No such file" in text or "FileNotFoundError" in text:
        return Problem("not_found", f"{path}: no such device")
    if code in (errno.EACCES, errno.EPERM) or "Permission denied" in text or "Access is denied" in text:
        return Problem("permission", f"{path}: permission denied")
    if code in (errno.EAGAIN, errno.EBUSY) or "exclusively lock" in text:
        return Problem("busy", f"{path}: in use by another program")
    if code in (errno.ENOTTY, errno.EINVAL, errno.EISDIR) or "Inappropriate ioctl" in text:
        return Problem("not_serial", f"{path}: not a serial device ({text})")
    return Problem("open_failed", f"{path}: cannot open: {text}")


def read_chunk(port: Any) -> bytes:
    """Whatever the port has: waits up to READ_TIMEOUT_S for the first byte, then takes the rest."""
    data: bytes = port.read(1)
    if data:
        waiting = port.in_waiting
        if waiting:
            data += port.read(waiting)
    return data


class FixSink(Protocol):
    def publish(self, fix: Fix) -> None: ...
    def offline(self, problem: Problem) -> None: ...


class SerialNmeaFeed:
    """Reads NMEA from a serial device in a worker thread, so the event loop never blocks."""

    def __init__(self, path: str, baud: int) -> None:
        self.path = path
        self.baud = baud
        self.reader = NmeaReader()
        self._worker = WorkerThread("gps-serial")
        self._port: Any = None

    def describe(self) -> str:
        return f"NMEA on {self.path} at {self.baud} baud"

    @property
    def is_open(self) -> bool:
        return self._port is not None

    def counters(self) -> dict[str, Any]:
        return self.reader.counters.as_dict()

    async def run(self, sink: FixSink) -> None:
        import serial

        delay = BACKOFF_START_S
        while True:
            try:
                self._port = await self._worker.run(open_serial, self.path, self.baud)
            except PortError as exc:
                sink.offline(exc.problem)
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
                continue
            log.info("gps: opened %s at %d baud", self.path, self.baud)
            delay = BACKOFF_START_S
            try:
                await self._read(sink)
            except (serial.SerialException, OSError) as exc:
                sink.offline(Problem("unplugged", f"{self.path}: device lost ({exc})"))
            finally:
                await self._close_port()
            # Whatever was half-read belongs to a stream that no longer exists.
            self.reader.reset()
            await asyncio.sleep(delay)

    async def _read(self, sink: FixSink) -> None:
        opened = time.monotonic()
        last_sentence = opened
        sentences = self.reader.counters.sentences
        silent_reported = False
        while True:
            data = await self._worker.run(read_chunk, self._port)
            now = time.monotonic()
            fixes = self.reader.feed(data) if data else []
            if not data:
                done = self.reader.flush()  # the burst is over: publish its epoch now
                if done is not None:
                    fixes.append(done)
            if self.reader.counters.sentences != sentences:
                sentences = self.reader.counters.sentences
                last_sentence = now
                silent_reported = False
            for fix in fixes:
                sink.publish(fix)
            if not silent_reported and now - last_sentence > SILENCE_S:
                silent_reported = True
                if self.reader.counters.bytes and self.reader.counters.error_total:
                    sink.offline(Problem("no_nmea", f"{self.path}: bytes arrive but no valid NMEA for "
                                                    f"{SILENCE_S:g} s (wrong baud rate?)"))
                else:
                    sink.offline(Problem("silent", f"{self.path}: no data from the receiver for {SILENCE_S:g} s"))

    async def _close_port(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            try:
                await self._worker.run(port.close)
            except Exception:  # closing a vanished device can fail; it is gone either way
                log.debug("gps: closing %s failed", self.path, exc_info=True)

    async def close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            # Queued behind a read in progress (at most READ_TIMEOUT_S), never concurrent with it.
            await self._worker.run(_quiet_close, port)
        self._worker.shutdown()


def _quiet_close(port: Any) -> None:
    try:
        port.close()
    except Exception:
        pass


class GpsSource(Source):
    """``gps.*`` telemetry from a serial NMEA receiver or from gpsd (``[gps] source``)."""

    name = "gps"

    def __init__(self, config: Config, state: VehicleState) -> None:
        super().__init__(config, state)
        cfg = config.gps
        if cfg.source == "gpsd":
            from evscreen.drivers.gpsd import GpsdFeed

            self.feed: Any = GpsdFeed(cfg.gpsd_host, cfg.gpsd_port)
        else:
            self.feed = SerialNmeaFeed(cfg.port, cfg.baud)
        self.last_fix: Fix | None = None
        self.problem: Problem | None = None
        self.listeners: list[Callable[[Fix], None]] = []

    def describe(self) -> str:
        return f"{self.name}: {self.feed.describe()} (real)"

    async def run(self) -> None:
        await self.feed.run(self)

    async def close(self) -> None:
        await self.feed.close()

    # -- FixSink --------------------------------------------------------------------------------

    def publish(self, fix: Fix) -> None:
        if self.problem is not None:
            log.info("gps: receiving again (%s)", self.feed.describe())
            self.problem = None
        self.last_fix = fix
        self.state.update(self.name, fix.telemetry())
        for listener in self.listeners:
            listener(fix)

    def offline(self, problem: Problem) -> None:
        if problem != self.problem:
            log.warning("gps offline: %s", problem.message)
        self.problem = problem
        self.last_fix = None
        self.state.update(self.name, UNKNOWN_TELEMETRY)
        self.state.set_online(self.name, False, problem.message)
