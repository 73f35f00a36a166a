"""Vehicle profiles: the format's checks, the built-in profiles, user profiles overriding and extending."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

import evscreen
from conftest import REPO, evscreen_cmd
from evscreen.can.dbc.loader import load_decoder
from evscreen.can.dbc.mapping import DEFAULT_SIGNALS, TARGET_FIELDS
from evscreen.config import load_config
from evscreen.errors import ConfigError, EvscreenError
from evscreen.vehicles.loader import (
    BUILTIN_DIR,
    can_decoding,
    list_profiles,
    load_profile,
    user_profiles_dir,
)
from evscreen.vehicles.profile import CAR_STATES, profile_from_dict

KONA_DATA = REPO / "tests" / "data" / "realdata" / "can" / "kona-ev"


def minimal(**sections: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"buses": {"main": {"dbc": "car.dbc"}}}
    doc.update(sections)
    return doc


def request(**changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "bms", "request_id": 0x7E4, "response_id": 0x7EC, "request": "220101",
        "intervals": {"on": 10}, "fields": [{"target": "battery_soc", "byte": 7, "scale": 0.5}],
    }
    spec.update(changes)
    return spec


def user_profile(name: str, text: str) -> Path:
    folder = user_profiles_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --- the built-in profiles ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["evscreen", "hyundai-kona-ev"])
def test_builtin_profiles_load_and_every_signal_is_in_their_dbc(name: str) -> None:
    profile = load_profile(name)
    assert profile.builtin and profile.buses and profile.signals
    decoder = load_decoder(profile.dbc_path())
    signal_map = can_decoding(load_config(env={}).config, name).signal_map(decoder)
    assert set(signal_map.refs) == {s.field for s in profile.signals}
    for signal in profile.signals:  # each documented: what it is and how sure anyone is
        assert signal.about and signal.confidence in ("confirmed", "likely", "guess"), signal.field
    assert profile.usable_capacity_kwh is not None and profile.usable_capacity_kwh > 10


def test_the_evscreen_profile_is_the_simulators_mapping() -> None:
    """The simulator encodes with DEFAULT_SIGNALS; the profile must read back what it writes."""
    assert load_profile("evscreen").mapping_table() == DEFAULT_SIGNALS


def test_the_kona_profile_maps_what_the_issue_asks_for_and_the_car_state() -> None:
    fields = {s.field for s in load_profile("hyundai-kona-ev").signals}
    assert {"battery_soc", "battery_voltage", "battery_current", "speed", "wheel_speed", "motor_rpm"} <= fields
    assert {"vehicle.ready", "vehicle.charging", "vehicle.odometer"} <= fields


def test_the_kona_dbc_ships_with_its_licence_and_is_the_community_file() -> None:
    assert (BUILTIN_DIR / "LICENSE.dbc-MIT").read_text().startswith("Copyright (c) 2023, Angus Gratton")
    assert (BUILTIN_DIR / "hyundai-kona-ev-pcan.dbc").read_bytes() == (KONA_DATA / "pcan.dbc").read_bytes()


def test_the_wheel_ships_the_profiles_and_dbcs() -> None:
    """hatch packages src/evscreen whole: the data files are inside the package folder, not beside it.

    Checked against the package as imported, so an installed (non-editable) evscreen, as under nox,
    proves the wheel carried them.
    """
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == ["src/evscreen"]
    package = Path(evscreen.__file__).parent
    assert BUILTIN_DIR.is_relative_to(package)
    for profile in (load_profile(n) for n in ("evscreen", "hyundai-kona-ev")):
        dbc = Path(profile.dbc_path())  # type: ignore[arg-type]
        assert dbc.is_relative_to(package) and dbc.is_file()


def test_the_docs_worked_mapping_is_the_profiles() -> None:
    """docs/can.md's Kona block and the built-in profile say the same for every field both map."""
    text = (REPO / "docs" / "can.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- kona-mapping:.*?-->\s*```toml\n(.*?)```", text, re.DOTALL)
    assert block is not None
    documented = tomllib.loads(block.group(1))["can"]["signals"]
    assert documented.items() <= load_profile("hyundai-kona-ev").mapping_table().items()


# --- the format's checks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "error"),
    [
        ({}, r"buses: missing"),
        ({"buses": {}}, r"buses: must name at least one bus"),
        ({"buses": {"Main": {}}}, r"buses.Main: a bus name is"),
        (minimal(vehicle={"nmae": "x"}), r"vehicle.nmae: unknown key \(allowed: name, description"),
        (minimal(car={}), r"car: unknown key \(allowed: vehicle, buses, signals, diagnostics\)"),
        (minimal(vehicle={"usable_capacity_kwh": 0}), (r"vehicle.usable_capacity_kwh: must be a number from 1 to"
                                                      r" 1000, got 0")),
        (minimal(vehicle={"usable_capacity_kwh": "64"}), r"usable_capacity_kwh: must be a number .*got '64'"),
        ({"buses": {"main": {"dbc": 5}}}, r"buses.main.dbc: must be a string, got 5"),
        ({"buses": {"main": {"dbc": "a.dbc", "bitrate": 5}}}, r"buses.main.bitrate: must be an integer from 10000"),
        ({"buses": {"main": {"dbc": "a.dbc", "speed": 5}}}, r"buses.main.speed: unknown key \(allowed: dbc,"),
        ({"buses": {"main": {}}, "signals": {"speed": "A.B"}}, (r"signals: decode with the first bus's DBC, and "
                                                                r"buses.main has no dbc")),
        (minimal(signals={"sped": "A.B"}), r"signals.sped: not a telemetry field"),
        (minimal(signals={"speed": "A"}), r"signals.speed: expected 'Message.Signal'"),
        (minimal(signals={"speed": 3}), r"signals.speed: must be \"Message.Signal"),
        (minimal(signals={"speed": {"about": "x"}}), r"signals.speed: unknown key|signals.speed: a signal table"),
        (minimal(signals={"speed": {"signal": "A.B", "confidence": "sure"}}),
         r"signals.speed.confidence: unknown confidence, got 'sure' \(allowed: confirmed, likely, guess\)"),
        (minimal(diagnostics={"requests": {}}), r"diagnostics.requests: must be an array of tables"),
        (minimal(diagnostics={"poll": []}), r"diagnostics.poll: unknown key \(allowed: requests\)"),
        (minimal(diagnostics={"requests": [request(request="2E0101")]}),
         r"requests\[0\].request: service 0x2E is not a read service; the poller only reads"),
        (minimal(diagnostics={"requests": [request(request="14FFFFFF")]}), r"service 0x14 is not a read service"),
        (minimal(diagnostics={"requests": [request(request="zz")]}), r"requests\[0\].request: must be hex bytes"),
        (minimal(diagnostics={"requests": [request(request="")]}), r"requests\[0\].request: must not be empty"),
        (minimal(diagnostics={"requests": [request(request_id=-1)]}), (r"requests\[0\].request_id: must be an "
                                                                       r"integer from 0 to 536870911, got -1")),
        (minimal(diagnostics={"requests": [request(request_id="0x7E4")]}), r"request_id: must be an integer"),
        (minimal(diagnostics={"requests": [request(request_id=0x800, extended=False)]}),
         r"requests\[0\].request_id: must be an integer from 0 to 2047, got 2048"),
        (minimal(diagnostics={"requests": [request(response_id=0x7E4)]}), r"response_id: must differ"),
        (minimal(diagnostics={"requests": [request(intervals={"on": 0})]}), r"intervals: polls in no car state"),
        (minimal(diagnostics={"requests": [request(intervals={"driving": 5})]}),
         r"intervals.driving: unknown key \(allowed: off, on, charging\)"),
        (minimal(diagnostics={"requests": [request(intervals={"on": 0.01})]}), r"intervals.on: must be 0 .*or at"),
        (minimal(diagnostics={"requests": [request(intervals=None)]}), r"intervals: missing"),
        (minimal(diagnostics={"requests": [request(bus="dcan")]}), (r"requests\[0\].bus: no such bus in this "
                                                                    r"profile, got 'dcan' \(allowed: main\)")),
        (minimal(diagnostics={"requests": [request(), request()]}), r"requests\[1\].name: another request has"),
        (minimal(diagnostics={"requests": [request(fields=[])]}), r"requests\[0\].fields: must be a non-empty"),
        (minimal(diagnostics={"requests": [request(fields=[{"target": "soc", "byte": 1}])]}),
         r"fields\[0\].target: not a telemetry field, got 'soc'"),
        (minimal(diagnostics={"requests": [request(fields=[{"target": "speed", "byte": 1, "length": 9}])]}),
         r"requests\[0\].fields\[0\].length: must be an integer from 1 to 8, got 9"),
        (minimal(diagnostics={"requests": [request(fields=[{"target": "speed"}])]}), r"fields\[0\].byte: missing"),
        (minimal(diagnostics={"requests": [request(response_length=8, fields=[{"target": "speed", "byte": 7,
                                                                               "length": 2}])]}),
         r"fields\[0\].byte: bytes 7-8 lie beyond the response's 8 bytes"),
        (minimal(diagnostics={"requests": [request(fields=[{"target": "speed", "byte": 1, "scale": 0}])]}),
         r"fields\[0\].scale: must not be 0"),
        (minimal(diagnostics={"requests": [request(fields=[{"target": "speed", "byte": 1, "byte_order": "mixed"}])]}),
         r"fields\[0\].byte_order: unknown byte order, got 'mixed' \(allowed: big, little\)"),
        (minimal(diagnostics={"requests": [request(fields=[{"target": "speed", "byte": 1, "signed": 1}])]}),
         r"fields\[0\].signed: must be true or false, got 1"),
        (minimal(diagnostics={"requests": [request(timeout=0)]}), r"requests\[0\].timeout: must be a number"),
        (minimal(diagnostics={"requests": [request(name="BMS 1")]}), r"requests\[0\].name: must be 1-64"),
        (minimal(diagnostics={"requests": [request(color="red")]}), r"requests\[0\].color: unknown key"),
    ],
)
def test_bad_profiles_name_the_file_the_key_and_what_is_allowed(doc: dict[str, Any], error: str) -> None:
    with pytest.raises(ConfigError) as info:
        profile_from_dict(doc, "car", origin="/x/car.toml")
    message = str(info.value)
    assert message.startswith("/x/car.toml: ") and "\n" not in message
    assert re.search(error, message), message


def test_a_good_profile_and_its_diagnostics() -> None:
    doc = minimal(
        vehicle={"name": "My car", "usable_capacity_kwh": 58},
        signals={"tire_pressure": {"front_left": "TPMS.FL * 0.145038"}, "speed": {"signal": "V.Speed", "about": "km/h",
                                                                              "confidence": "guess"},
                 "humidity": ""},
        diagnostics={"requests": [request(request_id=0x18DA44F1, response_id=0x18DAF144, response_length=62,
                                          fields=[{"target": "battery_current", "byte": 13, "length": 2,
                                                   "signed": True, "scale": 0.1},
                                                  {"target": "vehicle.odometer", "byte": 3, "length": 3,
                                                   "byte_order": "little"}])]},
    )
    profile = profile_from_dict(doc, "car", path=Path("/cars/car.toml"))
    assert profile.name == "My car" and profile.usable_capacity_kwh == 58.0
    assert profile.dbc_path() == Path("/cars/car.dbc")
    assert profile.mapping_table() == {"tire_pressure.front_left": "TPMS.FL * 0.145038", "speed": "V.Speed"}
    (req,) = profile.diagnostics
    assert req.extended and req.service == 0x22 and req.bus == "main" and req.timeout == 1.0
    assert dict(req.intervals) == {"off": 0.0, "on": 10.0, "charging": 0.0} and tuple(req.intervals) == CAR_STATES
    current, odometer = req.fields
    response = bytes.fromhex("620101") + bytes([0x10, 0x27, 0, 0]) + bytes(6) + (-123).to_bytes(2, "big", signed=True)
    assert current.decode(response) == pytest.approx(-12.3)
    assert odometer.decode(response) == 10000  # bytes 3-5, 10 27 00, little-endian
    assert current.decode(response[:14]) is None  # too short: unknown, not invented


def test_every_car_state_target_is_a_mapping_target() -> None:
    assert {"vehicle.ready", "vehicle.charging", "vehicle.odometer"} <= TARGET_FIELDS


# --- user profiles ----------------------------------------------------------------------------------


def test_a_user_profile_overrides_the_builtin_of_its_name() -> None:
    path = user_profile("hyundai-kona-ev", f'''
[vehicle]
name = "My Kona"
[buses.pcan]
dbc = "{BUILTIN_DIR / 'hyundai-kona-ev-pcan.dbc'}"
[signals]
speed = "CGW_450.Speed"
''')
    profile = load_profile("hyundai-kona-ev")
    assert not profile.builtin and profile.overrides_builtin and profile.path == path
    assert profile.mapping_table() == {"speed": "CGW_450.Speed"}  # replaced whole: nothing inherited
    listing = {entry.name: entry for entry in list_profiles()}
    assert listing["hyundai-kona-ev"].builtin and listing["hyundai-kona-ev"].user_path == path


def test_a_user_profile_extends_the_builtin_of_its_own_name() -> None:
    user_profile("hyundai-kona-ev", '''
[vehicle]
extends = "hyundai-kona-ev"
usable_capacity_kwh = 39.2
[signals]
motor_rpm = "VCU_291.Speed_signed"
motor_temp = ""
[[diagnostics.requests]]
name = "bms_2105"
request_id = 0x7E4
response_id = 0x7EC
request = "220105"
intervals = { on = 30 }
fields = [{ target = "battery_soh", byte = 28, length = 2, scale = 0.1 }]
''')
    profile = load_profile("hyundai-kona-ev")
    builtin_profile = profile_from_dict(tomllib.loads((BUILTIN_DIR / "hyundai-kona-ev.toml").read_text()),
                                        "hyundai-kona-ev", path=BUILTIN_DIR / "hyundai-kona-ev.toml")
    assert profile.usable_capacity_kwh == 39.2 and profile.name == builtin_profile.name
    table = profile.mapping_table()
    assert table["motor_rpm"] == "VCU_291.Speed_signed" and "motor_temp" not in table
    assert table["battery_soc"] == "BMS_542.SocDisp"  # inherited
    assert profile.dbc_path() == BUILTIN_DIR / "hyundai-kona-ev-pcan.dbc"  # relative to the built-in's folder
    by_name = {r.name: r for r in profile.diagnostics}
    assert list(by_name) == ["bms_2101", "bms_2105"] and by_name["bms_2105"].intervals["on"] == 30


def test_a_new_user_profile_extending_another_with_its_own_dbc(tmp_path: Path) -> None:
    dbc = user_profiles_dir() / "dbc" / "mine.dbc"
    dbc.parent.mkdir(parents=True)
    dbc.write_bytes((BUILTIN_DIR / "hyundai-kona-ev-pcan.dbc").read_bytes())
    user_profile("kia-niro-ev", '''
[vehicle]
name = "Kia e-Niro"
extends = "hyundai-kona-ev"
[buses.pcan]
dbc = "dbc/mine.dbc"
''')
    profile = load_profile("kia-niro-ev")
    assert profile.dbc_path() == dbc and profile.primary.log_bus == "0" and profile.name == "Kia e-Niro"
    names = {entry.name: entry for entry in list_profiles()}
    assert not names["kia-niro-ev"].builtin and names["kia-niro-ev"].error is None


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("[vehicle\n", r"mine.toml: invalid TOML: .*line 1"),
        ("[vehicle]\nextends = \"mine\"\n", r"mine.toml: vehicle.extends: a profile cannot extend itself"),
        ("[vehicle]\nextends = \"nope\"\n", r"mine.toml: vehicle.extends: no vehicle profile 'nope'"),
        ("[buses.main]\ndbc = \"missing.dbc\"\n[signals]\nspeed = \"A.B\"\n", r"missing.dbc: DBC file not found"),
        ("[buses.main]\ndbc = \"../../../../../../../../../etc\"\n", r"is a directory, not a DBC file"),
        ("\x00\x01", r"mine.toml: invalid TOML"),
    ],
)
def test_broken_user_profiles_say_what_is_wrong(text: str, error: str) -> None:
    user_profile("mine", text)
    with pytest.raises(EvscreenError) as info:
        profile = load_profile("mine")
        load_decoder(profile.dbc_path())
    assert re.search(error, str(info.value)), str(info.value)
    entry = {e.name: e for e in list_profiles()}["mine"]
    if "DBC" not in error and "directory" not in error:
        assert entry.error is not None and re.search(error, entry.error)  # listed with its error, not a crash


def test_profiles_extending_each_other_in_a_loop_stop() -> None:
    user_profile("a", '[vehicle]\nextends = "b"\n')
    user_profile("b", '[vehicle]\nextends = "a"\n')
    with pytest.raises(ConfigError, match=r"extend each other more than 8 deep"):
        load_profile("a")


@pytest.mark.parametrize("name", ["Kona", "../etc/passwd", "", "a" * 65, "kona.toml"])
def test_profile_names_are_checked_before_any_file_is_touched(name: str) -> None:
    with pytest.raises(ConfigError, match=r"vehicle.name: .* is not a profile name"):
        load_profile(name)


def test_an_unknown_profile_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"no vehicle profile 'tesla' \(known: evscreen, hyundai-kona-ev, obd2;"):
        load_profile("tesla")


# --- which wins: a profile, [can] dbc, [can.signals] ---------------------------------------------


def test_no_profile_and_no_dbc_is_the_evscreen_profile() -> None:
    decoding = can_decoding(load_config(env={}).config)
    assert decoding.profile is not None and decoding.profile.id == "evscreen"
    assert {r.field: r.text() for r in decoding.refs} == DEFAULT_SIGNALS


def test_a_custom_dbc_without_a_profile_is_the_custom_way() -> None:
    dbc = str(KONA_DATA / "pcan.dbc")
    decoding = can_decoding(load_config(env={}, flags={"can.dbc": dbc, "can.signals": {"speed": "CGW_450.Speed"}})
                            .config)
    assert decoding.profile is None and decoding.dbc == Path(dbc)
    assert [r.field for r in decoding.refs] == ["speed"] and "custom DBC" in decoding.describe()


def test_a_profile_wins_over_can_dbc_and_can_signals_apply_on_top(caplog: pytest.LogCaptureFixture) -> None:
    config = load_config(env={}, flags={"vehicle.name": "hyundai-kona-ev", "can.dbc": "/elsewhere/car.dbc",
                                        "can.signals": {"motor_rpm": "VCU_291.Speed_signed", "range_km": ""}}).config
    decoding = can_decoding(config)
    assert decoding.dbc == BUILTIN_DIR / "hyundai-kona-ev-pcan.dbc"
    fields = {r.field: r.text() for r in decoding.refs}
    assert fields["motor_rpm"] == "VCU_291.Speed_signed" and "range_km" not in fields
    assert "can.dbc (/elsewhere/car.dbc) is ignored: vehicle hyundai-kona-ev brings its own DBC" in caplog.text
    assert decoding.describe().startswith("vehicle hyundai-kona-ev (Hyundai Kona Electric")


def test_a_bad_override_names_can_signals_and_a_bad_profile_entry_names_the_profile() -> None:
    config = load_config(env={}, flags={"vehicle.name": "hyundai-kona-ev",
                                        "can.signals": {"speed": "Nope.Speed"}}).config
    decoding = can_decoding(config)
    with pytest.raises(ConfigError, match=r"^can.signals.speed: no message 'Nope'"):
        decoding.signal_map(load_decoder(decoding.dbc))
    user_profile("broken", f'[buses.main]\ndbc = "{BUILTIN_DIR / "hyundai-kona-ev-pcan.dbc"}"\n'
                           '[signals]\nspeed = "CGW_450.Sped"\n')
    decoding = can_decoding(load_config(env={}, flags={"vehicle.name": "broken"}).config)
    with pytest.raises(ConfigError, match=r"broken.toml: signals.speed: message CGW_450 has no signal 'Sped' "
                                          r"\(did you mean Speed"):
        decoding.signal_map(load_decoder(decoding.dbc))


def test_the_vehicle_config_key_is_checked() -> None:
    with pytest.raises(ConfigError, match=r"\(vehicle.name\): must match .*, got .Kona EV."):
        load_config(env={"EVSCREEN_VEHICLE__NAME": "Kona EV"})
    assert load_config(env={"EVSCREEN_VEHICLE__NAME": "hyundai-kona-ev"}).config.vehicle.name == "hyundai-kona-ev"


# --- the commands ---------------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(evscreen_cmd(*args), capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "COLUMNS": "200"})


def test_evscreen_vehicles_lists_builtin_and_user_profiles_marking_overrides() -> None:
    user_profile("hyundai-kona-ev", '[vehicle]\nextends = "hyundai-kona-ev"\nusable_capacity_kwh = 39.2\n')
    dbc = BUILTIN_DIR / "hyundai-kona-ev-pcan.dbc"
    user_profile("my-van", f'[vehicle]\nname = "My van"\n[buses.main]\ndbc = "{dbc}"'
                           '\n[signals]\nspeed = "CGW_450.Speed"\n')
    out = run_cli("vehicles")
    assert out.returncode == 0, out.stderr
    rows = {line.split("│")[1].strip(): line for line in out.stdout.splitlines() if line.count("│") > 3}
    assert "built-in" in rows["evscreen"] and "evscreen simulated car" in rows["evscreen"]
    assert "user, extends the built-in" in rows["hyundai-kona-ev"] and "39.2" in rows["hyundai-kona-ev"]
    assert "My van" in rows["my-van"] and "user" in rows["my-van"]
    listed = json.loads(run_cli("vehicles", "--json").stdout)
    by_name = {entry["name"]: entry for entry in listed}
    assert by_name["hyundai-kona-ev"]["profile"]["usable_capacity_kwh"] == 39.2
    assert by_name["hyundai-kona-ev"]["profile"]["signals"]["battery_soc"]["signal"] == "BMS_542.SocDisp"


def test_a_broken_user_profile_is_listed_with_its_error_and_exit_code_1() -> None:
    user_profile("broken", "[vehicle]\nusable_capacity_kwh = -5\n[buses.main]\n")
    out = run_cli("vehicles")
    assert out.returncode == 1 and "cannot be loaded" in out.stdout
    assert "hyundai-kona-ev" in out.stdout  # the others are still listed
    listed = {entry["name"]: entry for entry in json.loads(run_cli("vehicles", "--json").stdout)}
    assert listed["broken"]["profile"] is None
    assert listed["broken"]["error"].endswith("broken.toml: vehicle.usable_capacity_kwh: must be a number from 1 to "
                                              "1000, got -5")
    assert listed["evscreen"]["error"] is None
    shown = run_cli("vehicles", "show", "broken")
    assert shown.returncode == 2
    assert shown.stderr.strip().startswith("error:") and "vehicle.usable_capacity_kwh: must be a number" in shown.stderr


def test_evscreen_vehicles_show_prints_every_signal_with_its_confidence() -> None:
    out = run_cli("vehicles", "show", "hyundai-kona-ev")
    assert out.returncode == 0, out.stderr
    profile = load_profile("hyundai-kona-ev")
    for signal in profile.signals:
        line = next(line for line in out.stdout.splitlines() if f" {signal.field} " in line)
        assert signal.ref.text() in line and signal.confidence in line
    assert "bms_2101" in out.stdout and "7E4 → 7EC" in out.stdout and "usable capacity: 64 kWh" in out.stdout
    data = json.loads(run_cli("vehicles", "show", "hyundai-kona-ev", "--json").stdout)
    assert data["diagnostics"][0]["request"] == "220101" and data["buses"][0]["log_bus"] == "0"
    assert run_cli("vehicles", "show", "nope").returncode == 2


def test_simulated_mode_reads_the_simulated_car_whatever_the_vehicle_says() -> None:
    from evscreen.app import build_runtime

    runtime = build_runtime(load_config(env={}, flags={"simulation.mode": "on", "vehicle.name": "hyundai-kona-ev"}))
    can_source = next(s for s in runtime.sources if s.name == "can")
    assert can_source.decoding.profile.id == "evscreen"  # type: ignore[attr-defined]
    assert "vehicle evscreen" in can_source.describe()
