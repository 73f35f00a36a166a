"""Fixes from a running gpsd over TCP (``[gps] source = "gpsd"``); the supervisor reconnects with backoff."""

from __future__ import annotations

import asyncio
from typing import Any

from evscreen.address import host_port
from evscreen.aio import within
from evscreen.gps.fix import SILENCE_S, FixSink, GpsUnavailable, Problem
from evscreen.gps.gpsd_json import WATCH_COMMAND, GpsdStream

CONNECT_TIMEOUT_S = 5.0

class GpsdFeed:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.stream = GpsdStream()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    @property
    def where(self) -> str:
        return host_port(self.host, self.port)

    def describe(self) -> str:
        return f"gpsd at {self.where}"

    def counters(self) -> dict[str, Any]:
        return self.stream.counters.as_dict()

    async def open(self) -> None:
        self.stream = _keep_counts(self.stream)  # no half-read line from an earlier connection
        try:
            self._reader, self._writer = await within(asyncio.open_connection(self.host, self.port), CONNECT_TIMEOUT_S)
        except (OSError, asyncio.TimeoutError) as exc:
            refused = isinstance(exc, ConnectionRefusedError)
            reason = "connection refused (is gpsd running?)" if refused else (str(exc) or "timed out")
            raise GpsUnavailable(Problem("gpsd_unreachable", f"gpsd at {self.where}: {reason}")) from None

    async def read(self, sink: FixSink) -> None:
        assert self._reader is not None and self._writer is not None, "read() before open()"
        try:
            self._writer.write(WATCH_COMMAND)
            await self._writer.drain()
            await self._read(self._reader, sink)
        except (OSError, ConnectionError) as exc:
            raise GpsUnavailable(Problem("gpsd_lost", f"gpsd at {self.where}: connection lost ({exc})")) from None

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

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except (OSError, ConnectionError):
                pass



def _keep_counts(old: GpsdStream) -> GpsdStream:
    """A fresh stream for a new connection (no half-read line), keeping the counts so far."""
    fresh = GpsdStream()
    fresh.counters = old.counters
    return fresh
