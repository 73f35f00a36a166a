"""Fixes from a running gpsd over TCP (``[gps] source = "gpsd"``), reconnecting with backoff."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from evscreen.address import host_port
from evscreen.aio import within
from evscreen.drivers.gps import BACKOFF_MAX_S, BACKOFF_START_S, SILENCE_S, FixSink, Problem
from evscreen.gps.gpsd_json import WATCH_COMMAND, GpsdStream

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0


class GpsdFeed:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.stream = GpsdStream()
        self._writer: asyncio.StreamWriter | None = None

    @property
    def where(self) -> str:
        return host_port(self.host, self.port)

    def describe(self) -> str:
        return f"gpsd at {self.where}"

    def counters(self) -> dict[str, Any]:
        return self.stream.counters.as_dict()

    async def run(self, sink: FixSink) -> None:
        delay = BACKOFF_START_S
        while True:
            try:
                reader, self._writer = await within(asyncio.open_connection(self.host, self.port), CONNECT_TIMEOUT_S)
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
                data = await within(reader.read(65536), SILENCE_S)
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


def _keep_counts(old: GpsdStream) -> GpsdStream:
    """A fresh stream for a new connection (no half-read line), keeping the counts so far."""
    fresh = GpsdStream()
    fresh.counters = old.counters
    return fresh
