"""CAN log files: every format python-can reads, plus SavvyCAN's GVRET CSV, which it cannot.

:func:`open_log` picks the format from the file's content (falling back to its extension) and
returns a :class:`LogReader` that yields :class:`LogFrame` tuples. Line formats we parse ourselves
(candump ``.log``, GVRET ``.csv``, python-can ``.csv``) skip a corrupt line, count it and warn
with its line number; ``.asc``, ``.trc`` and ``.blf`` are read by python-can, and a corrupt record
there ends the file with a warning naming the line (or record) it stopped at.

Any of them may be gzip-compressed (``drive.log.gz``: told by its first bytes). A compressed file
that ends early — a recording cut off by a power loss — gives every frame up to the cut, then a
warning; the same for a corrupt compressed block.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import io
import logging
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from evscreen.errors import LogFormatError

log = logging.getLogger(__name__)

DATA, REMOTE, ERROR = 0, 1, 2
CAN_ERR_FLAG = 0x20000000
MAX_WARNINGS = 20

FORMATS = ("candump", "gvret", "csv", "asc", "trc", "blf")
_EXTENSIONS = {".log": "candump", ".asc": "asc", ".trc": "trc", ".blf": "blf", ".csv": "csv"}
_CANDUMP_LINE = re.compile(r"^\(\d+(?:\.\d*)?\)\s+\S+\s+[0-9A-Fa-f]{1,8}#")
_GVRET_HEADER = re.compile(r"^\s*time\s*stamp\s*,\s*id\s*,\s*extended\s*,", re.I)
_PYCAN_CSV_HEADER = "timestamp,arbitration_id,extended,remote,error,dlc,data"


class LogFrame(NamedTuple):
    """One frame from a log. ``channel`` names the bus as the log does ("0", "can1"...)."""

    timestamp: float
    channel: str
    arbitration_id: int
    is_extended: bool
    data: bytes
    kind: int  # DATA, REMOTE or ERROR


def as_message(frame: LogFrame, channel: Any = None) -> Any:
    """The frame as a python-can ``Message`` (``channel`` instead of the frame's own, if given)."""
    import can

    data = frame.data
    return can.Message(
        timestamp=frame.timestamp, arbitration_id=frame.arbitration_id, is_extended_id=frame.is_extended,
        is_remote_frame=frame.kind == REMOTE, is_error_frame=frame.kind == ERROR,
        channel=frame.channel if channel is None else channel, dlc=len(data),
        data=data if frame.kind == DATA else None, is_fd=len(data) > 8, check=False,
    )


def bus_matches(channel: str, bus: str) -> bool:
    """``--bus 1`` matches channel "1", "can1", "vcan1"; anything else must match exactly."""
    if channel == bus:
        return True
    m = re.search(r"(\d+)$", channel)
    return bus.isdigit() and m is not None and int(m.group(1)) == int(bus)


GZIP_MAGIC = b"\x1f\x8b"
#: What a gzip stream that is cut off or damaged raises while it is read.
_COMPRESSED_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)


def is_gzip(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(2) == GZIP_MAGIC
    except OSError:
        return False


def _read_head(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            head = f.read(8192)
        if head.startswith(GZIP_MAGIC):
            with gzip.open(path, "rb") as z:
                head = _read_some(z, 8192)
    except IsADirectoryError:
        raise LogFormatError(f"{path}: is a directory, not a CAN log") from None
    except FileNotFoundError:
        raise LogFormatError(f"{path}: log file not found") from None
    except _COMPRESSED_ERRORS as exc:
        raise LogFormatError(f"{path}: not a readable gzip file ({exc})") from None
    except OSError as exc:
        raise LogFormatError(f"{path}: cannot read log file: {exc.strerror or exc}") from None
    return head


def _read_some(f: Any, size: int) -> bytes:
    """Up to ``size`` bytes of a compressed stream; a cut-off stream gives what it has."""
    out = b""
    try:
        while len(out) < size:
            chunk = f.read1(size - len(out)) if hasattr(f, "read1") else f.read(size - len(out))
            if not chunk:
                break
            out += chunk
    except EOFError:
        if not out:
            raise
    return out


def detect_format(path: Path) -> str:
    """The log format of ``path`` from its first bytes, else its extension; LogFormatError if neither."""
    head = _read_head(path)
    if head.startswith(b"LOGG"):
        return "blf"
    text = head.decode("latin-1")
    for line in text.splitlines()[:40]:
        s = line.strip()
        if not s:
            continue
        if _GVRET_HEADER.match(s):
            return "gvret"
        if s.lower().replace(" ", "").startswith(_PYCAN_CSV_HEADER):
            return "csv"
        if _CANDUMP_LINE.match(s):
            return "candump"
        if s.startswith(";$FILEVERSION") or s.startswith(";   Start time"):
            return "trc"
        low = s.lower()
        if low.startswith(("date ", "base hex", "base dec", "// version", "begin triggerblock")):
            return "asc"
    suffix = (path.with_suffix("") if path.suffix.lower() == ".gz" else path).suffix.lower()
    if suffix in _EXTENSIONS and suffix != ".csv" and b"\x00" not in head[:512]:
        return _EXTENSIONS[suffix]
    raise LogFormatError(
        f"{path}: unknown CAN log format (expected candump .log, .asc, .blf, .trc, python-can .csv"
        " or SavvyCAN GVRET .csv)"
    )


class LogReader:
    """Frames of one log file, with counts of what could not be read."""

    def __init__(self, path: str | Path, fmt: str | None = None) -> None:
        self.path = Path(path)
        self.format = fmt or detect_format(self.path)
        if self.format not in FORMATS:
            raise LogFormatError(f"{self.path}: unknown log format {self.format!r} (known: {', '.join(FORMATS)})")
        self.compressed = is_gzip(self.path)
        self.corrupt = 0
        self.stopped_early = False
        self._warned = 0

    def __iter__(self) -> Iterator[LogFrame]:
        reader = {
            "candump": self._candump, "gvret": self._gvret, "csv": self._pycan_csv,
        }.get(self.format, self._python_can)
        return reader()

    def _warn(self, where: Any, why: str) -> None:
        self.corrupt += 1
        self._warned += 1
        if self._warned <= MAX_WARNINGS:
            log.warning("%s:%s: corrupt line skipped (%s)", self.path, where, why)
        elif self._warned == MAX_WARNINGS + 1:
            log.warning("%s: more corrupt lines; counting them without a warning each", self.path)

    def _lines(self) -> Iterator[tuple[int, str]]:
        number = 0
        with self._open_text() as f:
            try:
                for number, line in enumerate(f, 1):
                    yield number, line
            except _COMPRESSED_ERRORS as exc:
                self._cut_off(number, exc)

    def _cut_off(self, where: Any, exc: BaseException) -> None:
        """A compressed file ends early or is damaged: what came before it stands."""
        self.corrupt += 1
        self.stopped_early = True
        log.warning("%s: compressed data ends early or is damaged after line %s (a recording cut off by a power"
                    " loss?); the rest is skipped (%s)", self.path, where, exc or type(exc).__name__)

    def _open_binary(self) -> Any:
        try:
            return gzip.open(self.path, "rb") if self.compressed else self.path.open("rb")
        except OSError as exc:
            raise LogFormatError(f"{self.path}: cannot read log file: {exc.strerror or exc}") from None

    def _open_text(self) -> Any:
        if self.compressed:
            return io.TextIOWrapper(self._open_binary(), encoding="utf-8", errors="replace")
        try:
            return self.path.open("r", encoding="utf-8", errors="replace")
        except OSError as exc:
            raise LogFormatError(f"{self.path}: cannot read log file: {exc.strerror or exc}") from None

    # -- candump -l: "(1436509052.249713) can0 123#DEADBEEF" --------------------------------------

    def _candump(self) -> Iterator[LogFrame]:
        fromhex = bytes.fromhex
        new = tuple.__new__
        slow = self._candump_line
        number = 0
        with self._open_text() as f:
            try:
                for number, line in enumerate(f, 1):
                    # The common case in a few operations: "(stamp) iface 123#0102..." with an 11-bit ID.
                    # Anything else, or anything wrong, takes the careful path.
                    try:
                        stamp, channel, frame = line.split()
                        ident, sep, payload = frame.partition("#")
                        if len(ident) != 3 or not sep or stamp[0] != "(":
                            raise ValueError
                        frame_id = int(ident, 16)
                        if frame_id > 0x7FF or len(payload) > 16:
                            raise ValueError
                        yield new(LogFrame, (float(stamp[1:-1]), channel, frame_id, False, fromhex(payload), DATA))
                        continue
                    except ValueError:
                        pass
                    frame_or_none = slow(number, line)
                    if frame_or_none is not None:
                        yield frame_or_none
            except _COMPRESSED_ERRORS as exc:
                self._cut_off(number, exc)

    def _candump_line(self, number: int, line: str) -> LogFrame | None:
        parts = line.split()
        if not parts or parts[0][0] == "#":
            return None
        try:
            stamp = parts[0]
            if len(parts) < 3 or len(parts) > 4 or stamp[0] != "(" or stamp[-1] != ")":
                raise ValueError("expected '(timestamp) interface id#data'")
            ident, sep, payload = parts[2].partition("#")
            size = len(ident)
            if not sep or not 1 <= size <= 8:
                raise ValueError(f"bad frame {parts[2]!r}")
            frame_id = int(ident, 16)
            extended = size > 3
            kind = DATA
            if extended:
                if frame_id & CAN_ERR_FLAG:
                    kind, frame_id, extended = ERROR, frame_id & 0x1FFFFFFF, False
                elif frame_id > 0x1FFFFFFF:
                    raise ValueError(f"ID {ident} above 29 bits")
            elif frame_id > 0x7FF:
                raise ValueError(f"standard ID {ident} above 0x7FF")
            if payload[:1] == "R":
                kind, data = REMOTE, b""
            else:
                if payload[:1] == "#":  # CAN FD: "##<flags><data>"
                    payload = payload[2:]
                data = bytes.fromhex(payload)
                if len(data) > 64:
                    raise ValueError("more than 64 data bytes")
            return LogFrame(float(stamp[1:-1]), parts[1], frame_id, extended, data, kind)
        except (ValueError, IndexError) as exc:
            self._warn(number, str(exc))
            return None

    # -- SavvyCAN GVRET: "Time Stamp,ID,Extended,Bus,LEN,D1,...,D8" (microseconds) -----------------

    def _gvret(self) -> Iterator[LogFrame]:
        lines = self._lines()
        columns: dict[str, int] = {}
        for number, line in lines:
            if line.strip():
                columns = {name.strip().lower(): i for i, name in enumerate(line.strip().split(","))}
                break
        try:
            c_ts, c_id, c_ext = columns["time stamp"], columns["id"], columns["extended"]
            c_bus, c_len, c_data = columns.get("bus"), columns["len"], columns["d1"]
        except KeyError as exc:
            raise LogFormatError(f"{self.path}:1: GVRET header lacks column {exc}") from None
        fromhex = bytes.fromhex
        for number, line in lines:
            parts = line.rstrip("\r\n").split(",")
            if len(parts) == 1 and not parts[0].strip():
                continue
            try:
                length = int(parts[c_len])
                if not 0 <= length <= 64:
                    raise ValueError(f"LEN {length} out of range")
                fields = parts[c_data:c_data + length]
                if len(fields) != length or any(len(x) != 2 for x in fields):
                    raise ValueError(f"expected {length} data bytes")
                if any(x.strip() for x in parts[c_data + length:]):
                    raise ValueError(f"more data than LEN {length}")
                data = fromhex("".join(fields))
                frame_id = int(parts[c_id], 16)
                flag = parts[c_ext].strip().lower()
                if flag not in ("true", "false"):
                    raise ValueError(f"Extended must be true or false, got {parts[c_ext]!r}")
                extended = flag == "true"
                if frame_id > (0x1FFFFFFF if extended else 0x7FF):
                    raise ValueError(f"ID {parts[c_id]} too large")
                timestamp = int(parts[c_ts]) / 1e6
                channel = parts[c_bus].strip() if c_bus is not None else "0"
            except (ValueError, IndexError) as exc:
                self._warn(number, str(exc))
                continue
            yield LogFrame(timestamp, channel, frame_id, extended, data, DATA)

    # -- python-can CSV: "timestamp,arbitration_id,extended,remote,error,dlc,data" (base64) --------

    def _pycan_csv(self) -> Iterator[LogFrame]:
        lines = self._lines()
        for number, line in lines:
            if line.strip():
                if not line.lower().replace(" ", "").startswith(_PYCAN_CSV_HEADER):
                    raise LogFormatError(f"{self.path}:{number}: not a python-can CSV header")
                break
        for number, line in lines:
            if not line.strip():
                continue
            try:
                ts, ident, ext, remote, error, dlc, payload = line.rstrip("\r\n").split(",")
                data = base64.b64decode(payload, validate=True)
                flags = (ext.strip(), remote.strip(), error.strip())
                if any(x not in ("0", "1") for x in flags):
                    raise ValueError("flags must be 0 or 1")
                extended = flags[0] == "1"
                frame_id = int(ident, 0)
                if frame_id > (0x1FFFFFFF if extended else 0x7FF) or frame_id < 0:
                    raise ValueError(f"ID {ident} out of range")
                int(dlc)
                kind = ERROR if flags[2] == "1" else REMOTE if flags[1] == "1" else DATA
                frame = LogFrame(float(ts), "0", frame_id, extended, data, kind)
            except (ValueError, binascii.Error) as exc:
                self._warn(number, str(exc) or "bad field")
                continue
            yield frame

    # -- .asc, .trc, .blf through python-can --------------------------------------------------------

    def _python_can(self) -> Iterator[LogFrame]:
        import can

        binary = self.format == "blf"
        try:
            handle: Any = self._open_binary() if binary else _CountingFile(self._open_text())
        except OSError as exc:
            raise LogFormatError(f"{self.path}: cannot read log file: {exc.strerror or exc}") from None
        reader_class = {"asc": can.ASCReader, "trc": can.TRCReader, "blf": can.BLFReader}[self.format]
        count = 0
        try:
            try:
                reader = reader_class(handle)
                for msg in reader:
                    count += 1
                    kind = ERROR if msg.is_error_frame else REMOTE if msg.is_remote_frame else DATA
                    channel = "0" if msg.channel is None else str(msg.channel)
                    yield LogFrame(msg.timestamp, channel, msg.arbitration_id, msg.is_extended_id,
                                   bytes(msg.data), kind)
            except Exception as exc:  # python-can raises many kinds on corrupt input
                where = f"at line {handle.lineno}" if not binary else f"after frame {count}"
                self.corrupt += 1
                self.stopped_early = True
                log.warning("%s: corrupt data %s, rest of the file skipped (%s: %s)",
                            self.path, where, type(exc).__name__, exc)
        finally:
            handle.close()


class _CountingFile:
    """A text file that knows which line python-can's reader is on, for warnings."""

    def __init__(self, f: Any) -> None:
        self._f = f
        self.lineno = 0
        self.name = getattr(f, "name", "")

    def __iter__(self) -> _CountingFile:
        return self

    def __next__(self) -> str:
        line = next(self._f)
        self.lineno += 1
        return line

    def readline(self) -> str:
        line = self._f.readline()
        if line:
            self.lineno += 1
        return line

    def read(self, size: int = -1) -> str:
        return self._f.read(size)

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> _CountingFile:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def open_log(path: str | Path, fmt: str | None = None) -> LogReader:
    return LogReader(path, fmt)
