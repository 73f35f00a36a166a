"""The GPS source: NMEA 0183 from a serial receiver (pyserial), or fixes from a running gpsd.

``[gps] source`` picks the feed: :class:`SerialNmeaFeed` here, or
:class:`evscreen.drivers.gpsd.GpsdFeed`. Either one hands fixes to :class:`GpsSource`, which writes
them into the vehicle state. When the receiver vanishes (USB unplugged, UART gone) or goes silent
the source goes offline with the position cleared — a screen in a moving car must not show where
the car was a minute ago as where it is — and the supervisor reopens the device with backoff until
it returns.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from evscreen.aio import WorkerThread
from evscreen.drivers.backoff import Backoff
from evscreen.drivers.base import Source
from evscreen.drivers.gpsd import GpsdFeed
from evscreen.gps.fix import SILENCE_S, UNKNOWN_TELEMETRY, Fix, FixSink, GpsUnavailable, Problem
from evscreen.gps.nmea import NmeaReader

if TYPE_CHECKING:
    from evscreen.config import Config
    from evscreen.state import VehicleState

READ_TIMEOUT_S = 0.2  # one quiet read finishes the epoch in progress


def open_serial(path: str, baud: int) -> Any:
    """Open the receiver's device with pyserial, or raise GpsUnavailable saying why not."""
    import serial

    try:
        return serial.Serial(path, baud, timeout=READ_TIMEOUT_S, exclusive=True)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise GpsUnavailable(classify_open_error(path, exc)) from None


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

    async def open(self) -> None:
        # Whatever was half-read belongs to a stream that no longer exists.
        self.reader.reset()
        self._port = await self._worker.run(open_serial, self.path, self.baud)

    async def read(self, sink: FixSink) -> None:
        import serial

        try:
            await self._read(sink)
        except (serial.SerialException, OSError) as exc:
            raise GpsUnavailable(Problem("unplugged", f"{self.path}: device lost ({exc})")) from None

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
    #: A receiver plugged back in is picked up within 5 s.
    backoff = Backoff(max_s=5.0)

    def __init__(self, config: Config, state: VehicleState) -> None:
        super().__init__(config, state)
        cfg = config.gps
        self.feed: SerialNmeaFeed | GpsdFeed
        if cfg.source == "gpsd":
            self.feed = GpsdFeed(cfg.gpsd_host, cfg.gpsd_port)
        else:
            self.feed = SerialNmeaFeed(cfg.port, cfg.baud)
        self.last_fix: Fix | None = None
        self.problem: Problem | None = None
        self.listeners: list[Callable[[Fix], None]] = []

    def describe(self) -> str:
        return f"{self.name}: {self.feed.describe()} (real)"

    async def open(self) -> None:
        await self.feed.open()  # live once fixes come (publish), not when the port opens
        self.availability.reached("gps: reading %s", self.feed.describe())

    async def read(self) -> None:
        await self.feed.read(self)

    async def close(self) -> None:
        await self.feed.close()

    def on_failure(self, error: Exception) -> None:
        self._forget(error.problem if isinstance(error, GpsUnavailable) else Problem("failed", f"failed: {error}"))

    # -- FixSink --------------------------------------------------------------------------------

    def publish(self, fix: Fix) -> None:
        self.problem = None
        self.last_fix = fix
        self.state.update(self.name, fix.telemetry())
        self.availability.up()
        for listener in self.listeners:
            listener(fix)

    def offline(self, problem: Problem) -> None:
        """A problem the feed noticed while it keeps reading (a silent receiver)."""
        self._forget(problem)
        self.availability.down(problem.message)

    def _forget(self, problem: Problem) -> None:
        self.problem = problem
        self.last_fix = None
        self.state.update(self.name, UNKNOWN_TELEMETRY, refresh=False)
