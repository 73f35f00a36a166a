"""Fixes from a running gpsd over TCP (``[gps] source = "gpsd"``), reconnecting with backoff."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

from evscreen.drivers.gps import BACKOFF_MAX_S, BACKOFF_START_S, SILENCE_S, FixSink, Problem
from evscreen.gps.gpsd_json import WATCH_COMMAND, GpsdStream

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0

T = TypeVar("T")


class GpsdFeed:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.stream = GpsdStream()
        self._writer: asyncio.StreamWriter | None = None

    @property
    def where(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def describe(self) -> str:
        return f"gpsd at {self.where}"

    def counters(self) -> dict[str, Any]:
        return self.stream.counters.as_dict()

    async def run(self, sink: FixSink) -> None:
        delay = BACKOFF_START_S
        while True:
            try:
                reader, self._writer = await wait_within(
                    asyncio.open_connection(self.host, self.port), CONNECT_TIMEOUT_S
                )
            except (OSError, asyncio.TimeoutError) as exc:
                refused = isinstance(exc, ConnectionRefusedError)
                reason = "connection refused (is gpsd running?)" if refused else (str(exc) or "timed out")
                sink.offline(Problem("gpsd_unreachable", f"gpsd at {self.where}: {reason}"))
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
                continue
            log.info("gps: connected to gpsd at %s", self.where)
            delay = BACKOFF_START_S
            try:
                self._writer.write(WATCH_COMMAND)
                await self._writer.drain()
                await self._read(reader, sink)
            except (OSError, ConnectionError) as exc:
                sink.offline(Problem("gpsd_lost", f"gpsd at {self.where}: connection lost ({exc})"))
            finally:
                await self._close_writer()
            self.stream = _keep_counts(self.stream)
            await asyncio.sleep(delay)

    async def _read(self, reader: asyncio.StreamReader, sink: FixSink) -> None:
        quiet_reported = False
        while True:
            try:
                data = await wait_within(reader.read(65536), SILENCE_S)
            except asyncio.TimeoutError:
                if not quiet_reported:
                    quiet_reported = True
                    no_device = self.stream.devices == []
                    sink.offline(Problem(
                        "gpsd_no_device" if no_device else "silent",
                        f"gpsd at {self.where}: " + ("has no GPS receiver attached" if no_device
                                                     else f"no fix report for {SILENCE_S:g} s"),
                    ))
                continue
            if not data:
                raise ConnectionError("gpsd closed the connection")
            fixes = self.stream.feed(data)
            if fixes:
                quiet_reported = False
            for fix in fixes:
                sink.publish(fix)

    async def _close_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except (OSError, ConnectionError):
                pass

    async def close(self) -> None:
        await self._close_writer()


async def wait_within(awaitable: Awaitable[T], timeout: float) -> T:
    """``await asyncio.wait_for(awaitable, timeout)``, except that a cancellation is never lost.

    Before Python 3.12, ``wait_for`` returns the result instead of raising ``CancelledError`` when
    the awaited read completes in the same instant as the task is cancelled (CPython gh-86296). With
    a receiver that talks all the time that instant comes often, and a feed that lost its
    cancellation runs on forever: ``evscreen probe gps`` hung and ``serve`` could not stop.
    """
    task = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait((task,), timeout=timeout)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        await asyncio.wait((task,))  # a StreamReader allows one read at a time: let this one end
        if task.cancelled():
            raise asyncio.TimeoutError
    return task.result()


def _keep_counts(old: GpsdStream) -> GpsdStream:
    """A fresh stream for a new connection (no half-read line), keeping the counts so far."""
    fresh = GpsdStream()
    fresh.counters = old.counters
    return fresh
