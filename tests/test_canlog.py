"""Log readers: python-can's formats and SavvyCAN GVRET, detection, corrupt and hostile input."""

from __future__ import annotations

import logging
from pathlib import Path

import can
import pytest

from canhelpers import KONA_LOG
from evscreen.can.logs import DATA, ERROR, REMOTE, LogFrame, bus_matches, detect_format, open_log
from evscreen.errors import LogFormatError

MESSAGES = [
    can.Message(timestamp=1700000000.125, arbitration_id=0x1A0, is_extended_id=False, data=bytes(range(8)), channel=0),
    can.Message(timestamp=1700000000.250, arbitration_id=0x18FEF433, is_extended_id=True, data=b"\x90\x91", channel=0),
    can.Message(timestamp=1700000000.375, arbitration_id=0x542, is_extended_id=False, data=b"", channel=0),
    can.Message(timestamp=1700000000.500, arbitration_id=0x123, is_extended_id=False, is_remote_frame=True, dlc=4,
                channel=0),
]


@pytest.mark.parametrize(("suffix", "fmt"), [(".log", "candump"), (".asc", "asc"), (".blf", "blf"), (".trc", "trc"),
                                             (".csv", "csv")])
def test_python_can_formats_round_trip(tmp_path: Path, suffix: str, fmt: str) -> None:
    path = tmp_path / f"drive{suffix}"
    # python-can's TRC writer cannot write remote frames (it warns and drops them).
    messages = [m for m in MESSAGES if not (fmt == "trc" and m.is_remote_frame)]
    with can.Logger(str(path)) as writer:
        for msg in messages:
            writer.on_message_received(msg)
    assert detect_format(path) == fmt
    reader = open_log(path)
    frames = list(reader)
    assert reader.corrupt == 0
    assert [(f.arbitration_id, f.is_extended, f.kind) for f in frames] == [
        (m.arbitration_id, m.is_extended_id, REMOTE if m.is_remote_frame else DATA) for m in messages]
    assert [f.data for f in frames if f.kind == DATA] == [bytes(m.data) for m in messages if not m.is_remote_frame]
    if fmt in ("candump", "csv", "blf"):  # formats that keep absolute times
        assert [f.timestamp for f in frames] == pytest.approx([m.timestamp for m in messages])


def test_same_content_detected_whatever_the_name(tmp_path: Path) -> None:
    path = tmp_path / "capture.txt"
    path.write_text("(1.000000) can0 123#DEADBEEF\n")
    assert detect_format(path) == "candump"
    gvret = tmp_path / "capture.log"
    gvret.write_text("Time Stamp,ID,Extended,Bus,LEN,D1,D2\n1000,00000123,false,0,2,01,02\n")
    assert detect_format(gvret) == "gvret"
    assert list(open_log(gvret)) == [LogFrame(0.001, "0", 0x123, False, b"\x01\x02", DATA)]


def test_real_gvret_log() -> None:
    reader = open_log(KONA_LOG)
    assert reader.format == "gvret"
    frames = list(reader)
    assert len(frames) == 14294 and reader.corrupt == 0
    assert frames[0] == LogFrame(303.0043, "0", 0x450, False, bytes.fromhex("00C205"), DATA)
    assert {f.channel for f in frames} == {"0", "1"}


def test_candump_special_frames(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    path.write_text(
        "(10.5) can0 20000080#0000000000000000\n"  # error frame (CAN_ERR_FLAG)
        "(10.6) can0 7DF#R\n"                      # remote request
        "(10.7) can1 123##1DEADBEEF\n"             # CAN FD, flags nibble 1
        "(10.8) vcan0 1FFFFFFF#00 R\n"             # extended, with a direction flag
        "\n# a comment\n"
    )
    frames = list(open_log(path))
    assert [(f.kind, f.arbitration_id, f.is_extended, f.data) for f in frames] == [
        (ERROR, 0x80, False, bytes(8)), (REMOTE, 0x7DF, False, b""), (DATA, 0x123, False, bytes.fromhex("DEADBEEF")),
        (DATA, 0x1FFFFFFF, True, b"\x00")]


def test_corrupt_candump_lines_are_counted_and_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "bad.log"
    path.write_text(
        "(1.0) can0 100#00\n"
        "(1.1) can0 100#0\n"           # odd number of hex digits
        "(1.2) can0 GGG#00\n"          # not hex
        "garbage\n"
        "(1.3) can0 800#00\n"          # 11-bit ID above 0x7FF
        "(x.y) can0 100#00\n"          # bad timestamp
        "(1.4) can0 100#" + "00" * 65 + "\n"  # more than 64 bytes
        "\x00\x01\x02\n"
        "(1.5) can0 101#01\n"
    )
    caplog.set_level(logging.WARNING)
    reader = open_log(path)
    frames = list(reader)
    assert [f.arbitration_id for f in frames] == [0x100, 0x101]
    assert reader.corrupt == 7
    lines = sorted(int(r.getMessage().split(":")[1]) for r in caplog.records if "corrupt line" in r.getMessage())
    assert lines == [2, 3, 4, 5, 6, 7, 8]


def test_corrupt_gvret_lines(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "Time Stamp,ID,Extended,Bus,LEN,D1,D2,D3,D4,D5,D6,D7,D8\n"
        "1000,00000123,false,0,2,01,02\n"
        "1001,00000123,false,0,3,01,02\n"       # LEN says 3, 2 bytes given
        "1002,00000123,maybe,0,1,01\n"          # bad Extended
        "1003,00000923,false,0,1,01\n"          # 11-bit ID too large
        "1004,00000123,false,0,1,ZZ\n"          # not hex
        "abc,00000123,false,0,1,01\n"           # bad time stamp
        "1005,00000123,false,0,1,01,02\n"       # more data than LEN
        "1006,18FEF433,true,1,1,7F,,,\n"         # trailing empty fields are fine
    )
    caplog.set_level(logging.WARNING)
    reader = open_log(path)
    frames = list(reader)
    assert [(f.arbitration_id, f.channel, f.data) for f in frames] == [(0x123, "0", b"\x01\x02"),
                                                                       (0x18FEF433, "1", b"\x7f")]
    assert reader.corrupt == 6
    assert "bad.csv:3: corrupt line skipped" in caplog.text and "bad.csv:8: corrupt line skipped" in caplog.text


def test_corrupt_python_can_csv(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text(
        "timestamp,arbitration_id,extended,remote,error,dlc,data\n"
        "1.0,0x123,0,0,0,2,AQI=\n"
        "1.1,0x123,0,0,0,2,!!!\n"
        "1.2,0x123,2,0,0,2,AQI=\n"
        "1.3,0x923,0,0,0,2,AQI=\n"
        "1.4,0x123,0,0\n"
    )
    reader = open_log(path)
    assert [f.data for f in reader] == [b"\x01\x02"] and reader.corrupt == 4


def test_many_corrupt_lines_warn_a_bounded_number_of_times(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "noise.log"
    path.write_text("(1.0) can0 zz#00\n" * 500)
    caplog.set_level(logging.WARNING)
    reader = open_log(path)
    assert list(reader) == [] and reader.corrupt == 500
    assert len(caplog.records) <= 21


def test_truncated_blf_stops_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "cut.blf"
    with can.Logger(str(path)) as writer:
        for i in range(200):
            writer.on_message_received(can.Message(timestamp=1.0 + i, arbitration_id=i, data=bytes(8),
                                                   is_extended_id=False))
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2] + b"\xff" * 64)
    caplog.set_level(logging.WARNING)
    reader = open_log(path)
    frames = list(reader)  # python-can's exception does not escape
    assert len(frames) < 200
    assert reader.corrupt == 1 and reader.stopped_early
    assert f"cut.blf: corrupt data after frame {len(frames)}, rest of the file skipped" in caplog.text


@pytest.mark.parametrize(
    ("name", "content", "error"),
    [
        ("notes.txt", b"hello\nworld\n", "unknown CAN log format"),
        ("data.csv", b"a,b,c\n1,2,3\n", "unknown CAN log format"),
        ("blob.bin", bytes(range(256)) * 4, "unknown CAN log format"),
        ("empty.log", b"", None),
        ("empty.xyz", b"", "unknown CAN log format"),
    ],
)
def test_unknown_formats(tmp_path: Path, name: str, content: bytes, error: str | None) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    if error is None:
        assert list(open_log(path)) == []  # an empty candump log is an empty log
        return
    with pytest.raises(LogFormatError, match=error):
        open_log(path)


def test_missing_and_directory(tmp_path: Path) -> None:
    with pytest.raises(LogFormatError, match="log file not found"):
        open_log(tmp_path / "nope.log")
    with pytest.raises(LogFormatError, match="is a directory"):
        open_log(tmp_path)


def test_bus_matching() -> None:
    assert bus_matches("1", "1") and bus_matches("can1", "1") and bus_matches("vcan1", "1")
    assert not bus_matches("can11", "1") and not bus_matches("can1", "can0") and bus_matches("can0", "can0")
