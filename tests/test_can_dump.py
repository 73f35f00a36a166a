"""`evscreen can-dump` as users run it: a real process, real logs, real DBCs, a live slcan adapter."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from canhelpers import KONA_DBC, KONA_LOG, SlcanAdapter, slcan_frame
from conftest import evscreen_cmd
from evscreen.can.dbc.loader import load_database, load_decoder
from evscreen.can.logs import LogFrame
from evscreen.tools.can_dump.counting import Tally
from evscreen.tools.can_dump.filters import FrameFilter, parse_id_filters
from evscreen.tools.can_dump.options import DumpOptions
from evscreen.tools.can_dump.table import SnifferTable

KONA_DB, _ = load_database(KONA_DBC)
PROJECT_DB, _ = load_database()


def dump(*args: str, check: bool = True, **kw: Any) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(evscreen_cmd("can-dump", *args), capture_output=True, text=True, timeout=60, **kw)
    if check:
        assert out.returncode == 0, out.stderr
    return out


def kona(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return dump("--file", str(KONA_LOG), "--dbc", str(KONA_DBC), *args, **kw)


def test_line_format_matches_cantools() -> None:
    lines = kona("--format", "line", "--bus", "0", "--count", "400").stdout.splitlines()
    assert len(lines) == 400
    for line in lines:
        head, _, decoded = line.partition(" :: ")
        stamp, bus, frame = head.split()
        frame_id, data = frame.split("#")
        assert bus == "0" and stamp.startswith("(") and stamp.endswith(")")
        if decoded == "unknown":
            assert int(frame_id, 16) not in {m.frame_id for m in KONA_DB.messages}
            continue
        expected = KONA_DB.decode_message(int(frame_id, 16), bytes.fromhex(data))
        message = KONA_DB.get_message_by_frame_id(int(frame_id, 16))
        assert decoded.startswith(f"{message.name}(")
        for name, value in expected.items():
            text = str(getattr(value, "name", value))
            assert f"{name}: {text}" in decoded, (name, value, decoded)


def test_jsonl_filters_by_id_list_and_mask() -> None:
    records = [json.loads(x) for x in kona("--format", "jsonl", "--id", "0x450,0x471").stdout.splitlines()]
    assert records and {r["id"] for r in records} == {0x450, 0x471}
    records = [json.loads(x) for x in kona("--format", "jsonl", "--id", "0x500:0x700").stdout.splitlines()]
    assert records and all(0x500 <= r["id"] <= 0x5FF for r in records)
    assert len({r["id"] for r in records}) > 5


def test_message_filter_by_name_and_regex() -> None:
    records = [json.loads(x) for x in kona("--format", "jsonl", "--message", "CGW_450").stdout.splitlines()]
    assert {r["message"] for r in records} == {"CGW_450"}
    records = [json.loads(x) for x in kona("--format", "jsonl", "-m", "CGW_4.*", "-b", "0").stdout.splitlines()]
    assert {r["message"] for r in records} == {"CGW_450", "CGW_45D", "CGW_45E", "CGW_462", "CGW_4FE"}
    assert {r["bus"] for r in records} == {"0"}


def test_no_choices_prints_numbers() -> None:
    named = [json.loads(x) for x in kona("--format", "jsonl", "-m", "CGW_5B3", "-n", "1").stdout.splitlines()]
    raw = [json.loads(x) for x in kona("--format", "jsonl", "-m", "CGW_5B3", "-n", "1", "--no-choices")
           .stdout.splitlines()]
    choices = KONA_DB.get_message_by_name("CGW_5B3").get_signal_by_name("PowerState").choices
    raw_value = raw[0]["signals"]["PowerState"]
    assert isinstance(raw_value, int) and named[0]["signals"]["PowerState"] == str(choices[raw_value])


def test_table_format_on_a_file_shows_one_row_per_id() -> None:
    out = kona("--format", "table", "--bus", "0", env={**os.environ, "COLUMNS": "250"}).stdout
    assert "CGW_450" in out and "0x450" in out and "1386" in out  # count of 0x450 frames
    assert "unknown ID" in out


def test_sniffer_highlights_changed_bytes_and_dims_stale_ids() -> None:
    decoder = load_decoder()
    sniffer = SnifferTable(Tally(decoder, FrameFilter()), DumpOptions(fmt="table"))
    speed = PROJECT_DB.get_message_by_name("VCU_VehicleSpeed")
    sniffer.add(LogFrame(0.0, "0", speed.frame_id, False, bytes(8), 0))
    sniffer.add(LogFrame(0.02, "0", speed.frame_id, False, bytes([0x10, 0x27, 0, 0, 0, 0, 0, 0]), 0))
    sniffer.add(LogFrame(0.03, "0", 0x7AB, False, b"\x01", 0))
    for i in range(1, 100):
        sniffer.add(LogFrame(0.03 + i * 0.1, "0", 0x7AB, False, bytes([i % 256]), 0))
    row = sniffer.rows[("0", speed.frame_id, False)]
    assert row.changed == {0, 1} and row.count == 2 and row.signals["VehicleSpeed"] == 100.0
    table = sniffer.render("t", 200)
    styles = [r.style for r in table.rows]
    # Sorted by bus then ID: 0x0C8 (quiet for ~10 s of frame time: stale) then 0x7AB (live).
    assert styles == ["dim", None]


def test_summary_counts(tmp_path: Path) -> None:
    log = tmp_path / "mixed.log"
    soc = PROJECT_DB.get_message_by_name("BMS_SoC")
    data = soc.encode({"SocDisplay": 50.0, "SocActual": 51.0, "SoH": 99.0, "ChargeState": 0,
                       "AvailableChargePower": 0, "AvailableDischargePower": 0})
    log.write_text(
        f"(1.0) can0 2B0#{data.hex()}\n"
        f"(1.1) can0 2B0#{data[:3].hex()}\n"       # short: SoH needs byte 3
        "(1.2) can0 7AB#01\n"
        "(1.3) can0 7AB#02\n"
        "(1.4) can0 20000004#0000000000000000\n"
        "(1.5) can0 broken\n"
        "(1.6) can1 1A0#0DEC000000000000\n"
    )
    out = dump("--file", str(log), "--format", "line")
    lines = out.stdout.splitlines()
    assert "SocDisplay: 50.0 %" in lines[0] and "SoH: 99.0 %" in lines[0]
    assert "[short: 3 of 8 bytes, missing SoH, ChargeState, AvailableChargePower, AvailableDischargePower]" in lines[1]
    assert lines[2].endswith(":: unknown") and lines[4].endswith(":: error frame")
    assert "PackVoltage: 356.4 V" in lines[5]
    summary = out.stderr
    assert "frames: 6 (bus can0: 5, bus can1: 1), shown: 6" in summary
    assert "unknown IDs: 2 frames in 1 IDs (0x7AB on can0: 2)" in summary
    assert "short payloads: 1 (BMS_SoC: 1)" in summary
    assert "error frames: 1, remote frames: 0, corrupt lines: 1" in summary
    assert "mixed.log:6: corrupt line skipped" in summary


def test_realtime_paces_the_replay(tmp_path: Path) -> None:
    log = tmp_path / "paced.log"
    log.write_text("".join(f"({1.0 + i * 0.1:.6f}) can0 123#{i:02X}\n" for i in range(5)))
    start = time.monotonic()
    out = dump("--file", str(log), "--format", "line", "--realtime")
    assert len(out.stdout.splitlines()) == 5
    assert time.monotonic() - start >= 0.4  # the log spans 0.4 s: it cannot have been replayed faster


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--file", "/nonexistent/drive.log"), "log file not found"),
        (("--file", str(KONA_LOG), "--dbc", "/nonexistent/car.dbc"), "DBC file not found"),
        (("--dbc", "/nonexistent/car.dbc", "--file", "/nonexistent/drive.log"), "DBC file not found"),
    ],
)
def test_missing_files_exit_2_with_one_line(args: tuple[str, ...], message: str) -> None:
    out = dump(*args, check=False)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("error:") and message in out.stderr
    assert out.stdout == ""


def test_broken_dbc_and_unknown_format_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.dbc"
    bad.write_text('VERSION ""\n\nBO_ 1 X: 8 Y\n SG_ a : 0|8@1+ (1,0 [0|1] "" Y\n')
    out = dump("--file", str(KONA_LOG), "--dbc", str(bad), check=False)
    assert out.returncode == 2 and "bad.dbc:4:" in out.stderr and out.stderr.count("\n") == 1
    weird = tmp_path / "notes.txt"
    weird.write_text("shopping list\n")
    out = dump("--file", str(weird), check=False)
    assert out.returncode == 2 and "unknown CAN log format" in out.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--id", "0xZZZ"), "--id: '0xZZZ' is not a hex ID"),
        (("--id", "0x1FFFFFFFF"), "out of range"),
        (("--message", "NoSuchMessage"), "nothing in"),
        (("--message", "(unclosed"), "neither a message"),
        (("--count", "0"), "--count: must be at least 1"),
        (("-i", "virtual"), "--file replays a log"),
    ],
)
def test_bad_arguments(args: tuple[str, ...], message: str) -> None:
    out = kona(*args, check=False)
    assert out.returncode == 2 and message in out.stderr, out.stderr


def test_argument_errors_are_one_line_and_help_is_the_clis() -> None:
    out = dump("--format", "xml", check=False)
    assert out.returncode == 2 and "invalid choice: 'xml'" in out.stderr
    assert out.stderr.startswith("error: ") and out.stderr.count("\n") == 1 and "can-dump --help" in out.stderr
    out = dump("--no-such-option", check=False)
    assert out.returncode == 2 and "unrecognized arguments: --no-such-option" in out.stderr
    out = dump("--help")
    assert "--format" in out.stdout and "--id" in out.stdout and "--realtime" in out.stdout
    # The same layout as every other command's help (click's), not argparse's.
    serve = subprocess.run(evscreen_cmd("serve", "--help"), capture_output=True, text=True, timeout=60).stdout
    assert out.stdout.startswith("Usage: evscreen can-dump [OPTIONS]") and serve.startswith("Usage: evscreen serve")
    assert "\nOptions:\n" in out.stdout and "\nOptions:\n" in serve
    assert "-b, --bus <bus>" in out.stdout and "usage:" not in out.stdout
    assert dump("-n", "1", "-h").stdout == out.stdout


def test_through_the_typer_cli_too() -> None:
    """`evscreen --debug can-dump ...` reaches the same command through the full CLI."""
    out = subprocess.run(evscreen_cmd("--debug", "can-dump", "--file", str(KONA_LOG), "--dbc", str(KONA_DBC), "-n", "3",
                                      "--format", "jsonl"), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and len(out.stdout.splitlines()) == 3
    out = subprocess.run(evscreen_cmd("--help"), capture_output=True, text=True, timeout=60)
    assert "can-dump" in out.stdout


def test_output_to_a_closed_pipe_is_quiet() -> None:
    proc = subprocess.Popen(evscreen_cmd("can-dump", "--file", str(KONA_LOG), "--dbc", str(KONA_DBC), "--format", "line"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and b"Traceback" not in err


def test_live_from_an_slcan_adapter(tmp_path: Path) -> None:
    adapter = SlcanAdapter(tmp_path / "ttyACM0").plug()
    proc = subprocess.Popen(
        evscreen_cmd("can-dump", "-i", "slcan", "--channel", adapter.path, "--bitrate", "250000",
                     "--option", "sleep_after_open=0",
                     "--format", "jsonl", "--count", "3"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert adapter.opened.wait(30)
        assert b"S5" in adapter.commands  # 250 kbit/s
        pack = PROJECT_DB.get_message_by_name("BMS_PackStatus")
        tpms = PROJECT_DB.get_message_by_name("TPMS_TirePressures")
        adapter.send(
            slcan_frame(pack.frame_id, pack.encode({"PackVoltage": 390.0, "PackCurrent": 5.5, "PackPower": 2.14,
                                                    "ContactorState": "Closed", "BMS_Counter": 3, "BMS_Checksum": 0})),
            slcan_frame(0x7AB, b"\x01\x02"),
            slcan_frame(tpms.frame_id, bytes([144, 145, 146, 147, 70, 70, 70, 70]), extended=True),
        )
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        adapter.unplug()
    assert proc.returncode == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["message"] for r in records] == ["BMS_PackStatus", None, "TPMS_TirePressures"]
    assert records[0]["signals"]["PackVoltage"] == 390.0 and records[0]["signals"]["ContactorState"] == "Closed"
    assert records[2]["extended"] is True and records[2]["signals"]["TirePressure_FL"] == 36.0
    assert "frames: 3" in err


def test_live_interface_that_cannot_open_is_one_error() -> None:
    out = dump("-i", "slcan", "--channel", "/nonexistent/ttyUSB9", "--option", "sleep_after_open=0", check=False)
    assert out.returncode == 1 and out.stderr.startswith("error: cannot open CAN interface slcan")
    out = dump("-i", "nosuchbus", "--channel", "x", check=False)
    assert out.returncode == 2 and "--interface: unknown python-can interface 'nosuchbus'" in out.stderr


def test_id_filter_parsing() -> None:
    assert parse_id_filters(["0x542,595", "0x500:0x700"]) == [(0x542, 0x1FFFFFFF), (0x595, 0x1FFFFFFF),
                                                           (0x500, 0x700)]
    flt = FrameFilter(parse_id_filters(["0x500:0x700"]))
    assert flt.accepts(LogFrame(0, "0", 0x5AB, False, b"", 0), None)
    assert not flt.accepts(LogFrame(0, "0", 0x6AB, False, b"", 0), None)


# --- the table on small terminals ------------------------------------------------------------------


def _last_frame_per_row() -> dict[tuple[str, int, bool], dict[str, Any]]:
    last = {}
    for line in kona("--format", "jsonl").stdout.splitlines():
        record = json.loads(line)
        last[(record["bus"], record["id"], record["extended"])] = record
    return last


@pytest.mark.parametrize("columns", [80, 120, None])  # None: piped with no COLUMNS, so rich assumes 80
def test_table_fits_the_terminal_and_cuts_nothing(columns: int | None) -> None:
    from evscreen.tools.can_dump.formatter import (
        SignalFormatter,
        decode_payload,
        id_text,
    )

    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    if columns is not None:
        env["COLUMNS"] = str(columns)
    out = kona("--format", "table", env=env).stdout
    lines = out.splitlines()
    width = columns or 80
    assert max(len(line) for line in lines) <= width, max(lines, key=len)
    assert "…" not in out  # nothing truncated
    words = set(out.split())
    decoder = load_decoder(KONA_DBC)
    rows = _last_frame_per_row()
    assert {bus for bus, _, _ in rows} == {"0", "1"}
    for (_, frame_id, extended), record in rows.items():
        assert id_text(frame_id, extended) in words, (frame_id, out)  # the whole ID, never cut
        message = decoder.find(frame_id, extended)
        if message is None:
            continue
        assert message.name in words
        signals, _, _ = decode_payload(message, bytes.fromhex(record["data"]), True)
        for pair in SignalFormatter(message).items(signals):
            # Wrapped only between "Name: value" pairs; each pair stays on one line.
            assert any(pair in line for line in lines), (pair, width)


def test_narrow_table_rows_still_say_bus_count_and_rate() -> None:
    out = kona("--format", "table", "--id", "0x450", env={**os.environ, "COLUMNS": "80"}).stdout
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("0x450"))
    assert "CGW_450" in lines[at] and "00 C2 05" not in lines[at + 1]
    assert lines[at + 1].split()[:2] == ["0", "1386"] and "/s" in lines[at + 1]


# --- filters that match nothing -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "note"),
    [
        (("--bus", "7"), "no frame is on bus 7 (the log has 2 buses: 0, 1)"),
        (("--bus", "can1"), "no frame is on bus can1 (the log has 2 buses: 0, 1)"),
        (("--id", "0x7FF"), "no frame has an ID matching --id 0x7FF (the log has 66 IDs: 0x010, 0x07F,"),
        (("--bus", "1", "--message", "CGW_450"), "each filter matches some frames, but no frame matches them all together"),
    ],
)
def test_a_filter_that_matches_nothing_says_what_the_log_has(args: tuple[str, ...], note: str) -> None:
    out = kona("--format", "line", *args, check=False)
    assert out.returncode == 1 and out.stdout == ""
    assert f"note: {note}" in out.stderr and "shown: 0" in out.stderr


def test_message_in_the_dbc_but_not_in_the_log_is_named() -> None:
    in_log = {r[1] for r in _last_frame_per_row()}
    absent = next(m.name for m in KONA_DB.messages if m.frame_id not in in_log)
    out = kona("--format", "line", "--message", absent, check=False)
    assert out.returncode == 1 and f"note: no frame of {absent} (the log has " in out.stderr
    assert "CGW_450" in out.stderr  # what the log does have


def test_id_filters_checked_against_the_dbc() -> None:
    out = kona("--format", "line", "--id", "0x7AB", check=False)
    assert "note: --id 0x7AB: no message of" in out.stderr and "its frames show undecoded" in out.stderr
    out = kona("--id", "0x450", "--message", "CGW_462", check=False)
    assert out.returncode == 2 and "match no message of" in out.stderr and out.stderr.count("\n") <= 2


def test_summary_counts_only_what_the_filters_show() -> None:
    everything = kona("--format", "line").stderr
    assert " on 0: " in everything and " on 1: " in everything  # unknown IDs on both buses
    bus1 = kona("--format", "line", "--bus", "1").stderr
    unknown = next(line for line in bus1.splitlines() if line.startswith("unknown IDs:"))
    assert " on 1: " in unknown and " on 0: " not in unknown
    assert "frames: 14294 (bus 0: 8969, bus 1: 5325), shown: 5325" in bus1
    named = kona("--format", "line", "--message", "CGW_450").stderr
    assert "unknown IDs: 0" in named and "decoded: 1386 (bus 0: 1386)" in named


def test_the_config_comes_from_evscreen_config_too(tmp_path: Path) -> None:
    config = tmp_path / "car.toml"
    config.write_text(f"[can]\ndbc = {json.dumps(str(KONA_DBC))}\n")
    out = dump("--file", str(KONA_LOG), "--format", "jsonl", "-n", "1", env={**os.environ, "EVSCREEN_CONFIG": str(config)})
    assert json.loads(out.stdout)["message"] == "CGW_450"


def test_log_formats_option_lists_every_reader() -> None:
    from evscreen.can.logs import FORMATS
    from evscreen.tools.can_dump.options import LOG_FORMATS

    assert LOG_FORMATS == FORMATS
