"""`evscreen probe can` as a process against an slcan adapter on a pty (the test plays the adapter)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path

import cantools

from canhelpers import SlcanAdapter, slcan_frame
from conftest import evscreen_cmd
from evscreen.can.dbc import PROJECT_DBC


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text('[can]\noptions = {sleep_after_open = "0"}\n')
    return path


def probe(config: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(evscreen_cmd("probe", "can", "--config", str(config), "--interface", "slcan", *args),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ)


def test_probe_counts_and_decodes_frames_from_a_live_adapter(tmp_path: Path) -> None:
    db = cantools.database.load_file(str(PROJECT_DBC))
    pack = db.get_message_by_name("BMS_PackStatus")
    frame = slcan_frame(pack.frame_id, pack.encode({"PackVoltage": 388.5, "PackCurrent": 12.0, "PackPower": 4.66,
                                                    "ContactorState": "Closed", "BMS_Counter": 3, "BMS_Checksum": 0}))
    adapter = SlcanAdapter(tmp_path / "ttyACM0").plug()
    stop = threading.Event()

    def talk() -> None:
        adapter.opened.wait(20)
        while not stop.wait(0.01):
            adapter.send(frame, slcan_frame(0x7AB, b"\x01\x02"))

    talker = threading.Thread(target=talk, daemon=True)
    talker.start()
    try:
        proc = probe(write_config(tmp_path), "--channel", adapter.path, "--duration", "1.5", "--json")
        out, err = proc.communicate(timeout=60)
    finally:
        stop.set()
        talker.join(5)
        adapter.unplug()
    assert proc.returncode == 0, err
    verdict = json.loads(out)
    readings = verdict["readings"]
    assert verdict["ok"] is True and verdict["probe"] == "can"
    assert readings["decoded"] > 0 and readings["unknown"] > 0 and "0x7AB" in readings["unknown_ids"]
    assert readings["values"]["battery_voltage"] == 388.5


def test_probe_of_a_missing_adapter_says_what_to_check(tmp_path: Path) -> None:
    proc = probe(write_config(tmp_path), "--channel", str(tmp_path / "nope"), "--duration", "1", "--json")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "Traceback" not in err
    verdict = json.loads(out)
    assert verdict["ok"] is False and "cannot" in verdict["summary"] and verdict["advice"]


def test_probe_of_a_quiet_bus(tmp_path: Path) -> None:
    adapter = SlcanAdapter(tmp_path / "ttyACM0").plug()
    try:
        proc = probe(write_config(tmp_path), "--channel", adapter.path, "--duration", "1", "--json")
        out, _ = proc.communicate(timeout=60)
    finally:
        adapter.unplug()
    verdict = json.loads(out)
    assert proc.returncode == 1 and verdict["cause"] == "no traffic"
    assert any("asleep" in a or "awake" in a for a in verdict["advice"])
