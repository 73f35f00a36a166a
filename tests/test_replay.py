"""Replay: a recorded log as the vehicle, through the ordinary CAN source, decoder and mapping."""

from __future__ import annotations

import gzip
import re
import subprocess
from pathlib import Path
from typing import Any

import can
import pytest
from websockets.sync.client import connect

from conftest import REPO, evscreen_cmd, recv_until, wait_for
from evscreen.can.bus import open_bus
from evscreen.can.logs import open_log
from evscreen.can.recording import OUTPUT_FORMATS, LogWriter
from evscreen.can.replay import ReplayBus, check_replay
from evscreen.cli import _replay_flags
from evscreen.config import load_config
from evscreen.drivers.can import CanSource
from evscreen.errors import LogFormatError, UsageError
from evscreen.state import VehicleState
from test_can_source import LoopThread
from test_web_dashboard import browser, http, tab, wait_live  # noqa: F401  the browser, as its tests have it

KONA = REPO / "tests" / "data" / "realdata" / "can" / "kona-ev"
KONA_LOG = KONA / "221217-1-2021-pcan-bcan-no-key.csv"
KONA_BUS0 = [f for f in open_log(KONA_LOG) if f.channel == "0"]


def drain(bus: Any) -> list[can.Message]:
    out = []
    while (msg := bus.recv(0)) is not None:
        out.append(msg)
    return out


def candump(path: Path, *lines: str) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


# --- the bus -------------------------------------------------------------------------------------


def test_the_kona_log_plays_frame_for_frame_on_the_bus_it_was_asked_for() -> None:
    bus = open_bus("replay", str(KONA_LOG), 500000, {"speed": 0, "bus": "0"})
    try:
        played = drain(bus)
        assert bus.finished and bus.frames_played == len(KONA_BUS0) == 8969
        assert [(m.timestamp, m.arbitration_id, bytes(m.data), m.channel) for m in played] == [
            (f.timestamp, f.arbitration_id, f.data, f.channel) for f in KONA_BUS0]
        with pytest.raises(can.CanOperationError, match="read-only"):
            bus.send(can.Message(arbitration_id=1))
    finally:
        bus.shutdown()


def test_frames_come_when_their_time_comes(tmp_path: Path) -> None:
    """At 1x a frame recorded 1000 s after the first is not handed out yet; at 0 it is, at once."""
    log = candump(tmp_path / "gap.log", "(100.000000) can0 123#01", "(1100.000000) can0 123#02")
    paced = ReplayBus(str(log), speed=1.0)
    try:
        assert bytes(paced.recv(5).data) == b"\x01"
        assert paced.recv(0.05) is None  # not due for 1000 s: the bus is quiet meanwhile
        assert not paced.finished
    finally:
        paced.shutdown()
    fast = ReplayBus(str(log), speed=0)
    try:
        assert [bytes(m.data) for m in drain(fast)] == [b"\x01", b"\x02"]
    finally:
        fast.shutdown()


def test_loop_plays_the_log_again(tmp_path: Path) -> None:
    log = candump(tmp_path / "two.log", "(1.0) can0 100#AA", "(2.0) can0 101#BB")
    bus = ReplayBus(str(log), speed=0, loop=True)
    try:
        ids = [bus.recv(1).arbitration_id for _ in range(7)]
        assert ids == [0x100, 0x101] * 3 + [0x100] and bus.passes == 3 and not bus.finished
    finally:
        bus.shutdown()


def test_error_and_remote_frames_and_extended_ids_play_as_recorded(tmp_path: Path) -> None:
    log = candump(tmp_path / "kinds.log", "(1.0) can0 18DAF1EC#0102", "(1.1) can0 123#R",
                  "(1.2) can0 20000080#0000000000000000", "(1.3) can1 7E8##0" + "11" * 12)
    bus = ReplayBus(str(log), speed=0)
    try:
        ext, remote, error, fd = drain(bus)
    finally:
        bus.shutdown()
    assert ext.is_extended_id and ext.arbitration_id == 0x18DAF1EC and bytes(ext.data) == b"\x01\x02"
    assert remote.is_remote_frame and error.is_error_frame
    assert fd.is_fd and len(fd.data) == 12 and fd.channel == "can1"


@pytest.mark.parametrize("ending", OUTPUT_FORMATS)
def test_every_format_replays_the_same_frames(tmp_path: Path, ending: str) -> None:
    """Written by can-dump's writers (candump ours; blf, asc, trc, csv python-can's), read back by replay."""
    frames = KONA_BUS0[:500]
    path = tmp_path / f"kona{ending}"
    writer = LogWriter(path)
    for frame in frames:
        writer.write(frame)
    writer.close()
    bus = ReplayBus(str(path), speed=0)
    try:
        played = drain(bus)
    finally:
        bus.shutdown()
    assert [(m.arbitration_id, bytes(m.data)) for m in played] == [(f.arbitration_id, f.data) for f in frames]
    # The recorded timing, which pacing follows (BLF and ASC store times relative to the file's start).
    assert [m.timestamp - played[0].timestamp for m in played] == pytest.approx(
        [f.timestamp - frames[0].timestamp for f in frames], abs=1e-4)


def test_a_gzip_log_plays_like_the_plain_one_and_a_cut_off_one_up_to_the_cut(tmp_path: Path) -> None:
    plain = KONA_LOG.read_bytes()
    whole = tmp_path / "kona.csv.gz"
    whole.write_bytes(gzip.compress(plain))
    bus = ReplayBus(str(whole), speed=0, bus="0")
    try:
        assert len(drain(bus)) == len(KONA_BUS0)
    finally:
        bus.shutdown()
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(whole.read_bytes()[: len(whole.read_bytes()) // 2])  # a power cut mid-write
    bus = ReplayBus(str(cut), speed=0, bus="0")
    try:
        played = drain(bus)
    finally:
        bus.shutdown()
    assert 0 < len(played) < len(KONA_BUS0)
    assert [(m.arbitration_id, bytes(m.data)) for m in played] == [(f.arbitration_id, f.data)
                                                                   for f in KONA_BUS0[:len(played)]]


@pytest.mark.parametrize(
    ("content", "bus", "error"),
    [
        (None, None, r"log file not found"),
        (b"\x00\x01garbage" * 100, None, r"unknown CAN log format"),
        (b"Time Stamp,ID,Extended,Bus,LEN,D1,D2,D3,D4,D5,D6,D7,D8\n", None, r"no CAN frames in this gvret log"),
        (b"(1.0) can0 123#XYZ\n(2.0) can0 12345678901#00\n", None, r"no CAN frames .*\(2 corrupt lines"),
        (b"", None, r"no CAN frames in this candump log"),
        (b"(1.0) can0 123#01\n", "3", r"--replay-bus: .* has no frames on bus '3'; its buses: can0 \(1 frames\)"),
        (gzip.compress(b"(1.0) can0 123#01\n")[:12], None, r"not a readable gzip file|no CAN frames"),
        (b"\x1f\x8b\x08\x00garbage-not-deflate", None, r"not a readable gzip file"),
    ],
)
def test_logs_that_cannot_be_replayed_say_why_in_one_line(tmp_path: Path, content: bytes | None, bus: str | None,
                                                          error: str) -> None:
    path = tmp_path / "drive.log"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises((LogFormatError, UsageError)) as info:
        check_replay(path, bus)
    assert "\n" not in str(info.value)
    assert re.search(error, str(info.value)), str(info.value)
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("options", "error"),
    [({"speed": -1}, r"--replay-speed: must be a number from 0"), ({"speed": "fast"}, r"--replay-speed"),
     ({"colour": 1}, r"unknown option\(s\) colour")],
)
def test_bad_replay_options(options: dict[str, Any], error: str) -> None:
    with pytest.raises(UsageError, match=error):
        ReplayBus(str(KONA_LOG), **options)


# --- the command line ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--replay", "/no/such/drive.log"], r"error: /no/such/drive.log: log file not found"),
        (["--replay", str(REPO / "README.md")], r"error: .*README.md: unknown CAN log format"),
        (["--replay", str(KONA_LOG), "--replay-bus", "2"], (r"error: --replay-bus: .* has no frames on bus '2'; "
                                                           r"its buses: 0 \(8969 frames\), 1 \(5325 frames\)")),
        (["--replay", str(KONA_LOG), "--vehicle", "tesla"], r"error: vehicle.name: no vehicle profile 'tesla'"),
        (["--replay", str(KONA_LOG), "--replay-speed", "-2"], r"error: --replay-speed: must be 0"),
        (["--replay", str(KONA_LOG), "--simulation", "on"], r"error: --replay plays a recording"),
        (["--loop"], r"error: --loop needs --replay FILE"),
        (["--replay-speed", "2", "--replay-bus", "1"], r"error: --replay-speed, --replay-bus need --replay FILE"),
    ],
)
def test_serve_refuses_a_replay_it_cannot_play_with_one_line_and_exit_code_2(args: list[str], error: str,
                                                                              tmp_path: Path) -> None:
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    out = subprocess.run(evscreen_cmd("serve", "--port", "1", *args), capture_output=True, text=True, timeout=60,
                         check=False)
    assert out.returncode == 2, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and re.search(error, lines[0]), out.stderr


def test_an_empty_log_is_refused_too(tmp_path: Path) -> None:
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    out = subprocess.run(evscreen_cmd("serve", "--port", "1", "--replay", str(empty)), capture_output=True,
                         text=True, timeout=60, check=False)
    assert out.returncode == 2 and f"error: {empty}: no CAN frames in this candump log" in out.stderr


# --- the real Kona drive on the screen, end to end -------------------------------------------------


def test_the_kona_log_on_the_screen(serve_process: Any) -> None:
    """`serve --replay` + the Kona profile: what a keyless parked car can show, and nothing invented."""
    server = serve_process("--replay", str(KONA_LOG), "--vehicle", "hyundai-kona-ev", "--loop")
    with connect(server.url, open_timeout=10) as ws:
        t = recv_until(ws, lambda m: m.get("type") == "telemetry" and m["speed"] is not None
                       and m["sources"]["can"]["state"] == "replay", timeout=20)
    assert t["speed"] == 0  # CGW_450.Speed, the gateway's relay: present in the log, and 0
    assert t["connectivity"]["can_bus"] is True
    for name in ("battery_soc", "battery_voltage", "battery_current", "power_kw", "motor_rpm", "wheel_speed",
                 "range_km", "motor_temp"):
        assert t[name] is None, name  # BMS, inverter, brakes asleep: their frames are not in the log
    assert "simulation" not in t["sources"]  # a replay is the vehicle: nothing is simulated beside it
    code, err = server.stop()
    assert code == 0
    assert "vehicle hyundai-kona-ev (Hyundai Kona Electric (2019-2021); built-in)" in err  # the banner
    assert f"replay of {KONA_LOG} (bus 0, 1x real time, looped)" in err


def kona_runtime(live_server: Any) -> Any:
    flags = _replay_flags(KONA_LOG, 0.0, None, False, None)
    return live_server(**flags, **{"vehicle.name": "hyundai-kona-ev"})


def test_the_kona_car_state_from_the_log(live_server: Any) -> None:
    """The car's state targets the journal and the poller read: ignition off, odometer 14452.5 km."""
    rt = kona_runtime(live_server)
    can_source = next(s for s in rt.runtime.sources if s.name == "can")
    wait_for(lambda: can_source.stats.frames == len(KONA_BUS0), timeout=30)  # the whole log went through
    rt.wait_for_values("vehicle.odometer", "vehicle.ready", "speed")
    state = rt.runtime.state
    assert state.get("vehicle.odometer") == 14452.5  # Odometer.Odometer, 8D 34 02 -> 144525 x 0.1 km
    assert state.get("vehicle.ready") is False  # BodyState.IgnitionSw = Off in every frame
    assert state.get("vehicle.charging") is None  # BMS_599 is not on the bus: unknown, not false
    assert can_source.bus.finished and can_source.stats.decoded == sum(
        1 for f in KONA_BUS0 if can_source.decoder.find(f.arbitration_id, f.is_extended) is not None)


def test_power_is_derived_only_from_known_voltage_and_current(tmp_path: Path) -> None:
    """The Kona profile maps voltage and current but no power: the source derives it, never half-known."""
    from evscreen.can.dbc.loader import load_database
    from evscreen.vehicles.loader import load_profile

    db, _ = load_database(load_profile("hyundai-kona-ev").dbc_path())
    hv = db.get_message_by_name("Batt_HV_Status")
    soc = db.get_message_by_name("BMS_542")
    log = tmp_path / "drive.log"
    lines = [f"(1.0) can0 {soc.frame_id:03X}#" + soc.encode({s.name: 0 for s in soc.signals} | {"SocDisp": 80}).hex()]
    payload = hv.encode({s.name: 0 for s in hv.signals} | {"VBatt": 360.0, "IBatt": -25.5})
    lines.append(f"(1.1) can0 {hv.frame_id:03X}#{payload.hex()}")
    candump(log, *lines)
    config = load_config(env={}, flags={**_replay_flags(log, 0.0, None, False, None),
                                        "vehicle.name": "hyundai-kona-ev"}).config
    source = CanSource(config, VehicleState())
    lt = LoopThread(source)
    try:
        t = wait_for(lambda: (m := lt.telemetry())["power_kw"] is not None and m)
    finally:
        lt.stop()
    assert (t["battery_soc"], t["battery_voltage"], t["battery_current"]) == (80.0, 360.0, -25.5)
    assert t["power_kw"] == round(360.0 * -25.5 / 1000, 2)  # charging: negative
    assert t["sources"]["can"]["state"] in ("replay", "stale")


def test_replay_through_the_config_file_and_a_profile_that_extends(tmp_path: Path) -> None:
    """[can] interface = "replay" works from the file too; the profile's log_bus picks the bus."""
    config_file = tmp_path / "config.toml"
    config_file.write_text(f'[vehicle]\nname = "hyundai-kona-ev"\n[can]\nenabled = true\ninterface = "replay"\n'
                           f'channel = "{KONA_LOG}"\noptions = {{ speed = "0" }}\n', encoding="utf-8")
    source = CanSource(load_config(config_file, env={}).config, VehicleState())
    assert source.replay and source.bus_options["bus"] == "0"
    assert "replay of" in source.describe() and "(replay)" in source.describe()


def test_the_dashboard_shows_the_replay(live_server: Any, tab: Any) -> None:  # noqa: F811
    rt = kona_runtime(live_server)
    rt.wait_for_values("speed")
    page = tab.open(http(rt))
    wait_live(page)
    from playwright.sync_api import expect

    expect(page.locator('#sources-list li[data-source="can"]')).to_have_attribute("data-state",
                                                                                  re.compile("replay|stale"))
    expect(tab.field("speed")).to_have_text("0")
    assert tab.errors == []

