"""`evscreen simulate` as users run it: the log it writes, read by can-dump, cantools and python-can."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import can
import pytest

from conftest import evscreen_cmd
from evscreen.can.dbc import PROJECT_DBC
from evscreen.can.dbc.loader import load_decoder
from evscreen.can.logs import open_log

DURATION_S = 120
SEED = "3"
DECODER = load_decoder()
LINE = re.compile(r"^\(\d+\.\d{6}\) vcan0 (?:[0-9A-F]{3}|[0-9A-F]{8})#(?:[0-9A-F]{2}){8}$")


def isolated_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVSCREEN_")}
    env.update({var: str(home / sub) for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"),
                                                       ("XDG_CACHE_HOME", "cache"), ("XDG_STATE_HOME", "state"))})
    return env


def simulate(*args: str, env: dict[str, str] | None = None, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(evscreen_cmd("simulate", *args), capture_output=True, text=True, timeout=120,
                          env=env, **kw)


@pytest.fixture(scope="module")
def drive_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], str]:
    """Two simulated minutes of seed 3, written once for the module."""
    home = tmp_path_factory.mktemp("simulate")
    env = isolated_env(home)
    path = home / "drive.log"
    proc = simulate("--duration", str(DURATION_S), "--output", str(path), "--seed", SEED, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    return path, env, proc.stderr


@pytest.fixture(scope="module")
def dumped(drive_log: tuple[Path, dict[str, str], str]) -> tuple[list[dict[str, Any]], str]:
    path, env, _ = drive_log
    proc = subprocess.run(evscreen_cmd("can-dump", "--file", str(path), "--format", "jsonl"), capture_output=True,
                          text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()], proc.stderr


def test_simulate_writes_candump_lines_and_says_what_it_did(drive_log: tuple[Path, dict[str, str], str]) -> None:
    path, _, stderr = drive_log
    lines = path.read_text(encoding="ascii").splitlines()
    assert all(LINE.match(line) for line in lines)
    assert len(lines) == DURATION_S * sum(1000 // m.cycle_time for m in DECODER.messages)
    summary = stderr.strip().splitlines()
    assert len(summary) == 1 and summary[0].startswith(f"simulated {DURATION_S}.0 s") and str(path) in summary[0]
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_can_dump_decodes_every_frame_at_its_cycle_time(dumped: tuple[list[dict[str, Any]], str]) -> None:
    records, summary = dumped
    assert "unknown IDs: 0" in summary and "corrupt lines: 0" in summary and "short payloads: 0" in summary
    assert all(r["message"] is not None for r in records)
    counts = Counter(r["message"] for r in records)
    assert counts == {m.name: DURATION_S * 1000 // m.cycle_time for m in DECODER.messages}
    blocks = Counter(r["signals"]["BlockIndex"] for r in records if r["message"] == "BMS_BlockStatus")
    assert blocks == {"A": 400, "B": 400, "C": 400}


def test_decoded_values_obey_physics(dumped: tuple[list[dict[str, Any]], str]) -> None:
    records, _ = dumped
    pack = [(r["timestamp"], r["signals"]) for r in records if r["message"] == "BMS_PackStatus"]
    for _, s in pack:  # power = V x I within the bus's resolution (0.1 V, 0.1 A, 0.01 kW)
        v, i, p = s["PackVoltage"], s["PackCurrent"], s["PackPower"]
        assert abs(p - v * i / 1000) <= (0.05 * abs(i) + 0.05 * v) / 1000 + 0.005 + 1e-9, s
    assert max(s["PackPower"] for _, s in pack) > 20 and min(s["PackPower"] for _, s in pack) < 0  # drive, regen
    # Energy out of the terminals (∫ V·I dt at 100 Hz) against the BMS's energy content: the cells
    # lose that plus their own I²R heat, a few percent more.
    terminal_kwh = sum(s["PackVoltage"] * s["PackCurrent"] for _, s in pack) * 0.01 / 3600 / 1000
    energy = [r["signals"]["EnergyRemaining"] for r in records if r["message"] == "BMS_Energy"]
    drop_kwh = energy[0] - energy[-1]
    assert 0.9 * drop_kwh < terminal_kwh < drop_kwh * 1.01
    soc = [r["signals"]["SocDisplay"] for r in records if r["message"] == "BMS_SoC"]
    assert soc[-1] < soc[0]  # driving empties the battery
    # Motor speed follows the driven wheels through the fixed gear: one ratio whenever moving.
    wheels = {r["timestamp"]: r["signals"]["WheelSpeed_FL"] for r in records if r["message"] == "ESC_WheelSpeeds"}
    ratios = [r["signals"]["MotorSpeed"] / wheels[r["timestamp"]] for r in records
              if r["message"] == "MCU_Motor" and wheels.get(r["timestamp"], 0) > 10]
    assert len(ratios) > 100 and max(ratios) - min(ratios) < 0.01 * min(ratios)
    drive = {r["signals"]["DriveMode"] for r in records if r["message"] == "VCU_DriveSettings"}
    assert drive == {"normal"}


def test_cantools_decode_reads_the_log(drive_log: tuple[Path, dict[str, str], str]) -> None:
    path, env, _ = drive_log
    with path.open("rb") as log:
        proc = subprocess.run([sys.executable, "-m", "cantools", "decode", "--single-line", str(PROJECT_DBC)],
                              stdin=log, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == len(path.read_text().splitlines())
    names = Counter()
    for line in lines:
        m = re.search(r" :: (\w+)\(", line)
        assert m is not None and "Unknown" not in line, line
        names[m.group(1)] += 1
    assert names == {m.name: DURATION_S * 1000 // m.cycle_time for m in DECODER.messages}


def test_python_can_reads_the_same_frames(drive_log: tuple[Path, dict[str, str], str]) -> None:
    path, _, _ = drive_log
    ours = [(f.timestamp, f.arbitration_id, f.is_extended, f.data) for f in open_log(path)]
    theirs = [(m.timestamp, m.arbitration_id, m.is_extended_id, bytes(m.data)) for m in can.CanutilsLogReader(path)]
    assert ours == theirs and len(ours) > 40_000


def test_same_seed_same_drive_and_settings_on_the_bus(drive_log: tuple[Path, dict[str, str], str]) -> None:
    path, env, _ = drive_log
    first = simulate("-d", "3", "-o", "-", "--seed", SEED, env=env)
    again = simulate("-d", "3", "-o", "-", "--seed", SEED, env=env)
    assert first.returncode == again.returncode == 0, first.stderr
    assert first.stdout == again.stdout
    prefix = [line for line in path.read_text().splitlines() if float(line[1:line.index(")")]) < 3]
    assert first.stdout.splitlines() == prefix  # the start of the two-minute drive, frame for frame
    eco = simulate("-d", "0.5", "-o", "-", "--seed", SEED, "--drive-mode", "eco", "--regen-level", "high",
                   "--charge-limit", "95", env=env)
    assert eco.returncode == 0, eco.stderr
    settings = [line for line in eco.stdout.splitlines() if " 4F0#" in line]
    decoded = DECODER.decode(0x4F0, bytes.fromhex(settings[0].split("#")[1]), choices=True)
    assert decoded is not None
    assert {k: decoded.signals[k] for k in ("DriveMode", "RegenLevel", "ChargeLimit")} == {
        "DriveMode": "eco", "RegenLevel": "high", "ChargeLimit": 95}


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["-d", "0"], "--duration: must be more than 0"),
        (["-d", "-5"], "--duration: must be more than 0"),
        (["-d", "nan"], "--duration: must be more than 0"),
        (["-d", "1e9"], "at most 86400 s"),
        (["-d", "fast"], "--duration: expected simulated seconds"),
        (["-d", "5", "--seed", "-1"], "--seed: must be from 0"),
        (["-d", "5", "--seed", "0x10"], "--seed: expected a whole number"),
        (["-d", "5", "--drive-mode", "warp"], "--drive-mode: must be one of eco, normal, sport"),
        (["-d", "5", "--regen-level", "max"], "--regen-level: must be one of off, low, standard, high"),
        (["-d", "5", "--charge-limit", "120"], "--charge-limit: must be a whole number from 50 to 100"),
        (["-d", "5", "--charge-limit", "80.5"], "--charge-limit: must be a whole number from 50 to 100"),
        ([], "--duration SECONDS is required"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(tmp_path: Path, args: list[str], error: str) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    out = folder / "drive.log"
    proc = simulate(*args, "-o", str(out))
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {proc.stderr.strip()[7:]}" and error in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert list(folder.iterdir()) == []


def test_output_is_required() -> None:
    proc = simulate("-d", "5")
    assert proc.returncode == 2 and proc.stderr.startswith("error: --output FILE is required")
    assert len(proc.stderr.splitlines()) == 1


def test_unwritable_outputs_are_refused(tmp_path: Path) -> None:
    cases = ((tmp_path / "missing" / "drive.log", "cannot write"), (tmp_path, "is a directory"),
             (Path("/proc/version"), "cannot write"))  # --force: no file can be made in /proc, even by root
    for target, error in cases:
        proc = simulate("-d", "1", "-o", str(target), "--force")
        assert proc.returncode == 2 and error in proc.stderr and len(proc.stderr.splitlines()) == 1, proc.stderr


def test_an_existing_log_is_kept_unless_forced(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    out = folder / "drive.log"
    out.write_text("precious\n")
    proc = simulate("-d", "1", "-o", str(out))
    assert proc.returncode == 2 and "already exists; use --force" in proc.stderr
    assert out.read_text() == "precious\n"
    forced = simulate("-d", "1", "-o", str(out), "--force")
    assert forced.returncode == 0, forced.stderr
    assert len(out.read_text().splitlines()) == sum(1000 // m.cycle_time for m in DECODER.messages)
    assert sorted(p.name for p in folder.iterdir()) == ["drive.log"]  # no temporary file left


def test_a_terminal_sees_the_progress(tmp_path: Path) -> None:
    out = tmp_path / "drive.log"
    master, slave = os.openpty()
    proc = subprocess.Popen(evscreen_cmd("simulate", "-d", "300", "-o", str(out)), stderr=slave,
                            stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.wait(60) == 0
    text = b"".join(chunks).decode()
    assert re.search(r"\rsimulating: [\d,]+ of 300 s \(\d+ %\), [\d,]+ frames", text), text
    assert text.rstrip().splitlines()[-1].endswith(f"wrote {out}")
