"""The telemetry outbox: every telemetry message from its numbering to the broker's acknowledgement.

A message is numbered (``seq``) and kept in memory. While the broker acknowledges promptly, that is
all: nothing touches the disk, which is what lets an SD card in a car last for years. What the
broker has not acknowledged within :data:`SPILL_AFTER` seconds (a slow link, an outage) is written
to the :class:`~evscreen.mqtt.outbox_store.OutboxStore` in one batch, as is everything in memory
when a connection ends and when evscreen stops. After a reconnection the stored messages go out
first, oldest first, then the ones in memory: always in ``seq`` order.

A power cut loses what only memory held: messages of the last :data:`SPILL_AFTER` seconds that the
broker had not acknowledged. Their numbers are safe either way. A number is only handed out for
publishing once the store holds a ceiling at or above it (written once per block of
:data:`RESERVE_SECONDS` worth of messages, given back when the connection ends), so a restart
never reuses a number a consumer may have seen: after a power cut while connected it skips the rest
of the block (a gap); after a power cut during an outage it numbers on from the last stored message
(the lost messages were never sent: no gap, no repeat).

All store work runs on one worker thread of its own: a slow SD card never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evscreen.aio import WorkerThread
from evscreen.mqtt.outbox_store import PLAUSIBLE_TIME, DropLog, OutboxStore, Row

log = logging.getLogger(__name__)

#: Seconds a message waits in memory for its acknowledgement before it is written to disk: the
#: most a power cut can lose. A broker on a working link acknowledges within a fraction of this.
SPILL_AFTER = 2.0
#: A seq reservation covers this many seconds of telemetry (at least :data:`RESERVE_MIN` messages):
#: one write of a page a minute while connected, and at most that many numbers skipped after a
#: power cut.
RESERVE_SECONDS = 60.0
RESERVE_MIN = 16
#: Acknowledged messages that were on disk are forgotten in batches of this many (while a backlog
#: drains), or all at once when nothing else is waiting to be sent.
DELETE_BATCH = 100


class Outbox:
    """Telemetry waiting for the broker: in memory first, on disk when it waits too long."""

    def __init__(self, path: Path | None, max_messages: int, max_age: float, *, interval: float,
                 spill_after: float = SPILL_AFTER, clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.store = OutboxStore(path, max_messages, max_age, clock)
        self.max_messages = max_messages
        self.max_age = max_age
        self.spill_after = spill_after
        self.reserve_block = max(RESERVE_MIN, math.ceil(RESERVE_SECONDS / interval))
        #: The highest seq numbered so far.
        self.last_seq = 0
        #: Messages written to disk since start (each is a write an SD card would rather not see).
        self.written = 0
        self._clock = clock
        self._monotonic = monotonic
        # seq -> (created wall-clock time, monotonic time it was numbered, payload); in seq order.
        self._memory: dict[int, tuple[float, float, bytes]] = {}
        self._handed_out = 0  # the highest seq taken for publishing
        self._ceiling_unsaved = 0  # a ceiling the store failed to write: not retried below it
        self._deletes: list[int] = []  # acknowledged while on disk
        self._memory_dropped = 0
        self._drops = DropLog(max_messages, max_age)
        self._failing: str | None = None  # the disk error logged last
        self._lock = asyncio.Lock()  # one reader or writer of the memory/disk boundary at a time
        self._added = asyncio.Event()
        self._worker = WorkerThread("mqtt-outbox")

    # -- what /healthz and the log show ---------------------------------------------------------------

    @property
    def size(self) -> int:
        """Messages waiting for the broker, in memory and on disk."""
        return len(self._memory) + self.store.size  # the store's counters are plain ints: safe to read

    @property
    def dropped(self) -> int:
        return self.store.dropped + self._memory_dropped

    @property
    def durable(self) -> bool:
        return self.store.durable

    # -- life cycle ---------------------------------------------------------------------------------------

    async def open(self) -> None:
        await self._worker.run(self.store.open)
        self.last_seq = self.store.ceiling

    async def close(self) -> None:
        """A clean stop: what was not acknowledged goes to disk, and the next start numbers on from the
        last seq (no gap)."""
        try:
            await self._spill(release=self.last_seq)
            await self.flush_deletes(force=True)
            await self._worker.run(self.store.close)
        finally:
            self._worker.shutdown()

    # -- the producer's side: never waits for the disk ---------------------------------------------------

    def add(self, message: dict[str, Any]) -> int:
        """Number ``message`` with the next seq and keep it; returns the seq."""
        seq = self.last_seq + 1
        payload = json.dumps({**message, "seq": seq}, ensure_ascii=False, allow_nan=False).encode()
        self.last_seq = seq
        self._memory[seq] = (self._clock(), self._monotonic(), payload)
        self._bound_memory()
        self._added.set()
        return seq

    def _bound_memory(self) -> None:
        """Memory holds seconds of telemetry unless the disk keeps failing: then the bounds apply here."""
        dropped = 0
        cutoff = self._clock() - self.max_age
        while self._memory:
            seq, (created, _, _) = next(iter(self._memory.items()))
            if len(self._memory) <= self.max_messages and not PLAUSIBLE_TIME < created < cutoff:
                break
            del self._memory[seq]
            dropped += 1
        if dropped:
            self._memory_dropped += dropped
            self._drops.dropped(dropped, self.dropped)

    # -- the sender's side --------------------------------------------------------------------------------

    async def take(self, after: int, limit: int) -> list[tuple[int, bytes]]:
        """Up to ``limit`` messages with a seq greater than ``after``, oldest first, for publishing.

        Everything on disk is older than everything in memory, so disk first, then memory. Before a
        number above the stored ceiling is handed out, a new ceiling is written."""
        async with self._lock:
            rows: list[tuple[int, bytes]] = []
            if self.store.size and after < self.store.max_seq:
                rows = await self._worker.run(self.store.read_after, after, limit)
            if len(rows) < limit:
                for seq, (_, _, payload) in self._memory.items():
                    if seq > after:
                        rows.append((seq, payload))
                        if len(rows) >= limit:
                            break
            if rows:
                top = rows[-1][0]
                if top > max(self.store.ceiling, self._ceiling_unsaved):
                    ceiling = top + self.reserve_block
                    if not await self._write(self.store.reserve, ceiling):
                        # Publish anyway (the disk is failing; telemetry matters more), without
                        # retrying the write for every message.
                        self._ceiling_unsaved = ceiling
                self._handed_out = max(self._handed_out, top)
            return rows

    def acknowledged(self, seq: int) -> None:
        """The broker has ``seq`` (or refused it for good): forget it."""
        if self._memory.pop(seq, None) is None and seq <= self.store.max_seq:
            self._deletes.append(seq)

    async def flush_deletes(self, force: bool = False) -> None:
        """Forget acknowledged messages on disk: in batches, or (``force``) all of them now."""
        if self._deletes and (force or len(self._deletes) >= DELETE_BATCH):
            batch, self._deletes = self._deletes, []
            await self._write(self.store.delete, batch)  # if it fails they are sent again: at least once

    async def connection_ended(self) -> None:
        """Write what waits in memory now, give back the rest of the seq reservation, and forget what
        was acknowledged (so the next connection does not send it again)."""
        await self._spill(release=self._handed_out)
        await self.flush_deletes(force=True)

    # -- spilling --------------------------------------------------------------------------------------

    async def run_spills(self) -> None:
        """Write messages to disk once they have waited :attr:`spill_after` seconds (a task for the
        bridge's lifetime). All of memory goes in the same batch: one write per interval at most."""
        while True:
            if not self._memory:
                self._added.clear()
                await self._added.wait()
                continue
            _, since, _ = next(iter(self._memory.values()))
            wait = since + self.spill_after - self._monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            if not await self._spill():
                await asyncio.sleep(self.spill_after)  # the disk is failing: do not hammer it

    async def _spill(self, release: int | None = None) -> bool:
        # Shielded: a spill that has begun completes even if the task awaiting it is cancelled, so
        # the memory and the disk always agree on where each message is.
        return await asyncio.shield(self._spill_now(release))

    async def _spill_now(self, release: int | None) -> bool:
        async with self._lock:
            rows: list[Row] = [(seq, created, payload) for seq, (created, _, payload) in self._memory.items()]
            if not rows and (release is None or not self.store.release_needed(release)):
                return True  # nothing to write
            if not await self._write(self.store.store, rows, release):
                return False
            self.written += len(rows)
            for seq, _, _ in rows:
                if self._memory.pop(seq, None) is None:
                    self._deletes.append(seq)  # acknowledged while it was being written
            return True

    async def _write(self, fn: Callable[..., None], *args: Any) -> bool:
        try:
            await self._worker.run(fn, *args)
        except (sqlite3.Error, OSError) as exc:
            # A full or failing SD card: telemetry stays in memory (bounded) and the car's screen
            # carries on. One line per distinct error.
            text = str(exc)
            if text != self._failing:
                log.error("MQTT outbox: cannot write to %s: %s; unacknowledged telemetry is kept in memory "
                          "only", self.store.path or "memory", text)
                self._failing = text
            return False
        self._failing = None
        return True
