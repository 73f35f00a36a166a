"""The supervisor every source runs under: backoff with jitter, one log line per outage and per
recovery, crashes restarted, clean cancellation.

The sources here are small but real: they read numbers over TCP from a server on 127.0.0.1 that
the test starts, stops and makes misbehave, or import a module that does not exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from conftest import free_port

from evscreen.config import Config
from evscreen.drivers.backoff import Backoff
from evscreen.drivers.base import Source
from evscreen.errors import SourceUnavailable
from evscreen.state import VehicleState

FAST = Backoff(first_s=0.01, max_s=0.05)


# --- the pieces -----------------------------------------------------------------------------------


class LineServer:
    """A TCP server on 127.0.0.1 that greets each client with ``ready`` and then sends what it is told.

    ``greet=False`` accepts but never greets (an open that hangs); ``hang_up=True`` greets and
    closes at once (a connection that flaps).
    """

    def __init__(self, port: int, *, greet: bool = True, hang_up: bool = False) -> None:
        self.port = port
        self.greet = greet
        self.hang_up = hang_up
        self.connections = 0
        self.disconnections = 0  # clients that went away (EOF from them)
        self._server: asyncio.base_events.Server | None = None
        self._clients: list[asyncio.StreamWriter] = []

    async def start(self) -> LineServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._clients.append(writer)
        if self.greet:
            writer.write(b"ready\n")
        if self.hang_up:
            writer.close()
            return
        with contextlib.suppress(OSError):
            await reader.read()  # until the client closes
        self.disconnections += 1

    def send(self, line: str) -> None:
        """To the latest client."""
        self._clients[-1].write(line.encode() + b"\n")

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._clients:
            writer.close()
        self._clients.clear()
        await self._server.wait_closed()


class LineSource(Source):
    """``speed`` from a LineServer: a number per line. A line that is not a number is a bug it has."""

    name = "lines"
    backoff = FAST

    def __init__(self, state: VehicleState, port: int) -> None:
        super().__init__(Config(), state)
        self.port = port
        self.opens = 0
        self.closes = 0
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.opens += 1
        try:
            self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError as exc:
            raise SourceUnavailable(f"cannot reach 127.0.0.1:{self.port}: {exc.strerror or exc}") from None
        if await self._reader.readline() != b"ready\n":
            raise SourceUnavailable("the server did not greet")
        self.availability.reached("lines: connected to port %d", self.port)
        self.availability.up()

    async def read(self) -> None:
        assert self._reader is not None
        while True:
            line = await self._reader.readline()
            if not line:
                raise SourceUnavailable("the server closed the connection")
            self.state.update(self.name, {"speed": float(line)})  # ValueError for "boom": a crash

    async def close(self) -> None:
        self.closes += 1
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


class LibrarySource(Source):
    """Needs a library; without it there is nothing to retry."""

    name = "library"

    def __init__(self, state: VehicleState, module: str) -> None:
        super().__init__(Config(), state)
        self.module = module

    async def open(self) -> None:
        try:
            importlib.import_module(self.module)
        except ImportError as exc:
            raise SourceUnavailable(f"library unavailable: {exc}", cause="not_installed", retry=False) from None

    async def read(self) -> None:
        await asyncio.Event().wait()


@dataclass(frozen=True)
class RecordingBackoff(Backoff):
    """The real policy, remembering which attempt each wait was for."""

    attempts: list[int] = field(default_factory=list, compare=False)

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        self.attempts.append(attempt)
        return super().delay(attempt, rng)


async def until(check: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (result := check()):
        if loop.time() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        await asyncio.sleep(0.005)
    return result


async def stopped(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def lines_of(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    # The supervisor logs through the source's own logger: this module's name for the sources here.
    return [r.getMessage() for r in caplog.records if r.name == __name__ and r.levelno == level]


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 60))


# --- the backoff policy ---------------------------------------------------------------------------


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    backoff = Backoff(first_s=0.5, max_s=30.0)
    rng = random.Random(7)
    for attempt in range(1, 40):
        cap = min(30.0, 0.5 * 2 ** (attempt - 1))
        delays = {backoff.delay(attempt, rng) for _ in range(20)}
        assert all(cap / 2 <= d <= cap for d in delays), (attempt, delays)
        assert len(delays) > 1  # jittered: sources failing together do not retry in step
    assert 15.0 <= backoff.delay(10**9, rng) <= 30.0  # a very long outage waits no longer than max_s
    assert Backoff(first_s=2.0, max_s=1.0).delay(1, rng) <= 1.0  # the cap wins over the first wait
    # Two cars (two generators) back off differently.
    a, b = random.Random(1), random.Random(2)
    assert [backoff.delay(n, a) for n in range(1, 6)] != [backoff.delay(n, b) for n in range(1, 6)]


# --- outages and recoveries -----------------------------------------------------------------------


def test_one_log_line_per_outage_and_one_per_recovery(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=__name__)
    port = free_port()
    state = VehicleState()
    source = LineSource(state, port)

    async def scenario() -> None:
        task = asyncio.create_task(source.run())
        # No server yet: offline with the reason, and it keeps trying.
        await until(lambda: source.opens >= 4, "retries while the server is down")
        status = state.describe_sources()["lines"]
        assert status["state"] == "offline" and status["detail"].startswith(f"cannot reach 127.0.0.1:{port}")
        server = await LineServer(port).start()
        await until(lambda: server.connections == 1, "the source to connect")
        server.send("42.5")
        await until(lambda: state.get("speed") == 42.5, "the first value")
        assert state.describe_sources()["lines"]["state"] == "live"

        # The server goes away: a second outage, the value kept (shown stale by its age, not erased).
        opens = source.opens
        await server.stop()
        await until(lambda: source.opens >= opens + 3, "retries during the second outage")
        status = state.describe_sources()["lines"]
        assert status["state"] == "offline" and state.get("speed") == 42.5
        server = await LineServer(port).start()
        await until(lambda: server.connections == 1, "the source to reconnect")
        server.send("43")
        await until(lambda: state.get("speed") == 43.0, "a value after the recovery")
        status = state.describe_sources()["lines"]
        assert status["state"] == "live" and "detail" not in status  # the outage's reason is gone
        await stopped(task)
        await server.stop()

    run(scenario)
    warnings = lines_of(caplog, logging.WARNING)
    assert len(warnings) == 2, warnings
    assert warnings[0].startswith(f"lines offline: cannot reach 127.0.0.1:{port}")
    assert warnings[1] == "lines offline: the server closed the connection; retrying with backoff"
    recoveries = lines_of(caplog, logging.INFO)
    assert [line.split(" after ")[0] for line in recoveries if "is back" in line] == ["lines is back", "lines is back"]
    # Only the very first connection is an info line of its own; the recoveries say it then.
    assert [line for line in recoveries if "connected to port" in line] == []
    assert len([line for line in lines_of(caplog, logging.DEBUG) if "still down" in line]) >= 4
    assert source.availability.outages == 2 and lines_of(caplog, logging.ERROR) == []


def test_first_start_is_one_info_line_and_no_recovery(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=__name__)
    port = free_port()
    state = VehicleState()
    source = LineSource(state, port)

    async def scenario() -> None:
        server = await LineServer(port).start()
        task = asyncio.create_task(source.run())
        await until(lambda: server.connections == 1, "the source to connect")
        server.send("1")
        await until(lambda: state.get("speed") == 1.0, "a value")
        await stopped(task)
        await server.stop()

    run(scenario)
    assert lines_of(caplog, logging.INFO) == [f"lines: connected to port {port}"]
    assert lines_of(caplog, logging.WARNING) == [] and source.availability.outages == 0


def test_a_crashing_source_is_logged_with_its_traceback_and_restarted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=__name__)
    port = free_port()
    state = VehicleState()
    source = LineSource(state, port)

    async def scenario() -> None:
        server = await LineServer(port).start()
        task = asyncio.create_task(source.run())
        await until(lambda: server.connections == 1, "the source to connect")
        server.send("10")
        await until(lambda: state.get("speed") == 10.0, "a value")
        server.send("boom")  # the source has a bug: float("boom") raises
        await until(lambda: server.connections == 2, "the source to be restarted")
        assert source.closes >= 1  # what the crashed run held was released
        server.send("11")
        await until(lambda: state.get("speed") == 11.0, "a value after the restart")
        assert state.describe_sources()["lines"]["state"] == "live"
        await stopped(task)
        await server.stop()

    run(scenario)
    errors = [r for r in caplog.records if r.name == __name__ and r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].getMessage() == ("lines failed: ValueError: could not convert string to float: "
                                      "b'boom\\n'; restarting it with backoff")
    assert errors[0].exc_info is not None and errors[0].exc_info[0] is ValueError  # the traceback, once
    assert len([line for line in lines_of(caplog, logging.INFO) if "is back" in line]) == 1


def test_a_source_that_cannot_work_here_is_not_retried(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=__name__)
    state = VehicleState()
    source = LibrarySource(state, "evscreen_test_no_such_library")

    async def scenario() -> None:
        await source.run()  # returns: waiting cannot install a library

    run(scenario)
    status = state.describe_sources()["library"]
    assert status["state"] == "offline"
    assert status["detail"] == "library unavailable: No module named 'evscreen_test_no_such_library'"
    assert lines_of(caplog, logging.WARNING) == [
        "library offline: library unavailable: No module named 'evscreen_test_no_such_library'"]


# --- the backoff between attempts -----------------------------------------------------------------


@pytest.mark.parametrize(("stable_s", "expected"), [(3600.0, [1, 2, 3, 4, 5]), (0.0, [1, 1, 1, 1, 1])])
def test_backoff_keeps_growing_for_a_flapping_source_and_restarts_after_a_stable_run(
    monkeypatch: pytest.MonkeyPatch, stable_s: float, expected: list[int],
) -> None:
    backoff = RecordingBackoff(first_s=0.01, max_s=0.05, stable_s=stable_s)
    monkeypatch.setattr(LineSource, "backoff", backoff)
    port = free_port()
    source = LineSource(VehicleState(), port)

    async def scenario() -> None:
        server = await LineServer(port, hang_up=True).start()  # greets, then closes at once
        task = asyncio.create_task(source.run())
        await until(lambda: len(backoff.attempts) >= 5, "five reconnections")
        await stopped(task)
        await server.stop()

    run(scenario)
    assert backoff.attempts[:5] == expected


# --- cancellation -----------------------------------------------------------------------------------


@pytest.mark.parametrize("when", ["reading", "opening", "waiting"])
def test_cancellation_closes_the_source_and_logs_nothing(caplog: pytest.LogCaptureFixture, when: str) -> None:
    caplog.set_level(logging.DEBUG, logger=__name__)
    port = free_port()
    state = VehicleState()
    source = LineSource(state, port)

    async def scenario() -> None:
        server: LineServer | None = None
        if when in ("reading", "opening"):
            server = await LineServer(port, greet=when == "reading").start()
        before_start = asyncio.all_tasks()
        task = asyncio.create_task(source.run())
        if when == "reading":
            assert server is not None
            await until(lambda: server.connections == 1, "the source to connect")
            server.send("5")
            await until(lambda: state.get("speed") == 5.0, "a value")
        elif when == "opening":  # connected, waiting for a greeting that never comes
            assert server is not None
            await until(lambda: server.connections == 1, "the source to connect")
        else:  # no server: between two attempts
            await until(lambda: source.opens >= 2, "a retry")
        before = state.describe_sources()["lines"]
        logged = len(caplog.records)
        await stopped(task)
        assert source.closes >= 1 and source._writer is None
        if server is not None and when == "reading":
            await until(lambda: server.disconnections == 1, "the server to see the source go")
        # Shutting down is no outage: nothing logged, nothing marked.
        assert [r.getMessage() for r in caplog.records[logged:] if r.levelno >= logging.INFO] == []
        assert state.describe_sources()["lines"]["state"] == before["state"]
        leftover = [t for t in asyncio.all_tasks() - before_start if "LineServer" not in t.get_coro().__qualname__]
        assert leftover == []  # nothing of the source's or the supervisor's left running
        if server is not None:
            await server.stop()

    run(scenario)


class SlowToClose(LineSource):
    """Its close takes until the test lets it finish (a reader thread to join, a port to flush), and
    like a real one it takes the connection over first: cut short, the connection would stay open."""

    def __init__(self, state: VehicleState, port: int) -> None:
        super().__init__(state, port)
        self.closing = asyncio.Event()
        self.may_finish = asyncio.Event()
        self.taken: list[asyncio.StreamWriter] = []  # held, so that only close() can close them

    async def close(self) -> None:
        self.closes += 1
        writer, self._writer = self._writer, None
        if writer is not None:
            self.taken.append(writer)
        self.closing.set()
        await self.may_finish.wait()
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


def test_cancellation_while_closing_lets_the_close_finish_first() -> None:
    port = free_port()
    source = SlowToClose(VehicleState(), port)

    async def scenario() -> None:
        server = await LineServer(port).start()
        task = asyncio.create_task(source.run())
        await until(lambda: server.connections == 1, "the source to connect")
        server.send("boom")  # the read fails: a close follows
        await until(lambda: source.closing.is_set(), "the close after the failed read")
        task.cancel()
        for _ in range(20):  # however often the loop turns, the close is not abandoned
            await asyncio.sleep(0)
        assert not task.done() and server.disconnections == 0
        source.may_finish.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        await until(lambda: server.disconnections == 1, "the server to see the connection closed")
        assert source.opens == 1  # cancelled: no new attempt after the close
        await server.stop()

    run(scenario)
