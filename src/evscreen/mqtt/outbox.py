"""The telemetry outbox: every telemetry message waits here, on disk, until the broker acknowledges it.

SQLite in WAL mode with ``synchronous = FULL``: a committed message survives a crash of evscreen and
a power cut of the car. Messages are numbered by ``seq``, which only ever grows, across restarts
too (it is kept in the database even when the outbox is empty). The outbox is bounded by count and
by age; when a bound is hit the oldest messages go, and the drop is counted and logged.

:class:`Outbox` is plain blocking code; :class:`AsyncOutbox` runs it in one worker thread of its
own, so a slow SD card never stalls the event loop.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from evscreen.aio import WorkerThread

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


class Outbox:
    """A bounded, durable FIFO of telemetry messages keyed by ``seq``. Not thread-safe: one thread."""

    def __init__(self, path: Path | None, max_messages: int, max_age: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.max_messages = max_messages
        self.max_age = max_age
        self.clock = clock
        self.size = 0
        self.dropped = 0
        self.last_seq = 0
        self.durable = path is not None
        self._db: sqlite3.Connection | None = None
        self._unlogged_drops = 0
        self._last_drop_log = -DROP_LOG_INTERVAL

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
        stored = {k: v for k, v in db.execute("SELECT key, value FROM meta")}
        self.last_seq = max(int(row[1] or 0), int(stored.get("last_seq", 0)))
        self.dropped = int(stored.get("dropped", 0))

    def _require(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("outbox is not open")
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # -- queue operations ---------------------------------------------------------------------------

    def append(self, message: dict[str, Any]) -> int:
        """Number ``message`` with the next ``seq``, store it durably and return the seq."""
        db = self._require()
        now = self.clock()
        db.execute("BEGIN IMMEDIATE")
        try:
            # From the database, not memory: even a second process on the same file (a mistake)
            # must not make two messages with one seq.
            row = db.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()
            seq = max(self.last_seq, int(row[0]) if row else 0) + 1
            payload = json.dumps({**message, "seq": seq}, ensure_ascii=False, allow_nan=False).encode()
            db.execute("INSERT INTO outbox (seq, created, payload) VALUES (?, ?, ?)", (seq, now, payload))
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('last_seq', ?)", (seq,))
            dropped = self._enforce_bounds(db, now)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.last_seq = seq
        self.size += 1 - dropped
        if dropped:
            self.dropped += dropped
            self._unlogged_drops += dropped
        self._log_drops()
        return seq

    def _enforce_bounds(self, db: sqlite3.Connection, now: float) -> int:
        """Delete what is too old or too many (oldest first); returns how many went. In a transaction."""
        dropped = 0
        cutoff = now - self.max_age
        oldest = db.execute("SELECT created FROM outbox ORDER BY seq LIMIT 1").fetchone()
        if oldest is not None and PLAUSIBLE_TIME < oldest[0] < cutoff:
            dropped += db.execute("DELETE FROM outbox WHERE created > ? AND created < ?",
                                  (PLAUSIBLE_TIME, cutoff)).rowcount
        excess = self.size + 1 - dropped - self.max_messages
        if excess > 0:
            dropped += db.execute(
                "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY seq LIMIT ?)", (excess,)
            ).rowcount
        if dropped:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('dropped', ?)", (self.dropped + dropped,))
        return dropped

    def _log_drops(self) -> None:
        now = time.monotonic()
        if self._unlogged_drops and now - self._last_drop_log >= DROP_LOG_INTERVAL:
            log.warning(
                "MQTT outbox full (at most %d messages, %.4g h): dropped the %d oldest telemetry message(s), "
                "%d dropped in all", self.max_messages, self.max_age / 3600.0, self._unlogged_drops, self.dropped,
            )
            self._unlogged_drops = 0
            self._last_drop_log = now

    def read_after(self, seq: int, limit: int) -> list[tuple[int, bytes]]:
        """Up to ``limit`` messages with a seq greater than ``seq``, oldest first."""
        db = self._require()
        rows = db.execute("SELECT seq, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit))
        return [(int(s), bytes(p)) for s, p in rows]

    def delete(self, seqs: Sequence[int]) -> None:
        """Forget delivered messages (unknown seqs are ignored: they may have been dropped)."""
        if not seqs:
            return
        db = self._require()
        db.execute("BEGIN IMMEDIATE")
        try:
            removed = db.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs]).rowcount
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.size -= max(0, removed)


def _is_corrupt(exc: sqlite3.DatabaseError) -> bool:
    """A file that is not a database or a damaged one (not a locked or unreadable one)."""
    name = getattr(exc, "sqlite_errorname", "")
    if name:
        return name in ("SQLITE_NOTADB", "SQLITE_CORRUPT")
    text = str(exc)
    return "not a database" in text or "malformed" in text


class AsyncOutbox:
    """:class:`Outbox` on a worker thread of its own; every method is awaited, none blocks the loop."""

    def __init__(self, outbox: Outbox) -> None:
        self.sync = outbox
        self._worker = WorkerThread("mqtt-outbox")

    # Counters are plain ints written by the worker thread; reading them here is safe.
    @property
    def size(self) -> int:
        return self.sync.size

    @property
    def dropped(self) -> int:
        return self.sync.dropped

    @property
    def last_seq(self) -> int:
        return self.sync.last_seq

    async def open(self) -> None:
        await self._worker.run(self.sync.open)

    async def append(self, message: dict[str, Any]) -> int:
        return await self._worker.run(self.sync.append, message)

    async def read_after(self, seq: int, limit: int) -> list[tuple[int, bytes]]:
        return await self._worker.run(self.sync.read_after, seq, limit)

    async def delete(self, seqs: Sequence[int]) -> None:
        await self._worker.run(self.sync.delete, list(seqs))

    async def close(self) -> None:
        try:
            await self._worker.run(self.sync.close)
        finally:
            self._worker.shutdown()
