"""The telemetry outbox without a broker: memory first, the SQLite store for what waits too long,
and ``seq`` that never repeats across clean stops, outages and SIGKILL (tests/test_mqtt_outage.py
runs the same guarantees end to end against mosquitto)."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from evscreen.mqtt.outbox import Outbox
from evscreen.mqtt.outbox_store import OutboxStore, _is_corrupt

# --- the store -----------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


def opened(path: Path | None, max_messages: int = 100, max_age: float = 3600.0, clock: Any = None) -> OutboxStore:
    box = OutboxStore(path, max_messages, max_age, **({"clock": clock} if clock else {}))
    box.open()
    return box


def rows(*seqs: int, created: float | None = None) -> list[tuple[int, float, bytes]]:
    when = time.time() if created is None else created
    return [(s, when, json.dumps({"n": s, "seq": s}).encode()) for s in seqs]


def stored(box: OutboxStore) -> list[int]:
    return [s for s, _ in box.read_after(0, 10**6)]


def test_store_keeps_reads_and_forgets_in_order(tmp_path: Path) -> None:
    box = opened(tmp_path / "o.sqlite3")
    box.store(rows(1, 2, 3, 4, 5))
    got = box.read_after(2, 2)
    assert [s for s, _ in got] == [3, 4]
    assert json.loads(got[0][1]) == {"n": 3, "seq": 3}
    box.delete([1, 3, 99])
    assert stored(box) == [2, 4, 5] and box.size == 3
    box.store(rows(5))  # the same message again (an interrupted write) is stored once
    assert stored(box) == [2, 4, 5] and box.size == 3


def test_store_is_durable_and_its_ceiling_survives_restart(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    box = opened(path)
    box.store(rows(1, 2, 3))
    box.delete([1, 2, 3])
    journal = box._db.execute("PRAGMA journal_mode").fetchone()[0]  # type: ignore[union-attr]
    sync = box._db.execute("PRAGMA synchronous").fetchone()[0]  # type: ignore[union-attr]
    assert (journal, sync) == ("wal", 2)  # WAL, synchronous = FULL
    box.close()
    again = opened(path)
    assert stored(again) == [] and again.ceiling == 3  # an empty outbox still knows where seq was


def test_a_reservation_holds_until_it_is_released_and_across_a_power_cut(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    box = opened(path)
    box.reserve(100)
    assert box.ceiling == 100
    box.store(rows(7), release=9)  # the connection ended after seq 9 went out: the rest is given back
    assert box.ceiling == 9
    box.reserve(500)
    box.close()  # without releasing: a power cut while connected
    box = opened(path)
    assert box.ceiling == 500  # the whole block counts as used
    box.store([], release=12)  # and stays used when a later connection gives its own back
    box.close()
    assert opened(path).ceiling == 500


def test_a_reservation_torn_by_a_power_cut_falls_back_to_the_one_before(tmp_path: Path) -> None:
    """Nothing above a new ceiling is published before its write is synced, so when that write is
    torn (a power cut mid-write), the one before is the right ceiling."""
    path = tmp_path / "o.sqlite3"
    box = opened(path)
    box.reserve(100)
    box.reserve(200)
    box.close()
    seq_file = tmp_path / "o.sqlite3-seq"
    data = bytearray(seq_file.read_bytes())
    data[3] ^= 0xFF  # the newest record (generation 2, in the first slot) torn
    seq_file.write_bytes(bytes(data))
    assert opened(path).ceiling == 100
    seq_file.write_bytes(b"garbage")  # and a file of garbage is no ceiling at all
    assert opened(path).ceiling == 0


def test_store_survives_a_killed_process(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    code = (
        "import os, signal; from pathlib import Path; from evscreen.mqtt.outbox_store import OutboxStore\n"
        f"box = OutboxStore(Path({str(path)!r}), 1000, 3600.0); box.open()\n"
        "for i in range(1, 26): box.store([(i, 1.0, b'{}')])\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=30)
    assert proc.returncode == -9, proc.stderr
    assert stored(opened(path)) == list(range(1, 26))


def test_store_count_bound_drops_oldest_counts_and_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="evscreen.mqtt.outbox_store")
    box = opened(tmp_path / "o.sqlite3", max_messages=5)
    box.store(rows(1, 2, 3, 4, 5, 6))
    box.store(rows(7, 8))
    assert stored(box) == [4, 5, 6, 7, 8]
    assert box.size == 5 and box.dropped == 3
    lines = [r.getMessage() for r in caplog.records if "outbox full" in r.getMessage()]
    assert len(lines) == 1 and "dropped the 1 oldest" in lines[0]  # then rate-limited
    box.close()
    assert opened(tmp_path / "o.sqlite3", max_messages=5).dropped == 3  # the count is kept


def test_store_age_bound(tmp_path: Path) -> None:
    clock = Clock()
    box = opened(tmp_path / "o.sqlite3", max_age=60.0, clock=clock)
    now = clock.now
    box.store(rows(1, created=now - 75) + rows(2, created=now - 65) + rows(3, created=now - 55))
    assert stored(box) == [3] and box.dropped == 2 and box.size == 1


def test_messages_stored_before_the_clock_was_set_are_not_aged_out(tmp_path: Path) -> None:
    clock = Clock()
    box = opened(tmp_path / "o.sqlite3", max_age=60.0, clock=clock)
    # A Raspberry Pi without network after boot believes it is 1970; then NTP answers.
    box.store(rows(1, 2, created=3600.0) + rows(3, created=clock.now))
    assert stored(box) == [1, 2, 3] and box.dropped == 0


def test_corrupt_outbox_is_moved_aside_and_seq_jumps_forward(tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "o.sqlite3"
    path.write_bytes(b"this is not an SQLite database" * 100)
    clock = Clock()
    box = opened(path, clock=clock)
    assert box.durable
    assert box.ceiling == int(clock.now * 1000)
    assert list(tmp_path.glob("o.sqlite3.corrupt-*"))
    assert any("is corrupt" in r.getMessage() for r in caplog.records)


def test_unusable_outbox_location_falls_back_to_memory(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    box = opened(blocker / "sub" / "o.sqlite3")
    assert not box.durable
    box.store(rows(1))
    assert stored(box) == [1]
    assert any("will not survive a restart" in r.getMessage() for r in caplog.records)


def test_a_locked_database_is_not_taken_for_a_corrupt_one(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    opened(path).store(rows(1))
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        with pytest.raises(sqlite3.OperationalError) as locked:
            other.execute("BEGIN IMMEDIATE")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        other.close()
    assert not _is_corrupt(locked.value)
    garbage = tmp_path / "g.sqlite3"
    garbage.write_bytes(b"x" * 4096)
    with pytest.raises(sqlite3.DatabaseError) as corrupt:
        sqlite3.connect(garbage).execute("PRAGMA journal_mode=WAL")
    assert _is_corrupt(corrupt.value)


# --- the outbox: memory first ------------------------------------------------------------------------


def run(fn: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(fn())  # type: ignore[arg-type]


async def outbox(path: Path | None, **kwargs: Any) -> Outbox:
    box = Outbox(path, kwargs.pop("max_messages", 1000), kwargs.pop("max_age", 3600.0),
                 interval=kwargs.pop("interval", 1.0), **kwargs)
    await box.open()
    return box


def files(path: Path) -> dict[str, tuple[int, int]]:
    """Size and modification time of the database and its WAL: unchanged means not written."""
    out = {}
    for p in (path, path.with_name(path.name + "-wal")):
        if p.exists():
            st = p.stat()
            out[p.name] = (st.st_size, st.st_mtime_ns)
    return out


async def until(predicate: Callable[[], Any], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        await asyncio.sleep(0.005)


def test_promptly_acknowledged_telemetry_never_touches_the_disk(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"

    async def scenario() -> None:
        box = await outbox(path, interval=1.0)
        box.add({"n": 0})
        assert [s for s, _ in await box.take(0, 10)] == [1]  # the first number writes a reservation
        box.acknowledged(1)
        before = files(path)
        for n in range(1, 200):  # within the reservation block (300 at 1 s)
            seq = box.add({"n": n})
            sent = await box.take(seq - 1, 10)
            assert [s for s, _ in sent] == [seq] and json.loads(sent[0][1]) == {"n": n, "seq": seq}
            box.acknowledged(seq)
            await box.flush_deletes(force=True)
        assert files(path) == before  # not one byte
        assert box.size == 0 and box.store.size == 0 and box.last_seq == 200
        await box.close()

    run(scenario)


def test_telemetry_not_acknowledged_in_time_is_written_in_one_batch(tmp_path: Path) -> None:
    async def scenario() -> None:
        box = await outbox(tmp_path / "o.sqlite3", spill_after=0.05)
        spiller = asyncio.create_task(box.run_spills())
        for n in range(3):
            box.add({"n": n})
        await box.take(0, 10)  # sent, never acknowledged (a dead link)
        await until(lambda: box.store.size == 3, "the spill")
        assert box.size == 3 and box._memory == {}
        box.acknowledged(1)  # late acknowledgements forget them on disk too
        box.acknowledged(2)
        await box.flush_deletes(force=True)
        assert [s for s, _ in await box._worker.run(box.store.read_after, 0, 10)] == [3] and box.size == 1
        spiller.cancel()
        await box.close()

    run(scenario)


def test_disk_before_memory_and_seq_order_throughout(tmp_path: Path) -> None:
    async def scenario() -> None:
        box = await outbox(tmp_path / "o.sqlite3")
        for n in range(5):
            box.add({"n": n})
        await box.take(0, 2)
        await box.connection_ended()  # outage: everything in memory goes to disk
        assert box.store.size == 5
        for n in range(5, 8):
            box.add({"n": n})
        assert [s for s, _ in await box.take(0, 100)] == [1, 2, 3, 4, 5, 6, 7, 8]
        assert [s for s, _ in await box.take(3, 3)] == [4, 5, 6]
        assert [s for s, _ in await box.take(6, 100)] == [7, 8]
        await box.close()

    run(scenario)


def test_what_was_acknowledged_is_not_sent_again_on_the_next_connection(tmp_path: Path) -> None:
    async def scenario() -> None:
        box = await outbox(tmp_path / "o.sqlite3")
        for n in range(5):
            box.add({"n": n})
        await box.connection_ended()  # an outage: all five on disk
        assert [s for s, _ in await box.take(0, 10)] == [1, 2, 3, 4, 5]  # the backlog goes out...
        for seq in (1, 2, 3):
            box.acknowledged(seq)  # ...part of it is acknowledged (forgotten on disk in batches)...
        await box.connection_ended()  # ...and the connection breaks again
        assert [s for s, _ in await box.take(0, 10)] == [4, 5]
        await box.close()

    run(scenario)


def test_a_clean_stop_keeps_what_was_not_acknowledged_and_numbers_on_without_a_gap(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"

    async def first() -> None:
        box = await outbox(path)
        for n in range(5):
            box.add({"n": n})
        await box.take(0, 10)
        for seq in (1, 2, 3):
            box.acknowledged(seq)
        await box.close()

    async def second() -> None:
        box = await outbox(path)
        assert [s for s, _ in await box.take(0, 10)] == [4, 5]
        assert box.add({"n": 5}) == 6
        await box.close()

    run(first)
    run(second)


def killed(path: Path, steps: str) -> None:
    """Run ``steps`` (statements inside an async function with ``box`` open) in a child process
    that is then SIGKILLed: no chance to flush or close anything."""
    body = "\n".join(f"    {line}" for line in steps.strip().splitlines())
    code = (
        "import asyncio, os, signal\nfrom pathlib import Path\nfrom evscreen.mqtt.outbox import Outbox\n"
        "async def main():\n"
        f"    box = Outbox(Path({str(path)!r}), 1000, 3600.0, interval=1.0)\n"
        "    await box.open()\n"
        f"{body}\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "asyncio.run(main())\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=30)
    assert proc.returncode == -9, proc.stderr


def test_a_power_cut_while_connected_skips_numbers_and_never_repeats_one(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    killed(path, """
for n in range(3):
    box.add({"n": n})
await box.take(0, 10)  # published: a consumer may have seq 1-3 (acknowledged or not)
box.add({"n": 3})  # numbered, never sent
""")

    async def after() -> None:
        box = await outbox(path)
        assert box.store.size == 0  # nothing had waited long enough to be written: lost with the power
        # The next connection ends before it sent anything (and gives back its reservation): the
        # block the lost run reserved must still count as used.
        await box.connection_ended()
        await box.close()
        box = await outbox(path)
        seq = box.add({"n": 4})
        assert seq > 3  # never a number a consumer may already have
        assert seq == 3 + box.reserve_block + 1  # the rest of the reserved block is skipped (a gap)
        await box.close()

    run(after)


def test_a_power_cut_during_an_outage_numbers_on_from_what_is_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    killed(path, """
for n in range(5):
    box.add({"n": n})
await box.take(0, 10)
for seq in (1, 2, 3):
    box.acknowledged(seq)
await box.connection_ended()  # the broker went away: 4 and 5 (sent, not acknowledged) to disk
box.add({"n": 5})  # seq 6 and 7: in memory only, never sent to anyone
box.add({"n": 6})
""")

    async def after() -> None:
        box = await outbox(path)
        assert [s for s, _ in await box.take(0, 10)] == [4, 5]
        # 6 and 7 were lost with the power before anyone saw them: the numbers go on from 6, so a
        # consumer sees neither a gap nor a repeat.
        assert box.add({"n": 7}) == 6
        await box.close()

    run(after)


def test_a_failing_disk_keeps_telemetry_in_memory_bounded_and_says_so_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        box = await outbox(tmp_path / "o.sqlite3", max_messages=5)
        db = box.store._db
        assert db is not None
        await box._worker.run(db.execute, "PRAGMA query_only = ON")  # every write now fails, as on a dead card
        for n in range(8):
            box.add({"n": n})
        assert not await box._spill()
        assert not await box._spill()
        assert box.size == 5 and box.dropped == 3  # the newest kept, the drop counted
        assert [s for s, _ in await box.take(0, 10)] == [4, 5, 6, 7, 8]  # and still sent
        await box._worker.run(db.execute, "PRAGMA query_only = OFF")  # the card is back
        assert await box._spill()
        assert box.store.size == 5
        await box.close()

    run(scenario)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR and "cannot write" in r.getMessage()]
    assert len(errors) == 1, errors
    assert any("outbox full" in r.getMessage() for r in caplog.records)
