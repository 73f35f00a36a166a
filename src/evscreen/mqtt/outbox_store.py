"""The on-disk part of the telemetry outbox: what the broker did not acknowledge promptly, and ``seq``.

SQLite in WAL mode with ``synchronous = FULL``: a committed message survives a crash of evscreen and
a power cut of the car. Nothing is written here while the broker acknowledges telemetry promptly
(:mod:`evscreen.mqtt.outbox` keeps those messages in memory); what it did not acknowledge within a
few seconds, and everything during an outage or at shutdown, is written in batches.

``seq`` only ever grows, across restarts and power cuts too. The next start numbers on from the
ceiling: the ``meta`` table's ``last_seq`` (the highest seq stored or published) and, in a small
file of its own beside the database (:class:`CeilingFile`, one page per write where an SQLite
commit costs several), the block of numbers the bridge may publish while connected without
writing each one. A power cut while connected makes the next start skip the rest of that block:
a gap, never a repeated number. The stored messages are bounded by count and by age; when a bound
is hit the oldest go, and the drop is counted and logged.

:class:`OutboxStore` is plain blocking code for one thread (the outbox runs it on a worker thread
of its own, so a slow SD card never stalls the event loop).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import struct
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    created REAL NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""

#: A Raspberry Pi has no clock battery: until NTP answers it may believe it is 1970. Messages
#: stored with such a time have an unknown age; only the count bound removes them.
PLAUSIBLE_TIME = 1_704_067_200.0  # 2024-01-01 UTC

#: Seconds between two log lines about dropped messages (the count goes in the next line).
DROP_LOG_INTERVAL = 60.0

#: A message waiting to be acknowledged: ``(seq, created, payload)`` (``created`` is wall-clock time).
Row = tuple[int, float, bytes]


class DropLog:
    """Logs dropped telemetry at most once a minute, with the count since the last line."""

    def __init__(self, max_messages: int, max_age: float) -> None:
        self.max_messages = max_messages
        self.max_age = max_age
        self._unlogged = 0
        self._last = -DROP_LOG_INTERVAL

    def dropped(self, n: int, total: int) -> None:
        self._unlogged += n
        now = time.monotonic()
        if self._unlogged and now - self._last >= DROP_LOG_INTERVAL:
            log.warning(
                "MQTT outbox full (at most %d messages, %.4g h): dropped the %d oldest telemetry message(s), "
                "%d dropped in all", self.max_messages, self.max_age / 3600.0, self._unlogged, total,
            )
            self._unlogged = 0
            self._last = now


class CeilingFile:
    """The seq ceiling in a file of its own: a few bytes written in place and synced.

    Two slots, each ``(generation, ceiling, crc32)``; a write goes to the slot that does not hold the
    newest generation. A write torn by a power cut fails its checksum and the previous one counts,
    which is safe: nothing above a new ceiling is published before its write has been synced."""

    SLOT = struct.Struct("<QQI")
    OFFSETS = (0, 512)  # different sectors

    def __init__(self, path: Path) -> None:
        self.path = path
        self.generation = 0
        self.value = 0
        self._fd: int | None = None

    def open(self) -> None:
        created = not self.path.exists()
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)
        if created:
            _sync_directory(self.path.parent)
        for offset in self.OFFSETS:
            data = os.pread(self._fd, self.SLOT.size, offset) if hasattr(os, "pread") else self._read_at(offset)
            if len(data) != self.SLOT.size:
                continue
            generation, value, crc = self.SLOT.unpack(data)
            if crc == zlib.crc32(data[:-4]) and generation > self.generation:
                self.generation, self.value = generation, value

    def _read_at(self, offset: int) -> bytes:
        assert self._fd is not None
        os.lseek(self._fd, offset, os.SEEK_SET)
        return os.read(self._fd, self.SLOT.size)

    def write(self, value: int) -> None:
        if self._fd is None:
            raise OSError(f"{self.path} is not open")
        generation = self.generation + 1
        head = self.SLOT.pack(generation, value, 0)[:-4]
        record = head + struct.pack("<I", zlib.crc32(head))
        offset = self.OFFSETS[generation % 2]
        if hasattr(os, "pwrite"):
            os.pwrite(self._fd, record, offset)
        else:  # Windows
            os.lseek(self._fd, offset, os.SEEK_SET)
            os.write(self._fd, record)
        getattr(os, "fdatasync", os.fsync)(self._fd)
        self.generation, self.value = generation, value

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _sync_directory(path: Path) -> None:
    """Make a new file's name durable (POSIX; Windows has no directory handles to sync)."""
    if sys.platform == "win32":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class OutboxStore:
    """Durable, bounded telemetry keyed by ``seq``, and the seq ceiling. Not thread-safe: one thread."""

    def __init__(self, path: Path | None, max_messages: int, max_age: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.max_messages = max_messages
        self.max_age = max_age
        self.clock = clock
        #: Messages stored.
        self.size = 0
        #: Messages dropped by the bounds, ever (kept in the database).
        self.dropped = 0
        #: The highest seq in the table (0: none); the table may hold fewer since.
        self.max_seq = 0
        self.durable = path is not None
        self._db: sqlite3.Connection | None = None
        self._last_seq = 0  # meta last_seq: the highest seq stored or published
        #: Seqs up to this may have been published (the ceiling file's value).
        self.reserved = 0
        self._ceiling_file: CeilingFile | None = None
        self._drops = DropLog(max_messages, max_age)

    @property
    def ceiling(self) -> int:
        """No seq above this was ever stored or published: the next start numbers from here + 1."""
        return max(self._last_seq, self.reserved, self.max_seq)

    # -- opening ------------------------------------------------------------------------------------

    def open(self) -> None:
        if self.path is None:
            self._db = self._connect(":memory:")
        else:
            try:
                self._db = self._open_file()
            except (OSError, sqlite3.Error) as exc:
                log.error("cannot open the MQTT outbox %s (%s); telemetry queued while the broker is "
                          "unreachable will not survive a restart", self.path, exc)
                self.durable = False
                self._db = self._connect(":memory:")
        if self.durable and self.path is not None:
            ceiling = CeilingFile(self.path.with_name(self.path.name + "-seq"))
            try:
                ceiling.open()
            except OSError as exc:
                log.error("cannot open %s (%s); telemetry seq may repeat after a power cut", ceiling.path, exc)
            else:
                self._ceiling_file = ceiling
                self.reserved = ceiling.value
        self._load_counters()

    def _open_file(self) -> sqlite3.Connection:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return self._connect(str(self.path))
        except sqlite3.DatabaseError as exc:
            if not _is_corrupt(exc):
                raise
            return self._recover(exc)

    def _connect(self, where: str) -> sqlite3.Connection:
        db = sqlite3.connect(where, isolation_level=None)  # autocommit; transactions are explicit
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(SCHEMA)
            db.execute("SELECT count(*) FROM outbox").fetchone()
            check = db.execute("PRAGMA quick_check").fetchone()
            if check is None or check[0] != "ok":
                raise sqlite3.DatabaseError(f"database disk image is malformed (quick_check: {check})")
        except BaseException:
            db.close()
            raise
        return db

    def _recover(self, exc: Exception) -> sqlite3.Connection:
        """Move a corrupt database aside and start a new one whose ``seq`` is past any old one."""
        assert self.path is not None
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        for suffix in ("", "-wal", "-shm"):
            try:
                os.replace(f"{self.path}{suffix}", f"{aside}{suffix}")
            except OSError:
                pass
        db = self._connect(str(self.path))
        # The old seq is lost with the file: continue from a number no old outbox can have reached
        # (milliseconds since 1970), so consumers see a gap, never a repeat.
        floor = int(self.clock() * 1000)
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('last_seq', ?)", (floor,))
        log.error("MQTT outbox %s is corrupt (%s); moved aside to %s and started a new one "
                  "(telemetry seq continues from %d)", self.path, exc, aside, floor)
        return db

    def _load_counters(self) -> None:
        db = self._require()
        row = db.execute("SELECT count(*), max(seq) FROM outbox").fetchone()
        self.size = int(row[0])
        self.max_seq = int(row[1] or 0)
        stored = {k: v for k, v in db.execute("SELECT key, value FROM meta")}
        # A reservation left by a run that lost its power while connected: all of it may have been
        # published, so it is as good as used; giving back a later one must not go below it.
        self._last_seq = max(int(stored.get("last_seq", 0)), self.reserved)
        self.dropped = int(stored.get("dropped", 0))

    def _require(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("outbox is not open")
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._ceiling_file is not None:
            self._ceiling_file.close()
            self._ceiling_file = None

    # -- writing: each call one transaction ------------------------------------------------------------

    def store(self, rows: Sequence[Row], release: int | None = None) -> None:
        """Store ``rows`` (in seq order) in one transaction, then drop the oldest beyond the bounds.

        ``release``: the highest seq published on the connection that just ended (or the last seq at a
        clean stop). The rest of the reservation is given back: the ceiling becomes what was really
        used, so a restart after an outage numbers on without a gap."""
        last = max([self._last_seq, *(r[0] for r in rows), release or 0])
        if rows:
            db = self._require()
            now = self.clock()
            db.execute("BEGIN IMMEDIATE")
            try:
                # OR IGNORE: a message stored twice (a spill that was interrupted) is the same message.
                added = max(0, db.executemany("INSERT OR IGNORE INTO outbox (seq, created, payload) "
                                              "VALUES (?, ?, ?)", rows).rowcount)
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('last_seq', ?)", (last,))
                dropped = self._enforce_bounds(db, now, self.size + added)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self.size += added - dropped
            self.max_seq = max(self.max_seq, rows[-1][0])
            if dropped:
                self.dropped += dropped
                self._drops.dropped(dropped, self.dropped)
        self._last_seq = last
        if release is not None and self.reserved != last:
            # After the rows are safe: a power cut in between leaves the higher ceiling (a gap).
            self._set_reserved(last)

    def release_needed(self, release: int) -> bool:
        """Whether giving back the reservation after ``release`` would change what is on disk."""
        return release > self._last_seq or self.reserved > max(self._last_seq, release)

    def reserve(self, ceiling: int) -> None:
        """Note durably that seqs up to ``ceiling`` may be published (before any of them is)."""
        self._set_reserved(ceiling)

    def _set_reserved(self, value: int) -> None:
        if self._ceiling_file is not None:
            self._ceiling_file.write(value)
        self.reserved = value

    def _enforce_bounds(self, db: sqlite3.Connection, now: float, size: int) -> int:
        """Delete what is too old or too many (oldest first); returns how many went. In a transaction."""
        dropped = 0
        cutoff = now - self.max_age
        oldest = db.execute("SELECT created FROM outbox ORDER BY seq LIMIT 1").fetchone()
        if oldest is not None and PLAUSIBLE_TIME < oldest[0] < cutoff:
            dropped += db.execute("DELETE FROM outbox WHERE created > ? AND created < ?",
                                  (PLAUSIBLE_TIME, cutoff)).rowcount
        excess = size - dropped - self.max_messages
        if excess > 0:
            dropped += db.execute(
                "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY seq LIMIT ?)", (excess,)
            ).rowcount
        if dropped:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('dropped', ?)", (self.dropped + dropped,))
        return dropped

    def delete(self, seqs: Sequence[int]) -> None:
        """Forget delivered messages (unknown seqs are ignored: they may have been dropped)."""
        if not seqs:
            return
        db = self._require()
        db.execute("BEGIN IMMEDIATE")
        try:
            removed = max(0, db.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs]).rowcount)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.size -= removed

    # -- reading --------------------------------------------------------------------------------------------

    def read_after(self, seq: int, limit: int) -> list[tuple[int, bytes]]:
        """Up to ``limit`` messages with a seq greater than ``seq``, oldest first."""
        db = self._require()
        rows = db.execute("SELECT seq, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit))
        return [(int(s), bytes(p)) for s, p in rows]


def _is_corrupt(exc: sqlite3.DatabaseError) -> bool:
    """A file that is not a database or a damaged one (not a locked or unreadable one)."""
    name = getattr(exc, "sqlite_errorname", "")
    if name:
        return name in ("SQLITE_NOTADB", "SQLITE_CORRUPT")
    text = str(exc)
    return "not a database" in text or "malformed" in text
