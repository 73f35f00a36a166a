"""`evscreen can-dump --diag` as users run it, on the real Kona D-CAN session and a live slcan adapter."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from canhelpers import SlcanAdapter, slcan_frame
from conftest import evscreen_cmd

DCAN_LOG = Path(__file__).parent / "data" / "realdata" / "can" / "kona-ev" / "221210-1-2021-dcan-car-scanner-elm327.csv"


def dump(*args: str, check: bool = True, **kw: Any) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "250"}
    out = subprocess.run(evscreen_cmd("can-dump", "--diag", *args), check=False, capture_output=True, text=True,
                         timeout=60, env=env, **kw)
    if check:
        assert out.returncode == 0, out.stderr
    return out


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return [json.loads(line) for line in dump("--file", str(DCAN_LOG), "--format", "jsonl").stdout.splitlines()]


def raw_frames() -> list[tuple[int, bytes]]:
    """The log's frames read with the csv module (independent of evscreen's log reader)."""
    with DCAN_LOG.open(newline="") as f:
        rows = list(csv.reader(f))[1:]
    return [(int(r[1], 16), bytes(int(b, 16) for b in r[5:5 + int(r[4])])) for r in rows]


def diag(records: list[dict[str, Any]], **match: Any) -> list[dict[str, Any]]:
    return [r for r in records if r["kind"] == "diag" and all(r.get(k) == v for k, v in match.items())]


def test_one_entry_per_message_flow_control_frames_are_none(records):
    frames = raw_frames()
    singles = sum(1 for _, d in frames if d[0] >> 4 == 0)
    firsts = sum(1 for _, d in frames if d[0] >> 4 == 1)
    flow = sum(1 for _, d in frames if d[0] >> 4 == 3)
    messages = diag(records)
    incomplete = [r for r in records if r["kind"] == "diag_error"]
    assert flow == 8
    assert len(messages) == singles + firsts - len(incomplete)
    assert len(messages) > 1800
    for r in messages:
        assert set(r) >= {"kind", "timestamp", "bus", "id", "data", "service", "decoded"}
        assert r["bus"] == "1" and 0x700 <= r["id"] <= 0x7FF
        assert r["data"][:2] != "30"  # flow control is not a message
    # the two first frames the log never continues (0x778's at 7278.6 s, 0x7CC's) are dropped, said so
    assert sorted((r["id"], r["error"]) for r in incomplete) == [(0x778, "timeout"), (0x7CC, "timeout")]


def test_multi_frame_mode_09_answers_are_reassembled(records):
    answers = {(r["id"], r["decoded"]["info_type"]): r for r in diag(records, service="OBD vehicle information")
               if r["decoded"]["type"] == "response"}
    vin = answers[(0x7EC, "02")]
    assert vin["frames"] == 3 and vin["decoded"]["value"] == "OSEV__ BMS"
    assert answers[(0x7ED, "04")]["decoded"]["value"] == ["EOSEK5L-OS2-D000"]
    assert answers[(0x7EC, "04")]["decoded"]["value"] == ["OSEVB6822R"]
    assert answers[(0x7EC, "0A")]["decoded"]["value"] == "BECM-B+EnergyCtrl"
    assert answers[(0x7ED, "0A")]["decoded"]["value"] == "BCCM-B+ChargerCtrl"
    assert answers[(0x7ED, "0A")]["frames"] == 4
    request = diag(records, id=0x7DF, data="090A")[0]
    assert request["decoded"] == {"type": "request", "info_type": "0A", "name": "ECU name"}


def test_dtcs_are_decoded(records):
    bcm = [r for r in diag(records, id=0x778) if "dtcs" in r["decoded"]]
    assert bcm and bcm[0]["frames"] == 4
    codes = [d["code"] for d in bcm[0]["decoded"]["dtcs"]]
    assert codes == ["B1603", "B2801", "C167C", "B2211", "C1829"]
    c1812 = diag(records, id=0x7BF)[0]["decoded"]["dtcs"][0]
    assert c1812 == {"code": "C1812", "failure_type": 0x87, "failure": "missing message", "status": 0x28,
                     "status_bits": ["confirmedDTC", "testFailedSinceLastClear"]}
    stored = diag(records, id=0x7EC, data="4300")
    assert stored and stored[0]["service"] == "OBD stored DTCs" and stored[0]["decoded"]["dtcs"] == []


def test_negative_responses_are_named(records):
    named = {r["decoded"]["nrc"]: r["decoded"]["nrc_name"] for r in records
             if r["kind"] == "diag" and r["decoded"]["type"] == "negative_response"}
    assert named["78"] == "requestCorrectlyReceivedResponsePending"
    assert named["21"] == "busyRepeatRequest"
    assert named["11"] == "serviceNotSupported"
    assert named["12"] == "subFunctionNotSupported"
    assert named["31"] == "requestOutOfRange"
    assert named["22"] == "conditionsNotCorrect"
    assert named["7F"] == "serviceNotSupportedInActiveSession"
    pending = diag(records, id=0x7A8)
    assert pending[0]["service"] == "ReadDTCInformation"
    # 0x7A8 said "pending" four times, then answered in four frames
    answer = next(r for r in pending if "dtcs" in r["decoded"])
    assert [d["code"] for d in answer["decoded"]["dtcs"]] == ["B1603", "B1210", "B1211", "B1212", "B1213"]


def test_line_format_says_the_same_readably():
    out = dump("--file", str(DCAN_LOG), "--format", "line")
    lines = out.stdout.splitlines()
    assert any("1 7EC" in x and "ECU name: BECM-B+EnergyCtrl" in x for x in lines)
    assert any("1 7BF" in x and "C1812-87 (missing message) [confirmedDTC, testFailedSinceLastClear]" in x
               for x in lines)
    assert any("0x78 requestCorrectlyReceivedResponsePending" in x for x in lines)
    assert any("!! ISO-TP timeout" in x and " 778 " in x for x in lines)
    assert "flow-control frames: 8" in out.stderr
    assert "incomplete or invalid ISO-TP: 2 (timeout: 2)" in out.stderr


def test_table_format_has_a_row_per_id():
    out = dump("--file", str(DCAN_LOG), "--format", "table").stdout
    rows = {cells[2]: cells for cells in (line.split("│") for line in out.splitlines()) if len(cells) > 5}
    for ident in ("0x7DF", "0x7EC", "0x778", "0x7BF"):
        assert ident in {k.strip() for k in rows}
    by_id = {k.strip(): [c.strip() for c in v] for k, v in rows.items()}
    assert by_id["0x7BF"][3] == "9"  # messages
    assert by_id["0x778"][4] == "1"  # the first frame never continued
    assert by_id["0x7EC"][5].startswith("OBD current data response: supported PIDs 01-20: 01 20")


def test_id_filter_and_count():
    lines = dump("--file", str(DCAN_LOG), "--format", "jsonl", "--id", "0x7ED").stdout.splitlines()
    assert lines and {json.loads(x)["id"] for x in lines} == {0x7ED}
    lines = dump("--file", str(DCAN_LOG), "--format", "jsonl", "--count", "5").stdout.splitlines()
    assert len(lines) == 5
    out = dump("--file", str(DCAN_LOG), "-m", "BMS.*", check=False)
    assert out.returncode == 2 and "--message names DBC messages" in out.stderr


def test_hostile_log_is_survived(tmp_path: Path):
    log = tmp_path / "bad.log"
    lines = [
        "(1.000000) can0 7E8#1FFF620101000000",  # announces 4095 bytes, nothing follows
        "(1.001000) can0 7E8#2700000000000000",  # out of sequence
        "(1.002000) can0 7E8#",  # empty
        "(1.003000) can0 7E8#0F01",  # single frame longer than the frame
        "(1.004000) can0 7E8#4000",  # reserved frame type
        "(1.005000) can0 18DAF110#037F2278",  # 29-bit, pending
        "(1.006000) can0 7E8#not-hex",  # a corrupt line
        "(1.007000) can0 7E8#03410D3C",  # a good one after all that
        "(1.008000) can0 123#0102",  # not diagnostic
    ]
    log.write_text("\n".join(lines) + "\n")
    out = dump("--file", str(log), "--format", "jsonl")
    records = [json.loads(x) for x in out.stdout.splitlines()]
    good = [r for r in records if r["kind"] == "diag"]
    assert [(r["id"], r["extended"], r["service"]) for r in good] == [
        (0x18DAF110, True, "ReadDataByIdentifier"), (0x7E8, False, "OBD current data")]
    assert good[1]["decoded"]["pids"][0]["value"] == 60
    kinds = [r["error"] for r in records if r["kind"] == "diag_error"]
    assert kinds.count("invalid") == 3 and "interrupted" not in kinds
    assert "corrupt lines: 1" in out.stderr


def test_live_from_an_slcan_adapter(tmp_path: Path):
    adapter = SlcanAdapter(tmp_path / "ttyACM0").plug()
    proc = subprocess.Popen(
        evscreen_cmd("can-dump", "--diag", "--interface", "slcan", "--channel", adapter.path,
                     "--option", "sleep_after_open=0", "--format", "jsonl", "--count", "2"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert adapter.opened.wait(30)
        adapter.send(
            slcan_frame(0x7E4, bytes.fromhex("0322010100000000")),
            slcan_frame(0x7EC, bytes.fromhex("1009620101FFF7E7")),
            slcan_frame(0x7E4, bytes.fromhex("3000000000000000")),
            slcan_frame(0x542, bytes.fromhex("0011223344556677")),
            slcan_frame(0x7EC, bytes.fromhex("21FF009AAAAAAAAA")),
        )
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        adapter.unplug()
    assert proc.returncode == 0, err
    request, answer = [json.loads(line) for line in out.splitlines()]
    assert request["decoded"] == {"type": "request", "dids": ["0101"]}
    assert answer["data"] == "620101FFF7E7FF009A" and answer["frames"] == 2
    assert answer["decoded"]["did"] == "0101"


def test_vehicle_profile_fields_are_added(tmp_path: Path):
    from obdhelpers import kona_2101

    answer = kona_2101()
    frames = ["7E4#0322010100000000", f"7EC#10{len(answer):02X}{answer[:6].hex().upper()}", "7E4#3000000000000000"]
    frames += [f"7EC#{(0x21 + i) & 0x2F:02X}{answer[6 + 7 * i:13 + 7 * i].hex().upper()}".ljust(20, "A")
               for i in range(8)]
    log = tmp_path / "kona-bms.log"
    log.write_text("".join(f"({1.0 + i / 100:.6f}) can0 {f}\n" for i, f in enumerate(frames)))
    out = dump("--file", str(log), "--format", "jsonl", "--vehicle", "hyundai-kona-ev")
    records = [json.loads(x) for x in out.stdout.splitlines()]
    request, response = records
    assert "fields" not in request["decoded"]
    fields = response["decoded"]["fields"]
    assert fields["battery_current"] == -123.4 and fields["battery_voltage"] == 380.5
    assert fields["battery_pack.cell_voltage_max"] == 4.0 and fields["battery_pack.cell_voltage_max_id"] == 37
    assert fields["battery_pack.energy_discharged_kwh"] == 11876.5
    line = dump("--file", str(log), "--format", "line", "--vehicle", "hyundai-kona-ev").stdout
    assert "battery_pack.aux_voltage = 12.4" in line
