"""`evscreen obd` and `evscreen probe obd` as users run them: against the simulated car, and one
request through an slcan adapter on a pseudo-terminal."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from canhelpers import SlcanAdapter, slcan_frame
from conftest import evscreen_cmd, wait_for
from obdhelpers import kona_2101


def obd(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(evscreen_cmd(*args), input=stdin, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})}, check=False)


def test_scan_finds_the_simulated_cars_ecu():
    out = obd("obd", "scan", "--simulated", "--json")
    assert out.returncode == 0, out.stderr
    [ecu] = json.loads(out.stdout)["ecus"]
    assert ecu["response_id"] == "0x7E8" and ecu["request_id"] == "0x7E0"
    assert ecu["supported_pids"] == ["0D", "42", "46", "5B", "A6"]
    assert ecu["vin"] == "EVSCRNSIM00000001"
    assert ecu["ecu_names"] == ["VCU-EvscreenSimVCU"]
    assert ecu["dtcs"] == [] and ecu["pending_dtcs"] == []
    text = obd("obd", "scan", "--simulated")
    assert "ECU 0x7E8 (asked on 0x7E0)" in text.stdout and "VIN: EVSCRNSIM00000001" in text.stdout


def test_query_prints_the_decoded_answer():
    out = obd("obd", "query", "0x7E4", "0x7EC", "220101", "--simulated", "--json")
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert answer["kind"] == "positive" and len(answer["data"]) == 124
    assert answer["service"] == "ReadDataByIdentifier" and answer["decoded"]["did"] == "0101"
    out = obd("obd", "query", "0x7DF", "0x7E8", "010D46", "--simulated")
    assert out.returncode == 0 and "vehicle speed = " in out.stdout and "ambient air temperature = " in out.stdout
    out = obd("obd", "query", "0x7E4", "0x7EC", "220199", "--simulated")
    assert out.returncode == 1 and "negative response: 0x31 requestOutOfRange" in out.stdout


def test_query_refuses_what_writes_and_what_is_not_hex():
    out = obd("obd", "query", "0x7E4", "0x7EC", "2E010100", "--simulated")
    assert out.returncode == 2
    assert "service 0x2E (WriteDataByIdentifier) is not a read service: evscreen only reads" in out.stderr
    out = obd("obd", "query", "0x7E4", "0x7EC", "14FFFFFF", "--simulated")
    assert out.returncode == 2 and "evscreen obd dtc --clear" in out.stderr
    out = obd("obd", "query", "0x7E4", "0x7EC", "zz", "--simulated")
    assert out.returncode == 2 and "is not hex bytes" in out.stderr
    out = obd("obd", "query", "7E4x", "0x7EC", "220101", "--simulated")
    assert out.returncode == 2 and "TX: '7E4x' is not a hex CAN ID" in out.stderr


def test_dtc_clear_asks_first():
    out = obd("obd", "dtc", "--clear", "--simulated", stdin="no\n")
    assert out.returncode == 1 and "Type 'yes' to clear" in out.stderr and "not cleared" in out.stderr
    assert "cleared" not in out.stdout
    out = obd("obd", "dtc", "--clear", "--simulated", stdin="yes\n")
    assert out.returncode == 0 and "ECU 0x7E8: cleared" in out.stdout
    out = obd("obd", "dtc", "--simulated", "--json")
    assert json.loads(out.stdout)["ecus"] == {"0x7E8": {"dtcs": [], "pending_dtcs": []}}


def test_poll_a_profile():
    out = obd("obd", "poll", "--vehicle", "hyundai-kona-ev", "--simulated", "--count", "2", "--json")
    assert out.returncode == 0, out.stderr
    rounds = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rounds) == 2
    for r in rounds:
        assert r["failed"] == {}
        assert 3.0 <= r["values"]["battery_pack.cell_voltage_min"] <= r["values"]["battery_pack.cell_voltage_max"]
        assert r["values"]["battery_soh"] > 80
    out = obd("obd", "poll", "--vehicle", "no-such-car", "--simulated", "--count", "1")
    assert out.returncode == 2


def test_probe_obd_gives_a_verdict():
    out = obd("probe", "obd", "--json", env={"EVSCREEN_SIMULATION__MODE": "on"})
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["ok"] and result["summary"].startswith("1 ECU(s) answer OBD-II")
    out = obd("probe", "obd", "--json", "--interface", "virtual", "--channel", "empty-bus", "-d", "0.3")
    result = json.loads(out.stdout)
    assert out.returncode == 1 and result["cause"] == "no traffic" and result["advice"]


def test_query_through_an_slcan_adapter(tmp_path: Path):
    """One request, a multi-frame answer with flow control, through a real serial adapter protocol."""
    config = tmp_path / "config.toml"
    config.write_text('[can]\noptions = { sleep_after_open = "0" }\n')
    adapter = SlcanAdapter(tmp_path / "ttyACM0").plug()
    proc = subprocess.Popen(evscreen_cmd("obd", "query", "0x7E4", "0x7EC", "220101", "--config", str(config),
                                         "-i", "slcan", "--channel", adapter.path, "--json"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert adapter.opened.wait(30)
        request = wait_for(lambda: next((c for c in adapter.commands if c.startswith(b"t7E4")), None), timeout=30)
        assert request == b"t7E4803220101AAAAAAAA"  # padded with 0xAA, as ISO 15765-4 allows
        answer = kona_2101()
        adapter.send(slcan_frame(0x7EC, bytes([0x10, len(answer)]) + answer[:6]))
        # the tester's flow control: continue, no block limit, no gap
        wait_for(lambda: any(c.startswith(b"t7E4830") for c in adapter.commands), timeout=30)
        frames = [bytes([0x20 | (i + 1) & 0xF]) + answer[6 + 7 * i:13 + 7 * i] for i in range(8)]
        adapter.send(*(slcan_frame(0x7EC, f.ljust(8, b"\xaa")) for f in frames))
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        adapter.unplug()
    assert proc.returncode == 0, err
    result: dict[str, Any] = json.loads(out)
    assert result["kind"] == "positive" and bytes.fromhex(result["data"]) == answer
