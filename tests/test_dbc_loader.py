"""Lenient DBC loading: real files load with warnings, broken files stop with file and line."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import cantools
import pytest

from canhelpers import KONA_DBC
from evscreen.can.dbc import PROJECT_DBC
from evscreen.can.dbc.loader import load_decoder
from evscreen.errors import DbcError

GOOD = """VERSION ""

NS_ :

BS_:

BU_: ECU

BO_ 256 Status: 8 ECU
 SG_ Speed : 0|16@1+ (0.1,0) [0|6553.5] "km/h" Vector__XXX
 SG_ Mode : 16|2@1+ (1,0) [0|3] "" Vector__XXX

VAL_ 256 Mode 0 "off" 1 "on" ;
"""


def write(tmp_path: Path, text: str, name: str = "car.dbc") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_kona_dbc_is_rejected_by_cantools_but_loads_here(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(cantools.database.UnsupportedDatabaseFormatError):
        cantools.database.load_file(str(KONA_DBC))
    caplog.set_level(logging.WARNING)
    decoder = load_decoder(KONA_DBC, cache=False)
    assert len(decoder.messages) == 107
    assert decoder.warnings == [f"{KONA_DBC}: no BS_: or BU_: line; assumed empty"]
    assert any("no BS_: or BU_:" in r.getMessage() for r in caplog.records)


def test_project_dbc_loads_strictly_without_warnings() -> None:
    cantools.database.load_file(str(PROJECT_DBC), strict=True)
    assert load_decoder(cache=False).warnings == []


def test_unused_val_entries_are_dropped_with_their_line(tmp_path: Path) -> None:
    text = GOOD + 'VAL_ 256 Gone 0 "a" 1 "b" ;\nVAL_ 999 Nothing 0 "x" ;\n'
    decoder = load_decoder(write(tmp_path, text), cache=False)
    assert any(":14: VAL_ for unknown signal 256 Gone" in w for w in decoder.warnings)
    assert any(":15: VAL_ for unknown signal 999 Nothing" in w for w in decoder.warnings)
    assert decoder.message("Status").decode(b"\x10\x00\x01\x00\x00\x00\x00\x00", choices=True) == {
        "Speed": 1.6, "Mode": "on"}


def test_undefined_attribute_is_ignored_with_a_warning(tmp_path: Path) -> None:
    decoder = load_decoder(write(tmp_path, GOOD + 'BA_ "GenMsgCycleTime" BO_ 256 100;\n'), cache=False)
    assert any("'GenMsgCycleTime' is used but never defined" in w for w in decoder.warnings)


def test_overlapping_signals_load_without_strict_checks(tmp_path: Path) -> None:
    text = GOOD.replace(' SG_ Mode : 16|2', ' SG_ Mode : 8|2')
    decoder = load_decoder(write(tmp_path, text), cache=False)
    assert any("without cantools' strict signal checks" in w for w in decoder.warnings)
    assert decoder.message("Status").decode(bytes(8)) == {"Speed": 0.0, "Mode": 0}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD.replace('(1,0) [0|3]', '(1,0 [0|3]'), r"car.dbc:11: Invalid syntax"),
        (GOOD + 'CM_ BO_ 256 "never closed;\n', r"car.dbc:14: Invalid syntax"),
        (GOOD.replace("BO_ 256 Status: 8 ECU", "BO_ 256 Status: eight ECU"), r"car.dbc:9: Invalid syntax"),
        ("this is not a dbc\n", r"car.dbc:1: Invalid syntax"),
        ('VERSION ""\n\nNS_ :\n\nBS_:\n\nBU_:\n', r"car.dbc: defines no messages"),
        ("", r"car.dbc:1: Invalid syntax"),
    ],
)
def test_broken_files_name_file_and_line(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(DbcError, match=expected):
        load_decoder(write(tmp_path, text), cache=False)


def test_missing_unreadable_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(DbcError, match="DBC file not found"):
        load_decoder(tmp_path / "nope.dbc")
    with pytest.raises(DbcError, match="is a directory"):
        load_decoder(tmp_path)
    binary = tmp_path / "photo.dbc"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(DbcError, match=r"photo.dbc:1: not a DBC file \(binary data\)"):
        load_decoder(binary)


def test_cp1252_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "vector.dbc"
    path.write_bytes(GOOD.replace('"km/h"', '"\xb0C"').encode("cp1252"))
    assert load_decoder(path, cache=False).message("Status").unit("Speed") == "°C"


def test_cache_serves_later_runs_without_cantools(tmp_path: Path) -> None:
    """A cached DBC decodes in a fresh process that never imports cantools (fast start-up)."""
    dbc = write(tmp_path, (KONA_DBC.read_text(encoding="utf-8")), "kona.dbc")
    first = load_decoder(dbc)
    code = (
        "import sys; from evscreen.can.dbc.loader import load_decoder; "
        f"d = load_decoder({str(dbc)!r}); "
        "print(d.find(0x542).decode(bytes([0x9B,0,0,0,0,0,0,0]))['SocDisp'], 'cantools' in sys.modules, d.warnings)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split(None, 2)[:2] == ["77.5", "False"]
    assert str(dbc) in out.stdout and "no BS_: or BU_:" in out.stdout  # warnings come back, with this name
    assert first.warnings == [f"{dbc}: no BS_: or BU_: line; assumed empty"]


def test_corrupt_cache_is_ignored(tmp_path: Path, isolated_dirs: Path) -> None:
    dbc = write(tmp_path, GOOD)
    load_decoder(dbc)
    caches = list((isolated_dirs / "cache").rglob("*.marshal"))
    assert len(caches) == 1
    caches[0].write_bytes(b"\x00garbage")
    assert load_decoder(dbc).message("Status").decode(b"\x64\x00\x00" + bytes(5))["Speed"] == 10.0
