"""``evscreen probe`` as a person (or a script) runs it: a real subprocess against real counterparts."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import REALDATA, evscreen_cmd, free_port
from dht_script import STANDIN_DIR, dht11_frame, write_script
from evscreen.tools.probe import PROBES, ProbeContext, ProbeResult, run_probe
from gpsd_check import log_lines
from ptys import PtyReceiver
from test_gpsd import gpsd_factory  # noqa: F401  (a fixture: a real gpsd on a pty)

M8N = log_lines(REALDATA / "nmea" / "neo-m8n.log")
# Streamed over and over, the log must start with a whole epoch: its first lines are the tail of
# one (a GLL-only 2D fix), which a probe ending just after the loop restarts would see last.
M8N_LOOP = M8N[next(i for i, line in enumerate(M8N) if line.startswith(b"$GNRMC")):]


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[PtyReceiver]:
    rx = PtyReceiver(tmp_path / "ttyUSB0")
    yield rx
    rx.close()


def probe(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(evscreen_cmd("probe", *args), capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)


def one_json_object(stdout: str) -> dict[str, Any]:
    """stdout holds exactly one JSON object and nothing else."""
    doc, end = json.JSONDecoder().raw_decode(stdout)
    assert stdout[end:].strip() == ""
    assert isinstance(doc, dict)
    return doc


def dht_env(tmp_path: Path, **script: Any) -> dict[str, str]:
    env = write_script(tmp_path / "dht.json", exit_log=str(tmp_path / "exit.log"), **script)
    env["PYTHONPATH"] = os.pathsep.join([str(STANDIN_DIR), os.environ.get("PYTHONPATH", "")])
    return env


# --- gps ---------------------------------------------------------------------------------------


def test_gps_probe_on_a_receiver_with_a_fix(receiver: PtyReceiver) -> None:
    receiver.stream(M8N_LOOP)
    result = probe("gps", "--device", receiver.path, "--baud", "9600", "--duration", "1.5", "--json")
    assert result.returncode == 0, result.stderr
    doc = one_json_object(result.stdout)
    assert doc["probe"] == "gps" and doc["ok"] is True and doc["cause"] is None
    readings = doc["readings"]
    assert readings["valid"] is True and readings["mode"] == 3
    assert abs(readings["latitude"] - 44.069) < 0.001 and abs(readings["longitude"] + 121.314) < 0.001
    assert readings["satellites"] in (12, 13, 14)
    counters = readings["counters"]
    # The receiver talks before the port is open (and opening it flushes what was waiting), so the
    # probe may join in mid-sentence: that fragment is the only stray input there may be.
    assert counters["sentences"] > 50 and counters["error_total"] == counters["errors"]["noise"] <= 1, counters
    assert readings["time"].startswith("2015-03-18T17:19")


def test_gps_probe_live_view_and_verdict(receiver: PtyReceiver) -> None:
    receiver.stream(M8N_LOOP)
    result = probe("gps", "--device", receiver.path, "--duration", "1.5")
    assert result.returncode == 0, result.stderr
    assert "✔ gps works: 3D fix at 44.06" in result.stdout


def test_gps_probe_missing_port_gives_advice(tmp_path: Path) -> None:
    # Asked to listen for ten minutes, it answers at once (within probe()'s timeout): waiting
    # cannot make a device that is not there appear.
    result = probe("gps", "--device", str(tmp_path / "ttyUSB9"), "--json", "--duration", "600")
    assert result.returncode == 1
    doc = one_json_object(result.stdout)
    assert doc["ok"] is False and doc["summary"].endswith("ttyUSB9: no such device")
    assert doc["cause"] == "the serial device does not exist"
    assert any("enable_uart=1" in line for line in doc["advice"])
    assert any("dtoverlay=disable-bt" in line for line in doc["advice"])
    shown = probe("gps", "--device", str(tmp_path / "ttyUSB9"))
    assert shown.returncode == 1 and "✘ gps does not work" in shown.stdout and "likely cause" in shown.stdout


def test_gps_probe_silent_receiver(receiver: PtyReceiver) -> None:
    doc = one_json_object(probe("gps", "--device", receiver.path, "--duration", "1", "--json").stdout)
    assert doc["ok"] is False and doc["cause"] == "nothing at all comes from the receiver"
    assert any("TX → Pi RX" in line for line in doc["advice"])
    assert any("console=serial0" in line for line in doc["advice"])


def test_gps_probe_wrong_baud_rate(receiver: PtyReceiver) -> None:
    receiver.stream([bytes([0xE0, 0x78, 0x80 | i, 0xF8, 0x1C]) * 10 for i in range(30)])
    result = probe("gps", "--device", receiver.path, "--duration", "1", "--json")
    assert result.returncode == 1
    doc = one_json_object(result.stdout)
    assert doc["cause"] == "bytes arrive but none is a valid NMEA sentence"
    assert any("--baud" in line for line in doc["advice"])
    assert doc["readings"]["counters"]["error_total"] > 0


def test_gps_probe_through_a_real_gpsd(gpsd_factory: Any) -> None:  # noqa: F811
    daemon, rx = gpsd_factory()
    rx.stream(M8N_LOOP)
    result = probe("gps", "--gps-source", "gpsd", "--duration", "2", "--json",
                   env={"EVSCREEN_GPS__GPSD_PORT": str(daemon.port)})
    assert result.returncode == 0, result.stderr
    doc = one_json_object(result.stdout)
    assert doc["ok"] is True and doc["readings"]["source"] == f"gpsd at 127.0.0.1:{daemon.port}"
    assert abs(doc["readings"]["latitude"] - 44.069) < 0.001


def test_gps_probe_without_gpsd() -> None:
    result = probe("gps", "--gps-source", "gpsd", "--duration", "0.5", "--json",
                   env={"EVSCREEN_GPS__GPSD_PORT": str(free_port())})
    assert result.returncode == 1
    doc = one_json_object(result.stdout)
    assert doc["cause"] == "gpsd is not reachable" and "connection refused" in doc["summary"]


# --- dht11 -------------------------------------------------------------------------------------


def test_dht11_probe_reads_the_sensor_and_stdout_stays_json(tmp_path: Path) -> None:
    env = dht_env(tmp_path, frames=[dht11_frame(22, 45)], noise=True)
    result = probe("dht11", "--pin", "4", "--duration", "1", "--json", env=env)
    assert result.returncode == 0, result.stderr
    doc = one_json_object(result.stdout)  # the library's chatter on stdout was kept out
    assert doc["ok"] is True
    assert (doc["readings"]["temperature"], doc["readings"]["humidity"]) == (22, 45)
    assert doc["readings"]["success_rate"] == 1.0
    assert (tmp_path / "exit.log").read_text() == "exit board.D4\n"  # the pin was released


def test_dht11_probe_with_nothing_wired(tmp_path: Path) -> None:
    result = probe("dht11", "--duration", "1", "--json", env=dht_env(tmp_path, frames=["absent"]))
    assert result.returncode == 1
    doc = one_json_object(result.stdout)
    assert doc["cause"] == "the sensor does not answer"
    assert any("pull-up resistor" in line for line in doc["advice"])
    assert any("GPIO4 (physical pin 7)" in line for line in doc["advice"])
    assert doc["readings"]["failures"]["not_found"] == 1


@pytest.mark.parametrize(("script", "cause"), [
    ({"import_error": "notimplemented"}, "this machine is not a board the DHT library supports"),
    ({"import_error": "runtime"}, "the DHT library cannot run on this machine"),
    ({"pins": [2, 3]}, "GPIO4 does not exist on this board"),
    ({"construct_error": "permission"}, "no permission to use the GPIO pins"),
    ({"construct_error": "pulsein"}, "the GPIO helper of the library is missing"),
])
def test_dht11_probe_library_failures_are_one_line(tmp_path: Path, script: dict[str, Any], cause: str) -> None:
    result = probe("dht11", "--json", env=dht_env(tmp_path, noise=True, **script))
    assert result.returncode == 1
    doc = one_json_object(result.stdout)
    assert doc["summary"] and "\n" not in doc["summary"] and "unavailable:" not in doc["summary"]
    assert doc["cause"] == cause
    assert "Traceback" not in result.stderr


def test_dht11_probe_without_the_library_shown_to_a_person() -> None:
    result = probe("dht11")
    assert result.returncode == 1
    assert "✘ dht11 does not work: No module named 'adafruit_dht'" in result.stdout
    assert "pip install 'evscreen[pi]'" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


# --- all, and bad arguments --------------------------------------------------------------------


def test_probe_all_is_one_json_object(receiver: PtyReceiver, tmp_path: Path) -> None:
    receiver.stream(M8N_LOOP)
    env = dht_env(tmp_path, frames=[dht11_frame(21, 50)], noise=True)
    env["EVSCREEN_MQTT__PORT"] = str(free_port())  # surely no broker there
    result = probe("all", "--device", receiver.path, "--duration", "1.2", "--json", env=env)
    doc = one_json_object(result.stdout)
    assert list(doc["results"]) == list(PROBES)
    assert doc["results"]["gps"]["ok"] is True and doc["results"]["dht11"]["ok"] is True
    # No BlueZ on this machine (the Bluetooth tests bring their own on a private bus): all = not ok.
    assert doc["results"]["bluetooth"]["ok"] is False
    assert doc["results"]["mqtt"]["ok"] is False
    assert doc["ok"] is False and result.returncode == 1
    env = dht_env(tmp_path, frames=["absent"])
    failing = probe("all", "--device", receiver.path, "--duration", "1.2", "--json", env=env)
    assert failing.returncode == 1
    doc = one_json_object(failing.stdout)
    assert doc["ok"] is False and doc["results"]["gps"]["ok"] is True and doc["results"]["dht11"]["ok"] is False


def test_probe_all_ends_with_a_tally(receiver: PtyReceiver, tmp_path: Path) -> None:
    receiver.stream(M8N_LOOP)
    env = dht_env(tmp_path, frames=[dht11_frame(21, 50)], noise=True)
    env["EVSCREEN_MQTT__PORT"] = str(free_port())
    result = probe("all", "--device", receiver.path, "--duration", "1.2", env=env)
    assert result.returncode == 1
    last = result.stdout.rstrip().splitlines()[-1]
    assert last.startswith("2 of 6 sources work: gps, dht11; not working: can, obd, bluetooth, mqtt"), last


def test_what_a_person_reads_is_words_not_reprs(tmp_path: Path) -> None:
    """Piped (no terminal): titles on one line, no Python reprs, no verdict that says a thing twice."""
    env = {"DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path / 'no-bus'}", "COLUMNS": "80"}
    out = probe("bluetooth", "--duration", "0.5", env=env)
    assert out.returncode == 1
    lines = out.stdout.splitlines()
    assert "bluetooth: what it read" in lines
    verdict = next(line for line in lines if line.startswith("✘"))
    assert verdict.startswith("✘ bluetooth does not work: cannot reach the D-Bus system bus"), verdict
    assert "unavailable" not in verdict.lower() and out.stdout.lower().count("does not work") == 1
    assert "['" not in out.stdout and "False" not in out.stdout and "True" not in out.stdout
    assert "is D-Bus running?" in out.stdout  # the advice, as bullets
    dht = probe("dht11", env={"COLUMNS": "40"})
    assert "dht11: what it read" in dht.stdout.splitlines()
    assert "evscreen[pi]" in dht.stdout  # brackets in advice are text, not markup


def test_no_socketcan_in_the_kernel_is_not_a_link_that_is_down() -> None:
    from evscreen.tools.probe.can import socketcan_cause

    cause, advice = socketcan_cause("cannot open socketcan can0: [Errno 97] Address family not supported by protocol",
                                    "can0")
    assert "kernel has no SocketCAN" in cause and any("modprobe can can_raw" in line for line in advice)
    assert not any("ip link set" in line for line in advice)
    cause, advice = socketcan_cause("cannot open socketcan can0: [Errno 100] Network is down", "can0")
    assert "down" in cause and any("ip link set can0 up" in line for line in advice)
    cause, _ = socketcan_cause("cannot open socketcan can7: [Errno 19] No such device", "can7")
    assert cause == "there is no CAN interface can7 on this machine"


def test_probe_can_on_a_kernel_without_socketcan() -> None:
    import errno
    import socket

    try:
        socket.socket(socket.AF_CAN, socket.SOCK_RAW, socket.CAN_RAW).close()
    except OSError as exc:
        if exc.errno != errno.EAFNOSUPPORT:
            pytest.skip(f"this kernel has SocketCAN but cannot open a raw socket: {exc}")
    else:
        pytest.skip("this kernel has SocketCAN: the probe cannot see its absence here")
    out = probe("can", "--interface", "socketcan", "--channel", "can0", "--duration", "0.5")
    assert out.returncode == 1
    assert "likely cause: this kernel has no SocketCAN" in out.stdout and "modprobe can can_raw" in out.stdout
    assert "ip link set" not in out.stdout


@pytest.mark.parametrize("args", [
    ["bluetooth-please"], ["gps", "--baud", "1234"], ["gps", "--duration", "nan"], ["dht11", "--pin", "99"],
    ["gps", "--bogus"],
])
def test_bad_arguments_exit_2_with_nothing_on_stdout(args: list[str]) -> None:
    result = probe(*args, "--json")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip()


def test_a_crashing_probe_still_gets_a_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    from evscreen.config import load_config

    monkeypatch.setitem(PROBES, "broken", "json:loads")  # a "probe" that raises TypeError
    result = run_probe("broken", ProbeContext(load_config(env={}).config, 0.1))
    assert isinstance(result, ProbeResult) and result.ok is False
    assert result.summary.startswith("the probe failed: TypeError")
    # With --debug (carried by the context) the crash is raised, traceback and all.
    with pytest.raises(TypeError):
        run_probe("broken", ProbeContext(load_config(env={}).config, 0.1, debug=True))


def test_debug_reaches_a_crashing_probe_from_the_command_line(tmp_path: Path) -> None:
    # A sitecustomize in the child registers a probe that crashes, as a bug in a real one would.
    (tmp_path / "sitecustomize.py").write_text(
        "from evscreen.tools import probe\nprobe.PROBES['can'] = 'json:loads'\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    quiet = subprocess.run(evscreen_cmd("probe", "can", "--json"), capture_output=True, text=True, env=env,
                           timeout=120, stdin=subprocess.DEVNULL)
    assert quiet.returncode == 1 and "the probe failed: TypeError" in quiet.stdout
    assert "Traceback" not in quiet.stderr
    loud = subprocess.run(evscreen_cmd("--debug", "probe", "can", "--json"), capture_output=True, text=True,
                          env=env, timeout=120, stdin=subprocess.DEVNULL)
    assert loud.returncode != 0 and "Traceback" in loud.stderr and "TypeError" in loud.stderr


@pytest.mark.parametrize("duration", [-1.0, 0.0, float("nan"), float("inf"), 3601.0])
def test_durations_that_make_no_sense_are_usage_errors(duration: float) -> None:
    from evscreen.errors import UsageError
    from evscreen.tools.probe import check_duration

    with pytest.raises(UsageError):
        check_duration(duration)


def _dht_verdict(events: list[Any]) -> ProbeResult:
    from evscreen.config import load_config
    from evscreen.drivers.dht11 import Dht11Source
    from evscreen.state import VehicleState
    from evscreen.tools.probe.dht11 import _verdict

    source = Dht11Source(load_config(env={}).config, VehicleState())
    for event in events:
        if isinstance(event, str):
            source.sampler.fail(event)
        else:
            source.sampler.add(*event)
    return _verdict(source, 10.0)


def test_dht11_verdicts_name_the_likely_cause() -> None:
    garbled = _dht_verdict(["Checksum did not validate. Try again.", "A full buffer was not returned. Try again."] * 2)
    assert not garbled.ok and garbled.cause == "the sensor answers but its data arrives garbled"
    assert any("--model DHT22" in line for line in garbled.advice)
    wrong_model = _dht_verdict([(200, 3), (150, 1)])
    assert not wrong_model.ok and wrong_model.cause.startswith("the values are impossible for a DHT11")
    weak = _dht_verdict([(21, 40), "DHT sensor not found, check wiring", "Checksum did not validate. Try again."])
    assert weak.ok and weak.cause == "more than half of the reads failed"
    assert weak.summary == "21 °C, 40 % humidity; 1 of 3 reads good"
    assert any("pull-up" in line for line in weak.advice)
