"""Writing CAN frames to log files: the recorder behind ``serve --record``, and ``can-dump --output``.

Recordings are candump ``-l`` logs, gzip-compressed (``can-20240301T071502Z.log.gz``): python-can
(``can.LogReader``), can-utils (``zcat | canplayer``), ``evscreen can-dump`` and ``serve --replay``
read them as they are, SavvyCAN once gunzipped. An SD card must see large sequential writes and a
power cut must lose little, so :class:`Recorder`:

- formats each frame into a memory buffer (the CAN reader thread's only cost per frame);
- hands the buffer to a writer thread when it holds ``BUFFER_FRAMES`` or is ``flush_seconds`` old;
- the writer compresses it into one **complete gzip member**, appends it to the current file and
  ``fsync``\\ s it: a file is a sequence of complete members, so a power cut or SIGKILL loses at most
  the buffer being filled (and a member cut mid-write, which the readers stop at with a warning);
- starts a new file when the current one reaches ``max_file_mb`` or ``max_file_minutes``, and
  deletes the oldest recordings when the folder's total passes ``max_total_mb``.

``can-dump --output FILE`` writes with :func:`open_writer`: candump ``.log`` (gzip with ``.gz``),
or python-can's own writers for ``.blf``, ``.asc``, ``.trc`` and ``.csv``.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evscreen.can.logs import CAN_ERR_FLAG, DATA, ERROR, REMOTE, LogFrame, as_message
from evscreen.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from evscreen.config import RecordingConfig

log = logging.getLogger(__name__)

BUFFER_FRAMES = 32768  # frames per write at most: about 1 MiB of candump text, 150-250 kB compressed
BUFFER_BYTES = 1024 * 1024  # can-dump --output's buffer, in text
QUEUE_BUFFERS = 8  # buffers waiting for the writer at most; beyond, frames are dropped (and counted)
COMPRESS_LEVEL = 6
FILE_PATTERN = re.compile(r"^can-(\d{8}T\d{6}Z)(?:-(\d+))?\.log\.gz$")
_CHANNEL_UNSAFE = re.compile(r"[\s()#]")


def candump_line(timestamp: float, channel: str, frame_id: int, extended: bool, data: bytes | bytearray,
                 kind: int = DATA) -> str:
    """One frame as ``candump -l`` writes it (with the newline)."""
    if kind == ERROR:
        ident = f"{frame_id | CAN_ERR_FLAG:08X}"
    else:
        ident = f"{frame_id:08X}" if extended else f"{frame_id:03X}"
    if kind == REMOTE:
        payload = "R"
    elif len(data) > 8:
        payload = "#0" + data.hex().upper()  # CAN FD: "##<flags><data>"
    else:
        payload = data.hex().upper()
    return f"({timestamp:.6f}) {channel} {ident}#{payload}\n"


def channel_name(channel: Any, default: str = "can0") -> str:
    """A bus name candump's format can carry (no spaces, no brackets)."""
    text = "" if channel is None else str(channel)
    return _CHANNEL_UNSAFE.sub("_", text) or default


def _fsync_dir(folder: Path) -> None:
    """Make a new file's name survive a power cut (POSIX; a no-op elsewhere)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class CandumpWriter:
    """Appends candump text to one file, each ``write`` one complete (gzip member and) fsync."""

    def __init__(self, path: Path, *, compress: bool, sync: bool = True) -> None:
        self.path = path
        self.compress = compress
        self.sync = sync
        new = not path.exists()
        self._f = path.open("ab")
        if new and sync:
            _fsync_dir(path.parent)
        self.size = self._f.tell()

    def write(self, text: str) -> int:
        raw = text.encode("ascii", "replace")
        data = gzip.compress(raw, COMPRESS_LEVEL, mtime=0) if self.compress else raw
        self._f.write(data)
        self._f.flush()
        if self.sync:
            os.fsync(self._f.fileno())
        self.size += len(data)
        return len(data)

    def close(self) -> None:
        self._f.close()


@dataclass
class RecorderStats:
    frames: int = 0  # frames written to disk
    dropped: int = 0  # frames lost because the disk could not keep up or failed
    writes: int = 0  # buffers written (one gzip member each)
    bytes_written: int = 0  # compressed bytes
    files: int = 0  # files started
    deleted: int = 0  # old files deleted to keep under max_total_mb
    writer_cpu_s: float = 0.0  # CPU time of the writer thread (compressing, writing)


class Recorder:
    """Every frame the CAN source receives, into rotating compressed candump files in ``folder``.

    ``add`` is called from the CAN reader thread for each frame, ``tick`` once per batch and when
    the bus is idle, ``flush`` when the source closes: all cheap, the disk is the writer thread's.
    """

    def __init__(self, cfg: RecordingConfig, channel: str = "can0", *,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        assert cfg.dir is not None
        self.folder = Path(cfg.dir).expanduser()
        self.max_file_bytes = int(cfg.max_file_mb * 1024 * 1024)
        self.max_file_s = cfg.max_file_minutes * 60.0
        self.max_total_bytes = int(cfg.max_total_mb * 1024 * 1024)
        self.flush_s = cfg.flush_seconds
        self.channel = channel_name(channel)
        self.stats = RecorderStats()
        self._clock = clock
        self._wall = wall
        self._lines: list[str] = []
        self._names: dict[Any, str] = {}  # python-can channel -> the name written
        self._since = clock()  # when the buffer was last handed over
        self._queue: queue.Queue[tuple[list[str], int] | None] = queue.Queue(QUEUE_BUFFERS)
        self._thread: threading.Thread | None = None
        self._writer: CandumpWriter | None = None
        self._last: Path | None = None  # the file being written, or last written
        self._opened_at = 0.0  # when it was started
        self._failing: str | None = None  # why writes fail, while they do
        self._dropping = False
        check_folder(self.folder)

    def describe(self) -> str:
        return (f"recording CAN frames to {self.folder} (candump .log.gz, a new file every "
                f"{self.max_file_bytes / 1048576:g} MB or {self.max_file_s / 60:g} min, {self.max_total_bytes / 1048576:g}"
                f" MB kept, written every {self.flush_s:g} s or {BUFFER_FRAMES} frames)")

    # -- the reader thread's side -------------------------------------------------------------------

    def add(self, msg: Any) -> None:
        """One received python-can message: formatted into the buffer (this runs once per frame)."""
        name = self._names.get(msg.channel)
        if name is None:
            name = self._name(msg.channel)
        if msg.is_error_frame or msg.is_remote_frame or msg.is_fd:
            kind = ERROR if msg.is_error_frame else REMOTE if msg.is_remote_frame else DATA
            line = candump_line(msg.timestamp, name, msg.arbitration_id, msg.is_extended_id, msg.data, kind)
        elif msg.is_extended_id:
            line = f"({msg.timestamp:.6f}) {name} {msg.arbitration_id:08X}#{msg.data.hex().upper()}\n"
        else:
            line = f"({msg.timestamp:.6f}) {name} {msg.arbitration_id:03X}#{msg.data.hex().upper()}\n"
        lines = self._lines
        lines.append(line)
        if len(lines) >= BUFFER_FRAMES:
            self._hand_over()

    def _name(self, channel: Any) -> str:
        name = self.channel if channel is None else channel_name(channel, self.channel)
        if len(self._names) < 64:  # a bus has a few channels; anything else is not worth remembering
            self._names[channel] = name
        return name

    def tick(self) -> None:
        """Write what is buffered if it has waited ``flush_seconds``."""
        if self._lines and self._clock() - self._since >= self.flush_s:
            self._hand_over()

    def flush(self, timeout: float = 30.0) -> None:
        """Write everything buffered, close the file, and wait until that is on disk.

        The next frames go on in the same file while it is within its size and age (a closed
        gzip file takes more members), else in a new one.
        """
        if self._lines:
            self._hand_over(block=True)
        if self._thread is None:
            return
        try:
            self._queue.put(None, timeout=timeout)  # "close the file", after the buffers before it
        except queue.Full:
            return
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.005)

    def _hand_over(self, block: bool = False) -> None:
        lines = self._lines
        count = len(lines)
        self._lines = []
        self._since = self._clock()
        self._start()
        try:
            self._queue.put((lines, count), block=block, timeout=30.0 if block else None)
            if self._dropping:
                self._dropping = False
        except queue.Full:
            self.stats.dropped += count
            if not self._dropping:
                self._dropping = True
                log.warning("recording: the disk does not keep up with the bus; dropping frames (%d so far)",
                            self.stats.dropped)

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._write_loop, name="can-recorder", daemon=True)
            self._thread.start()

    # -- the writer thread -----------------------------------------------------------------------------

    def _write_loop(self) -> None:
        clock = time.thread_time
        while True:
            item = self._queue.get()
            try:
                before = clock()
                if item is None:
                    self._close_file()
                else:
                    self._write(*item)
                self.stats.writer_cpu_s += clock() - before
            finally:
                self._queue.task_done()

    def _write(self, lines: list[str], count: int) -> None:
        try:
            writer = self._current()
            written = writer.write("".join(lines))
        except OSError as exc:
            self.stats.dropped += count
            self._close_file()
            why = exc.strerror or str(exc)
            if self._failing is None:
                log.error("recording: cannot write to %s: %s; frames are dropped until it works again", self.folder,
                          why)
            self._failing = why
            return
        if self._failing is not None:
            log.info("recording: writing to %s again", self.folder)
            self._failing = None
        self.stats.frames += count
        self.stats.writes += 1
        self.stats.bytes_written += written

    def _current(self) -> CandumpWriter:
        writer = self._writer
        if writer is not None and (writer.size >= self.max_file_bytes
                                   or self._clock() - self._opened_at >= self.max_file_s):
            self._close_file()
            writer = None
        if writer is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            last = self._last
            if last is not None and last.exists() and last.stat().st_size < self.max_file_bytes \
                    and self._clock() - self._opened_at < self.max_file_s:
                writer = self._writer = CandumpWriter(last, compress=True)  # go on where it stopped
            else:
                writer = self._writer = CandumpWriter(self._new_path(), compress=True)
                self._opened_at = self._clock()
                self._last = writer.path
                self.stats.files += 1
                self._keep_under_cap(writer.path)
        return writer

    def _new_path(self) -> Path:
        stamp = datetime.fromtimestamp(self._wall(), timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        path = self.folder / f"can-{stamp}.log.gz"
        n = 1
        while path.exists():
            path = self.folder / f"can-{stamp}-{n}.log.gz"
            n += 1
        return path

    def _close_file(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            with contextlib.suppress(OSError):
                writer.close()

    def _keep_under_cap(self, current: Path) -> None:
        files = recordings(self.folder)
        total = sum(size for _, size in files)
        for path, size in files:
            if total <= self.max_total_bytes:
                break
            if path == current:
                continue
            try:
                path.unlink()
            except OSError as exc:
                log.warning("recording: cannot delete the old recording %s: %s", path, exc.strerror or exc)
                continue
            total -= size
            self.stats.deleted += 1
            log.info("recording: deleted %s to keep %s under %g MB", path.name, self.folder,
                     self.max_total_bytes / 1048576)


def recordings(folder: Path) -> list[tuple[Path, int]]:
    """The recordings in ``folder``, oldest first, with their sizes (other files are left alone)."""
    out = []
    try:
        entries = sorted((p for p in folder.iterdir() if FILE_PATTERN.match(p.name)), key=_age_key)
    except OSError:
        return []
    for path in entries:
        try:
            out.append((path, path.stat().st_size))
        except OSError:
            pass
    return out


def _age_key(path: Path) -> tuple[str, int]:
    """Files started in the same second are numbered -1, -2...: after the one without a number."""
    m = FILE_PATTERN.match(path.name)
    assert m is not None
    return m.group(1), int(m.group(2) or 0)


def check_folder(folder: Path) -> None:
    """ConfigError unless recordings can be written into ``folder`` (created if missing)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".evscreen-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"recording.dir: cannot write recordings into {folder}: {exc.strerror or exc}") from None


# --- can-dump --output ---------------------------------------------------------------------------

#: What ``can-dump --output`` writes, by the file name's ending.
OUTPUT_FORMATS = (".log", ".log.gz", ".blf", ".asc", ".trc", ".csv")


class LogWriter:
    """Frames into one log file, the format chosen by the name: see :data:`OUTPUT_FORMATS`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        name = self.path.name.lower()
        kind = next((ext for ext in sorted(OUTPUT_FORMATS, key=len, reverse=True) if name.endswith(ext)), None)
        if kind is None:
            raise UsageError(f"--output: {self.path} must end in one of {', '.join(OUTPUT_FORMATS)}"
                             " (the ending picks the format)")
        self.kind = kind
        self.frames = 0
        self._lines: list[str] = []
        self._bytes = 0
        try:
            if kind in (".log", ".log.gz"):
                self.path.unlink(missing_ok=True)  # a fresh file: the writer appends
                self._candump: CandumpWriter | None = CandumpWriter(self.path, compress=kind == ".log.gz", sync=False)
                self._pycan: Any = None
            else:
                import can

                self._candump = None
                self._pycan = can.Logger(str(self.path))
        except OSError as exc:
            raise UsageError(f"--output: cannot write {self.path}: {exc.strerror or exc}") from None

    def write(self, frame: LogFrame) -> None:
        self.frames += 1
        if self._candump is not None:
            line = candump_line(frame.timestamp, channel_name(frame.channel), frame.arbitration_id, frame.is_extended,
                                frame.data, frame.kind)
            self._lines.append(line)
            self._bytes += len(line)
            if self._bytes >= BUFFER_BYTES:
                self._flush()
            return
        self._pycan.on_message_received(as_message(frame, _pycan_channel(frame.channel)))

    def _flush(self) -> None:
        if self._lines and self._candump is not None:
            self._candump.write("".join(self._lines))
            self._lines, self._bytes = [], 0

    def close(self) -> None:
        """Write what is buffered and close the file (once; later calls do nothing)."""
        candump, pycan = self._candump, self._pycan
        if candump is not None:
            self._flush()
            candump.close()
        elif pycan is not None:
            pycan.stop()
        self._candump = self._pycan = None


def _pycan_channel(channel: str) -> Any:
    """python-can's BLF and ASC writers number channels: "0", "can1" become 0, 1."""
    m = re.search(r"(\d+)$", channel)
    return int(m.group(1)) if m else channel


def tee(frames: Any, writer: LogWriter) -> Any:
    """Yield ``frames``, writing each to ``writer`` on the way (the caller closes it)."""
    for frame in frames:
        writer.write(frame)
        yield frame
