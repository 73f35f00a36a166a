"""Two asyncio helpers every layer uses: a timeout that keeps cancellation, and a worker thread.

- :func:`within` instead of ``asyncio.wait_for``. Before Python 3.12, ``wait_for`` can swallow a
  cancellation of the caller that arrives just as the awaited call finishes: the caller gets the
  result instead of :class:`asyncio.CancelledError`, and a source told to stop keeps running.
- :class:`WorkerThread` for the blocking calls of one device or database (a serial port, the
  DHT sensor, sqlite): run one at a time, in order, on a thread of its own, awaited from the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


async def within(awaitable: Awaitable[T], timeout: float | None) -> T:
    """``await awaitable``; after ``timeout`` seconds (None: no limit) cancel it and raise
    :class:`asyncio.TimeoutError`.

    A cancellation of the caller always propagates, and cancels the awaited call too. To wait for
    a future without cancelling it on timeout (it will still be answered), pass
    ``asyncio.shield(future)``.
    """
    task = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    except asyncio.CancelledError:
        task.cancel()
        task.add_done_callback(_retrieve)
        raise
    if not done:
        task.cancel()
        task.add_done_callback(_retrieve)
        # Let it unwind (close what it opened) before the caller goes on, as wait_for does.
        await asyncio.wait({task})
        raise asyncio.TimeoutError
    return task.result()


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Read the outcome of a call given up on, so that asyncio does not log it as never retrieved."""
    if not task.cancelled():
        task.exception()


class WorkerThread:
    """One thread running blocking calls one at a time, in the order they were made."""

    def __init__(self, name: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the thread, after every call made before it."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def shutdown(self) -> None:
        """Take no more calls. Never waits: the thread ends once the call it is in returns."""
        self._executor.shutdown(wait=False)
