"""evscreen.aio: a timeout that never loses a cancellation, and the one-thread worker."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from evscreen.aio import WorkerThread, within


def test_within_returns_the_result() -> None:
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    assert asyncio.run(within(answer(), 5)) == 42
    assert asyncio.run(within(answer(), None)) == 42


def test_within_raises_what_the_call_raises() -> None:
    async def fails() -> None:
        raise ConnectionRefusedError("refused")

    with pytest.raises(ConnectionRefusedError, match="refused"):
        asyncio.run(within(fails(), 5))


def test_a_timeout_cancels_the_call_and_lets_it_unwind_first() -> None:
    unwound = []

    async def hangs() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            unwound.append(True)

    async def scenario() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await within(hangs(), 0.01)
        assert unwound == [True]  # its finally ran before within raised

    asyncio.run(scenario())


def test_a_shielded_future_survives_the_timeout() -> None:
    async def scenario() -> None:
        answer = asyncio.get_running_loop().create_future()
        with pytest.raises(asyncio.TimeoutError):
            await within(asyncio.shield(answer), 0.01)
        assert not answer.cancelled()
        answer.set_result("late")
        assert await within(asyncio.shield(answer), 1) == "late"

    asyncio.run(scenario())


def test_cancelling_the_caller_as_the_call_completes_is_not_lost() -> None:
    """The race asyncio.wait_for loses before Python 3.12: it returns the result instead."""
    async def scenario() -> None:
        inner = asyncio.get_running_loop().create_future()
        caller = asyncio.create_task(within(inner, 10))
        await asyncio.sleep(0)  # the caller is waiting inside within()
        inner.set_result("done")  # the call completes...
        caller.cancel()  # ...and the caller is told to stop in the same loop iteration
        with pytest.raises(asyncio.CancelledError):
            await caller

    asyncio.run(scenario())


def test_cancelling_the_caller_cancels_the_call() -> None:
    async def scenario() -> None:
        started = asyncio.Event()

        async def hangs() -> None:
            started.set()
            await asyncio.Event().wait()

        call = asyncio.ensure_future(hangs())
        caller = asyncio.create_task(within(call, 10))
        await started.wait()
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        with pytest.raises(asyncio.CancelledError):
            await call

    asyncio.run(scenario())


def test_the_worker_runs_calls_one_at_a_time_in_order_on_one_thread() -> None:
    seen: list[tuple[int, int]] = []
    busy = threading.Lock()

    def job(i: int) -> int:
        assert busy.acquire(blocking=False), "two calls ran at once"
        try:
            time.sleep(0.001)
            seen.append((i, threading.get_ident()))
        finally:
            busy.release()
        return i * i

    async def scenario() -> list[int]:
        worker = WorkerThread("test-worker")
        try:
            return await asyncio.gather(*(worker.run(job, i) for i in range(20)))
        finally:
            worker.shutdown()

    assert asyncio.run(scenario()) == [i * i for i in range(20)]
    assert [i for i, _ in seen] == list(range(20))
    assert len({thread for _, thread in seen}) == 1 and seen[0][1] != threading.get_ident()
