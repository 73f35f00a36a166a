"""The GPS source reading real receiver logs through a pseudo-terminal, opened by its device path."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import evscreen.drivers.gps as gps_driver
from conftest import REALDATA
from evscreen.config import load_config
from evscreen.drivers.gps import GpsSource
from evscreen.gps.nmea import Fix, NmeaReader
from evscreen.state import VehicleState
from gpsd_check import assert_matches_gpsd, expected_epochs, log_lines, time_key
from ptys import PtyReceiver

NMEA = REALDATA / "nmea"


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[PtyReceiver]:
    rx = PtyReceiver(tmp_path / "serial0")
    yield rx
    rx.close()


def gps_source(port: str, **flags: Any) -> tuple[GpsSource, VehicleState, list[Fix]]:
    config = load_config(env={}, flags={"gps.enabled": True, "gps.port": port, **flags}).config
    state = VehicleState()
    source = GpsSource(config, state)
    fixes: list[Fix] = []
    source.listeners.append(fixes.append)
    return source, state, fixes


async def until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def running(source: GpsSource, body: Callable[[], Any]) -> None:
    task = asyncio.create_task(source.run())
    try:
        await body()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await source.close()


@pytest.mark.parametrize("name", ["neo-m8n.log", "beidou-bd.log"])
def test_real_log_through_a_pty_gives_gpsd_s_fixes(receiver: PtyReceiver, name: str) -> None:
    lines = log_lines(NMEA / name)
    offline_reader = NmeaReader()
    epochs = len(offline_reader.feed(b"\r\n".join(lines) + b"\r\n")) + 1  # + the one the quiet line ends
    expected = expected_epochs(NMEA / f"{name}.chk")
    source, state, fixes = gps_source(receiver.path)

    async def body() -> None:
        await until(lambda: source.feed.is_open)
        receiver.send_lines(lines)
        await until(lambda: len(fixes) >= epochs)

    asyncio.run(running(source, body))
    assert len(fixes) == epochs
    compared = 0
    for fix in fixes:
        epoch = expected.get(time_key(fix.time))
        if epoch is not None and epoch.tpv is not None:
            assert_matches_gpsd(fix, epoch)
            compared += 1
    assert compared >= epochs - 1
    assert state.get("gps.latitude") == fixes[-1].latitude
    assert state.get("gps.satellites") == fixes[-1].satellites
    assert state.describe_sources()["gps"]["state"] == "live"
    assert source.feed.counters()["error_total"] == 0


def test_unplugged_receiver_goes_offline_without_a_position_and_recovers(receiver: PtyReceiver) -> None:
    lines = log_lines(NMEA / "neo-m8n.log")
    source, state, fixes = gps_source(receiver.path)
    seen: dict[str, Any] = {}

    async def body() -> None:
        await until(lambda: source.feed.is_open)
        receiver.stream(lines)
        await until(lambda: state.get("gps.latitude") is not None)
        receiver.unplug()
        await until(lambda: state.describe_sources()["gps"]["state"] == "offline")
        seen["offline"] = dict(state.describe_sources()["gps"])
        seen["values"] = {k: v for k, v in state.values().items() if k.startswith("gps.")}
        seen["problem"] = source.problem
        await until(lambda: source.problem is not None and source.problem.cause == "not_found")
        receiver.plug()
        receiver.stream(lines)
        await until(lambda: state.describe_sources()["gps"]["state"] == "live"
                    and state.get("gps.latitude") is not None)

    asyncio.run(running(source, body))
    assert "device lost" in seen["offline"]["detail"]
    assert seen["problem"].cause == "unplugged"
    assert set(seen["values"].values()) == {None}  # no stale position on screen while unplugged
    assert abs(state.get("gps.latitude") - 44.069) < 0.001


def test_silent_receiver_goes_offline(receiver: PtyReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gps_driver, "SILENCE_S", 0.5)
    source, state, _ = gps_source(receiver.path)

    async def body() -> None:
        await until(lambda: source.problem is not None)

    asyncio.run(running(source, body))
    assert source.problem.cause == "silent"
    assert state.describe_sources()["gps"]["state"] == "offline"


def test_wrong_baud_rate_garbage_is_counted_and_reported(
    receiver: PtyReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gps_driver, "SILENCE_S", 0.5)
    source, state, fixes = gps_source(receiver.path)
    # What 9600-baud NMEA looks like to a port at 115200: bytes, none of them a sentence.
    garbage = [bytes([0x80 | (i * 37 % 127), 0xF8, 0x00, 0x78, 0xE0]) * 8 for i in range(20)]

    async def body() -> None:
        await until(lambda: source.feed.is_open)
        receiver.stream(garbage)
        await until(lambda: source.problem is not None)

    asyncio.run(running(source, body))
    assert source.problem.cause == "no_nmea"
    assert fixes == []
    counters = source.feed.counters()
    assert counters["sentences"] == 0 and counters["error_total"] > 0


def test_missing_device_is_reported_and_retried(tmp_path: Path) -> None:
    source, state, _ = gps_source(str(tmp_path / "ttyUSB7"))

    async def body() -> None:
        await until(lambda: source.problem is not None)

    asyncio.run(running(source, body))
    assert source.problem.cause == "not_found"
    described = state.describe_sources()["gps"]
    assert described["state"] == "offline" and described["detail"] == f"{tmp_path}/ttyUSB7: no such device"
    assert set(v for k, v in state.values().items() if k.startswith("gps.")) == {None}


def test_a_regular_file_is_not_a_serial_port(tmp_path: Path) -> None:
    path = tmp_path / "not-a-tty"
    path.write_bytes(b"$GPGGA\r\n")
    source, _, _ = gps_source(str(path))

    async def body() -> None:
        await until(lambda: source.problem is not None)

    asyncio.run(running(source, body))
    assert source.problem.cause == "not_serial"


def test_serve_shows_the_receiver_s_fix_in_telemetry(receiver: PtyReceiver, live_server: Any) -> None:
    from websockets.sync.client import connect

    from conftest import recv_until

    receiver.stream(log_lines(NMEA / "neo-m8n.log"))
    rt = live_server(**{"simulation.mode": "off", "gps.enabled": True, "gps.port": receiver.path})
    with connect(rt.url) as ws:
        message = recv_until(ws, lambda m: m["gps"]["latitude"] is not None and m["gps"]["satellites"], timeout=20)
    assert abs(message["gps"]["latitude"] - 44.069) < 0.001
    assert message["gps"]["satellites"] in (12, 13, 14)
    assert message["sources"]["gps"]["state"] == "live"
    assert "connectivity" in message["sources"]  # the OS-level Wi-Fi source runs with real hardware
    assert message["connectivity"]["wifi"] in (True, False)


def test_a_port_another_program_holds_is_busy(receiver: PtyReceiver) -> None:
    import serial

    other = serial.Serial(receiver.path, 9600, exclusive=True)  # e.g. a second evscreen
    try:
        source, state, _ = gps_source(receiver.path)

        async def body() -> None:
            await until(lambda: source.problem is not None)

        asyncio.run(running(source, body))
    finally:
        other.close()
    assert source.problem.cause == "busy"
    assert state.describe_sources()["gps"]["detail"].endswith("in use by another program")


@pytest.mark.parametrize(("exc", "cause"), [
    (OSError(13, "Permission denied"), "permission"),
    (OSError(2, "No such file or directory"), "not_found"),
    (OSError(16, "Device or resource busy"), "busy"),
    (OSError(5, "Input/output error"), "open_failed"),
    (ValueError("Invalid port"), "open_failed"),
])
def test_open_errors_are_classified(exc: BaseException, cause: str) -> None:
    import serial

    wrapped = serial.SerialException(exc.errno, f"could not open port x: {exc}") if isinstance(exc, OSError) else exc
    assert gps_driver.classify_open_error("/dev/x", wrapped).cause == cause


def test_nasty_corpus_through_a_pty_gives_the_clean_fixes(receiver: PtyReceiver) -> None:
    from test_nmea import nasty_corpus

    clean_reader = NmeaReader()
    clean = clean_reader.feed(b"".join(line + b"\r\n" for line in log_lines(NMEA / "neo-m8n.log")))
    clean.append(clean_reader.close())
    data, expected_errors = nasty_corpus()
    source, state, fixes = gps_source(receiver.path)

    async def body() -> None:
        await until(lambda: source.feed.is_open)
        receiver.send_lines([data])
        await until(lambda: len(fixes) >= len(clean))

    asyncio.run(running(source, body))
    assert fixes == clean
    assert source.feed.counters()["errors"] == expected_errors
    assert state.describe_sources()["gps"]["state"] == "live"
