"""The real Kona EV log end to end, checked against an independent reading (csv module + cantools)."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from collections import Counter
from typing import Any

import can
import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from canhelpers import KONA_DBC, KONA_LOG, wait_for
from conftest import REPO, evscreen_cmd
from evscreen.can.dbc.loader import load_database
from evscreen.can.logs import open_log
from evscreen.config import load_config
from evscreen.drivers.can import CanSource
from evscreen.state import VehicleState
from test_can_source import LoopThread

KONA_DB, _ = load_database(KONA_DBC)


def reference_rows() -> list[dict[str, Any]]:
    """The log read with the csv module, each frame decoded by cantools where the DBC knows its ID."""
    rows = []
    with KONA_LOG.open(newline="") as f:
        for rec in csv.DictReader(f):
            length = int(rec["LEN"])
            data = bytes(int(rec[f"D{i + 1}"], 16) for i in range(length))
            frame_id = int(rec["ID"], 16)
            try:
                message = KONA_DB.get_message_by_frame_id(frame_id)
            except KeyError:
                message = None
            rows.append({"bus": rec["Bus"], "id": frame_id, "data": data, "message": message,
                         "timestamp": int(rec["Time Stamp"]) / 1e6})
    return rows


REFERENCE = reference_rows()


def docs_mapping() -> dict[str, Any]:
    text = (REPO / "docs" / "can.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- kona-mapping:.*?-->\s*```toml\n(.*?)```", text, re.S)
    assert block is not None, "docs/can.md lost its Kona mapping block"
    return tomllib.loads(block.group(1))


def test_frames_per_bus_unknown_ids_and_short_payloads() -> None:
    out = subprocess.run(evscreen_cmd("can-dump", "--file", str(KONA_LOG), "--dbc", str(KONA_DBC), "--format", "jsonl"),
                         capture_output=True, text=True, check=True)
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(records) == len(REFERENCE) == 14294

    per_bus = Counter(r["bus"] for r in REFERENCE)
    decoded = Counter(r["bus"] for r in REFERENCE if r["message"] is not None)
    unknown = Counter((r["bus"], r["id"]) for r in REFERENCE if r["message"] is None)
    short = sum(1 for r in REFERENCE if r["message"] is not None and len(r["data"]) < r["message"].length)
    summary = out.stderr
    assert f"frames: {len(REFERENCE)} (bus 0: {per_bus['0']}, bus 1: {per_bus['1']})" in summary
    assert f"decoded: {sum(decoded.values())} (bus 0: {decoded['0']}, bus 1: {decoded['1']})" in summary
    assert f"unknown IDs: {sum(unknown.values())} frames in {len(unknown)} IDs" in summary
    for (bus, frame_id), n in unknown.items():
        assert f"0x{frame_id:03X} on {bus}: {n}" in summary
    assert f"short payloads: {short}\n" in summary  # this recording has none
    assert "corrupt lines: 0" in summary

    # Every frame, every signal: what cantools decodes (value-table names included).
    for ours, ref in zip(records, REFERENCE, strict=True):
        assert (ours["bus"], ours["id"], ours["data"], ours["timestamp"]) == (
            ref["bus"], ref["id"], ref["data"].hex().upper(), ref["timestamp"])
        if ref["message"] is None:
            assert ours["message"] is None and ours["signals"] is None
            continue
        expected = KONA_DB.decode_message(ref["id"], ref["data"], decode_choices=True)
        expected = {k: getattr(v, "name", v) for k, v in expected.items()}
        assert ours["message"] == ref["message"].name and ours["signals"] == expected


def test_bus_filter_keeps_one_bus() -> None:
    out = subprocess.run(evscreen_cmd("can-dump", "--file", str(KONA_LOG), "--dbc", str(KONA_DBC), "--format", "line",
                                      "--bus", "1"), capture_output=True, text=True, check=True)
    lines = out.stdout.splitlines()
    assert len(lines) == sum(1 for r in REFERENCE if r["bus"] == "1")
    assert all(line.split()[1] == "1" for line in lines)


def test_worked_kona_mapping_over_the_real_log() -> None:
    """The docs' mapping, fed the real log through the live path (a virtual bus into the CAN source)."""
    doc = docs_mapping()
    source = CanSource(
        load_config(env={}, flags={"can.enabled": True, "can.interface": "virtual", "can.channel": "kona",
                                   "can.dbc": str(KONA_DBC), "can.signals": doc["can"]["signals"]}).config,
        VehicleState(),
    )
    lt = LoopThread(source)
    tx = can.Bus(interface="virtual", channel="kona")
    try:
        wait_for(lambda: source.bus is not None)
        sent = 0
        for frame in open_log(KONA_LOG):
            if frame.channel == "0":  # the P-CAN bus the DBC describes
                tx.send(can.Message(arbitration_id=frame.arbitration_id, is_extended_id=frame.is_extended,
                                    data=frame.data))
                sent += 1
        wait_for(lambda: source.stats.frames == sent)
        t = wait_for(lambda: (m := lt.telemetry())["speed"] is not None and m)
    finally:
        tx.shutdown()
        lt.stop()
    last_speed = next(KONA_DB.decode_message(r["id"], r["data"])["Speed"] for r in reversed(REFERENCE)
                      if r["bus"] == "0" and r["id"] == 0x450)
    assert t["speed"] == last_speed == 0
    # The car had no key: BMS and inverter frames are not in the log, so those fields stay unknown.
    assert {r["id"] for r in REFERENCE} & {0x542, 0x595, 0x524, 0x386, 0x200} == set()
    for name in ("battery_soc", "battery_voltage", "battery_current", "motor_rpm", "wheel_speed", "range_km"):
        assert t[name] is None, name
    assert t["connectivity"]["can_bus"] is True
    stats = source.stats
    bus0 = [r for r in REFERENCE if r["bus"] == "0"]
    assert stats.decoded == sum(1 for r in bus0 if r["message"] is not None)
    assert stats.unknown == sum(1 for r in bus0 if r["message"] is None)


@pytest.mark.parametrize(("soc", "volts", "amps"), [(77.5, 356.7, -12.3), (4.0, 301.2, 250.0)])
def test_worked_kona_mapping_soc_and_pack_voltage(soc: float, volts: float, amps: float) -> None:
    """The mapping of the signals the keyless log lacks, on frames encoded with the same Kona DBC."""
    doc = docs_mapping()
    source = CanSource(
        load_config(env={}, flags={"can.enabled": True, "can.interface": "virtual", "can.channel": "kona2",
                                   "can.dbc": str(KONA_DBC), "can.signals": doc["can"]["signals"]}).config,
        VehicleState(),
    )
    lt = LoopThread(source)
    tx = can.Bus(interface="virtual", channel="kona2")
    try:
        wait_for(lambda: source.bus is not None)
        for name, values in (("BMS_542", {"SocDisp": soc}), ("Batt_HV_Status", {"VBatt": volts, "IBatt": amps})):
            message = KONA_DB.get_message_by_name(name)
            full = {s.name: 0 for s in message.signals} | values
            tx.send(can.Message(arbitration_id=message.frame_id, is_extended_id=False, data=message.encode(full)))
        t = wait_for(lambda: (m := lt.telemetry())["battery_voltage"] is not None and m)
    finally:
        tx.shutdown()
        lt.stop()
    assert (t["battery_soc"], t["battery_voltage"], t["battery_current"]) == (soc, volts, amps)
