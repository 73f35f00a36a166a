"""The gpsd source against a real gpsd reading a real receiver log from a pty, plus hostile JSON."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import evscreen.drivers.gps as gps_driver
import evscreen.drivers.gpsd as gpsd_driver
from conftest import REALDATA, free_port, wait_for_port
from evscreen.config import load_config
from evscreen.drivers.gps import GpsSource
from evscreen.gps.gpsd_json import MAX_LINE, GpsdStream
from evscreen.gps.nmea import Fix
from evscreen.state import VehicleState
from gpsd_check import expected_epochs, log_lines, time_key
from ptys import PtyReceiver
from test_gps_serial import running, until

NMEA = REALDATA / "nmea"
GPSD = shutil.which("gpsd") or "/usr/sbin/gpsd"


class Gpsd:
    """A real gpsd on a loopback port, reading the pty receiver (or no device at all)."""

    def __init__(self, port: int, device: str | None, control: Path) -> None:
        self.port = port
        self.device = device
        self.control = control
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Gpsd:
        # -N foreground, -n poll the device without clients, -b never write to it, -S port,
        # -F its control socket (without one, gpsd refuses to start with no device).
        args = [GPSD, "-N", "-n", "-b", "-S", str(self.port), "-F", str(self.control)]
        args += [self.device] if self.device else []
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, proc=self.proc)
        if self.device:
            self._wait_device_open()
        return self

    def _wait_device_open(self) -> None:
        """gpsd flushes what arrived before it opened the device: feed only once it holds it."""
        assert self.proc is not None and self.device is not None
        target = os.path.realpath(self.device)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            fds = Path(f"/proc/{self.proc.pid}/fd")
            try:
                if any(os.path.realpath(fd) == target for fd in fds.iterdir()):
                    time.sleep(0.2)  # and finished configuring it
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise TimeoutError("gpsd did not open the device")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def gpsd_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[Gpsd] = []
    receivers: list[PtyReceiver] = []

    def start(port: int | None = None, *, with_device: bool = True) -> tuple[Gpsd, PtyReceiver | None]:
        rx = None
        if with_device:
            rx = PtyReceiver(tmp_path / f"gps{len(receivers)}")
            receivers.append(rx)
        daemon = Gpsd(port or free_port(), rx.path if rx else None, tmp_path / f"gpsd{len(started)}.sock").start()
        started.append(daemon)
        return daemon, rx

    yield start
    for daemon in started:
        daemon.stop()
    for rx in receivers:
        rx.close()


def gpsd_source(port: int) -> tuple[GpsSource, VehicleState, list[Fix]]:
    config = load_config(env={}, flags={"gps.enabled": True, "gps.source": "gpsd", "gps.gpsd_port": port}).config
    state = VehicleState()
    source = GpsSource(config, state)
    fixes: list[Fix] = []
    source.listeners.append(fixes.append)
    return source, state, fixes


def test_fixes_from_a_real_gpsd_match_its_regression_output(gpsd_factory: Any) -> None:
    daemon, rx = gpsd_factory()
    lines = log_lines(NMEA / "neo-m8n.log")
    expected = expected_epochs(NMEA / "neo-m8n.log.chk")
    final = expected[max(k for k, e in expected.items() if e.tpv and e.tpv.get("mode", 0) >= 2)].tpv
    source, state, fixes = gpsd_source(daemon.port)

    async def body() -> None:
        await until(lambda: source.feed.stream.version is not None)  # connected and watching
        rx.send_lines(lines)
        await until(lambda: any(f.valid and abs(f.latitude - final["lat"]) < 1e-9 for f in fixes))

    asyncio.run(running(source, body))
    assert source.feed.stream.version == subprocess.run([GPSD, "-V"], capture_output=True, text=True).stdout.split()[1]
    valid = [f for f in fixes if f.valid]
    timed = [f for f in valid if f.time is not None]  # gpsd's first (GLL-only) report has no time
    assert len(timed) >= 20
    for fix in timed:
        epoch = expected.get(time_key(fix.time))
        assert epoch is not None and epoch.tpv is not None
        assert abs(fix.latitude - epoch.tpv["lat"]) < 1e-6 and abs(fix.longitude - epoch.tpv["lon"]) < 1e-6
        assert fix.altitude == pytest.approx(epoch.tpv["altMSL"])
    last = valid[-1]
    assert last.mode == 3 and last.altitude == pytest.approx(final["altMSL"])
    assert last.satellites in (12, 13, 14)  # gpsd's used count for the last epochs
    assert state.get("gps.latitude") == pytest.approx(final["lat"], abs=1e-9)
    assert state.get("gps.speed_gps") == pytest.approx(final["speed"] * 3.6, abs=1e-3)
    assert state.describe_sources()["gps"]["state"] == "live"
    assert source.feed.counters()["error_total"] == 0


def test_gpsd_going_away_and_coming_back(gpsd_factory: Any) -> None:
    daemon, rx = gpsd_factory()
    lines = log_lines(NMEA / "neo-m8n.log")
    source, state, fixes = gpsd_source(daemon.port)
    seen: dict[str, Any] = {}

    async def body() -> None:
        await until(lambda: source.feed.stream.version is not None)
        rx.send_lines(lines)
        await until(lambda: state.get("gps.latitude") is not None)
        daemon.stop()
        await until(lambda: state.describe_sources()["gps"]["state"] == "offline")
        seen["detail"] = state.describe_sources()["gps"]["detail"]
        seen["latitude"] = state.get("gps.latitude")
        await until(lambda: source.problem is not None and source.problem.cause == "gpsd_unreachable")
        seen["refused"] = source.problem.message
        count = len(fixes)
        await asyncio.to_thread(daemon.start)
        await until(lambda: source.feed.stream.version is not None)  # reconnected and watching again
        rx.send_lines(lines)
        await until(lambda: len(fixes) > count and state.get("gps.latitude") is not None)

    asyncio.run(running(source, body))
    assert "connection" in seen["detail"]
    assert seen["latitude"] is None
    assert "connection refused (is gpsd running?)" in seen["refused"]
    assert state.describe_sources()["gps"]["state"] == "live"


def test_gpsd_without_a_receiver_is_reported(gpsd_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpsd_driver, "SILENCE_S", 0.5)
    daemon, _ = gpsd_factory(with_device=False)
    source, state, _ = gpsd_source(daemon.port)

    async def body() -> None:
        await until(lambda: source.problem is not None)

    asyncio.run(running(source, body))
    assert source.problem.cause == "gpsd_no_device"
    assert state.describe_sources()["gps"]["state"] == "offline"


def test_nothing_listening_is_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    source, state, _ = gpsd_source(free_port())

    async def body() -> None:
        await until(lambda: source.problem is not None)

    asyncio.run(running(source, body))
    assert source.problem.cause == "gpsd_unreachable"
    assert "127.0.0.1:" in state.describe_sources()["gps"]["detail"]


# --- hostile gpsd output -----------------------------------------------------------------------

HOSTILE = [
    b'{"class":"VERSION","release":"3.99","proto_major":3}',
    b"not json at all",
    b"[1, 2, 3]",
    b'{"no_class": 1}',
    b'{"class":"TPV","mode":true,"lat":1,"lon":2}',
    b'{"class":"TPV","mode":3,"lat":"north","lon":2}',
    b'{"class":"TPV","mode":3,"lat":95.0,"lon":2}',
    b'{"class":"TPV","mode":3,"lat":1e999,"lon":2}',
    b'{"class":"SKY","satellites":"many"}',
    b'{"class":"DEVICES","devices":7}',
    b"[" * 100000 + b"]" * 100000,
    b"\xff\xfe\x00binary",
    b'{"class":"SKY","uSat":9,"satellites":[{"PRN":1,"used":true},{"PRN":2,"used":false},{"PRN":3,"used":true}]}',
    b'{"class":"TPV","mode":3,"time":"2024-05-01T10:00:00.000Z","lat":48.1,"lon":11.5,"altMSL":520.5,'
    b'"speed":10.0,"track":90.0}',
]


def test_hostile_reports_are_counted_and_skipped() -> None:
    stream = GpsdStream()
    fixes = stream.feed(b"\n".join(HOSTILE) + b"\n" + b"x" * (MAX_LINE + 10) + b"\n")
    assert len(fixes) == 1
    fix = fixes[0]
    assert (fix.latitude, fix.longitude, fix.altitude, fix.satellites) == (48.1, 11.5, 520.5, 2)
    assert fix.speed_kmh == pytest.approx(36.0) and fix.heading == 90.0
    assert fix.timestamp.isoformat() == "2024-05-01T10:00:00+00:00"
    assert stream.counters.as_dict()["errors"] == {"bad_json": 3, "too_long": 1, "bad_report": 8}


def test_older_gpsd_without_usat_or_altmsl_and_no_fix() -> None:
    stream = GpsdStream()
    fixes = stream.feed(
        b'{"class":"SKY","satellites":[{"PRN":5,"used":true},{"PRN":7,"used":true}]}\n'
        b'{"class":"TPV","mode":3,"lat":-33.9,"lon":151.2,"alt":58.0}\n'
        b'{"class":"TPV","mode":1}\n'
        b'{"class":"TPV","mode":2,"lat":-33.9,"lon":151.2,"alt":58.0}\n'
    )
    assert [(f.valid, f.altitude, f.satellites) for f in fixes] == [(True, 58.0, 2), (False, None, 0), (True, None, 2)]
    assert fixes[1].latitude is None


def test_the_gpsd_feed_survives_a_hostile_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """A TCP server of our own that sends gpsd's framing with hostile content; then a good fix."""
    port = free_port()
    source, state, fixes = gpsd_source(port)
    received: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.readline())
        for line in HOSTILE:
            writer.write(line + b"\n")
            await writer.drain()
        await asyncio.sleep(30)

    async def scenario() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        async with server:
            await running(source, lambda: until(lambda: bool(fixes)))

    asyncio.run(scenario())
    assert received[0] == b'?WATCH={"enable":true,"json":true}\n'
    assert state.get("gps.latitude") == 48.1 and state.get("gps.satellites") == 2
    assert json.dumps(source.feed.counters())  # serialisable for the probe
    assert gps_driver.GpsSource is type(source)
