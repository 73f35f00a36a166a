"""Shared fixtures: isolated config/data dirs, free ports, and real running servers.

Every timeout here bounds a wait for something that must happen (a port listening, a message, a
process ending); none is a measurement. They are generous because the suite must pass on a machine
loaded to the brim (``stress-ng --cpu 2`` beside it): there a server can take 15 s to start.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Fixtures of the components that have their own helper module (a real mosquitto broker...).
pytest_plugins = ["mqtt_broker"]

REPO = Path(__file__).resolve().parent.parent
# Real recordings vendored in the repo, with their licences (tests/data/realdata/README.md).
REALDATA = REPO / "tests" / "data" / "realdata"


def require_tool(name: str, apt: str) -> str:
    """The path of the system program ``name`` a test starts for real (mosquitto, dbus-daemon, gpsd,
    chromium...); ``apt`` is the Debian package that provides it.

    Without it the test cannot run. Under CI (``CI`` set to anything but empty/0/false, as CI
    services set it and .ci/run does) that is a failure with the install command: a skip there would
    let a suite that stopped testing pass. Elsewhere the test is skipped, the command as its reason.
    """
    # Daemons such as gpsd live in /usr/sbin, which is not on an ordinary user's PATH.
    path = shutil.which(name) or shutil.which(name, path=os.pathsep.join(("/usr/sbin", "/sbin")))
    if path is not None:
        return path
    install = f"sudo apt-get install {apt}"
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"{name} is not installed, and CI must run every test: {install} (.ci/run does)",
                    pytrace=False)
    pytest.skip(f"needs {name}: {install}")


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point config, data and log dirs at tmp_path and drop EVSCREEN_* from the environment."""
    for name in list(os.environ):
        if name.startswith("EVSCREEN_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"), ("XDG_STATE_HOME", "state"),
                     ("XDG_CACHE_HOME", "cache")):
        monkeypatch.setenv(var, str(home / sub))
    return home


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def port() -> int:
    return free_port()


def wait_for_port(port: int, timeout: float = 60.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on port {port} after {timeout} s")


def evscreen_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "evscreen", *args]


class ServeProcess:
    """`evscreen serve` as a real child process."""

    def __init__(self, port: int, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = port
        self.url = f"ws://127.0.0.1:{port}"
        self.args = args
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> ServeProcess:
        self.proc = subprocess.Popen(
            evscreen_cmd("serve", "--port", str(self.port), *self.args),
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            wait_for_port(self.port, proc=self.proc)
        except BaseException:
            self.proc.kill()  # never left running after the test that started it
            self.proc.communicate()
            raise
        return self

    def stop(self, sig: int | None = None) -> tuple[int, str]:
        assert self.proc is not None
        if self.proc.poll() is None:
            if sig is None:
                self.proc.terminate()
            else:
                self.proc.send_signal(sig)
        try:
            _, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return self.proc.returncode, err


@pytest.fixture
def serve_process(port: int) -> Iterator[Any]:
    """Factory: start `evscreen serve` on a free port with extra args; stopped at teardown."""
    started: list[ServeProcess] = []

    def start(*args: str, env: dict[str, str] | None = None, port_: int | None = None) -> ServeProcess:
        sp = ServeProcess(port_ or port, *args, env=env).start()
        started.append(sp)
        return sp

    yield start
    for sp in started:
        if sp.proc is not None and sp.proc.poll() is None:
            sp.stop()


class RuntimeThread:
    """A real server Runtime running on its own event loop in a background thread."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> RuntimeThread:
        self.thread.start()
        self.call(self.runtime.start())
        return self

    def call(self, coro: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def on_loop(self, fn: Any) -> Any:
        """Run ``fn()`` on the server's loop and return its result: the server's state belongs to
        that loop, and read from there it is consistent (no tick half done)."""

        async def run() -> Any:
            return fn()

        return self.call(run())

    def client_of(self, ws: Any) -> Any:
        """The server's Client for the connection ``ws`` (a sync client), once it is registered."""
        peer = "{}:{}".format(*ws.local_address[:2])
        return self.on_loop(lambda: next((c for c in self.runtime.server.clients if c.peer == peer), None))

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.runtime.server.port}"

    def wait_for_values(self, *paths: str, timeout: float = 30.0) -> None:
        """Wait until the state holds a value at each path (default: speed and battery_soc, which the
        simulated car's first CAN frames bring a moment after start)."""
        paths = paths or ("speed", "battery_soc")

        async def known() -> bool:
            return all(self.runtime.state.get(p) is not None for p in paths)

        deadline = time.monotonic() + timeout
        while not self.call(known()):
            if time.monotonic() > deadline:
                raise AssertionError(f"no value at {', '.join(paths)} within {timeout} s")
            time.sleep(0.01)

    def __exit__(self, *exc: Any) -> None:
        self.call(self.runtime.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def live_server(port: int) -> Iterator[Any]:
    """Factory: build a Runtime from config flags and run it in-process; stopped at teardown."""
    from evscreen.app import build_runtime
    from evscreen.config import load_config

    running: list[RuntimeThread] = []

    def start(**flags: Any) -> RuntimeThread:
        flags = {"server.port": port, "server.telemetry_interval": 0.1, "simulation.mode": "on", **flags}
        rt = RuntimeThread(build_runtime(load_config(env={}, flags=flags)))
        running.append(rt.__enter__())
        return rt

    yield start
    for rt in running:
        rt.__exit__(None, None, None)


def wait_for(predicate: Any, timeout: float = 30.0, what: str = "condition", interval: float = 0.02) -> Any:
    """Poll until ``predicate()`` is truthy and return its value; fail after ``timeout`` seconds.

    The timeout only bounds a wait for an event that must come: it is never a timing assertion, so
    make it generous (a loaded machine is slow, not wrong)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(interval)


def recv_json(ws: Any, timeout: float = 15.0) -> dict[str, Any]:
    return json.loads(ws.recv(timeout=timeout))


def recv_until(ws: Any, predicate: Any, timeout: float = 15.0) -> dict[str, Any]:
    """Receive messages until one satisfies ``predicate``; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError("no matching message within timeout")
        message = recv_json(ws, remaining)
        if predicate(message):
            return message
