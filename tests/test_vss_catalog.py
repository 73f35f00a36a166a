"""The VSS catalog against the released VSS 5.0 specification, and the docs generated from it."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
import yaml

from conftest import REPO
from evscreen.protocol import (
    ACTIONS,
    DRIVE_MODES,
    REGEN_LEVELS,
    SETTING_OF_ACTION,
    TWIN_MODES,
)
from evscreen.state import telemetry_paths
from evscreen.vss import values
from evscreen.vss.catalog import (
    BY_FIELD,
    BY_PATH,
    CATALOG,
    OVERLAY_BRANCHES,
    OVERLAY_ROOT,
    Names,
    Signal,
)
from evscreen.vss.docs import overlay_vspec, vss_markdown

VSS_DATA = REPO / "tests" / "data" / "vss"

#: Fields other issues add to the telemetry (the BMS poller's battery_pack, the journal's
#: predictions): the catalog carries them already, and they read as unknown until they land.
PLANNED_FIELDS = {
    *(f"battery_pack.{name}" for name in (
        "cell_voltage_min", "cell_voltage_max", "cell_voltage_min_id", "cell_voltage_max_id", "temp_min", "temp_max",
        "aux_voltage", "max_charge_power_kw", "max_discharge_power_kw", "energy_charged_kwh", "energy_discharged_kwh")),
    "predictions.range_km", "predictions.consumption_wh_per_km", "predictions.minutes_to_charge_limit",
}


def leaves(tree: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Path -> node of every leaf of a vss-tools JSON export."""
    found: dict[str, dict[str, Any]] = {}

    def walk(node: dict[str, Any], path: str) -> None:
        for name, child in node.get("children", {}).items():
            child_path = f"{path}.{name}"
            if child["type"] == "branch":
                walk(child, child_path)
            else:
                found[child_path] = child

    for name, root in tree.items():
        walk(root, name)
    return found


@pytest.fixture(scope="module")
def vss() -> dict[str, dict[str, Any]]:
    return leaves(json.loads((VSS_DATA / "vss-5.0.json").read_text()))


@pytest.fixture(scope="module")
def overlay_export() -> dict[str, dict[str, Any]]:
    return leaves(json.loads((VSS_DATA / "evscreen-overlay-5.0.json").read_text()))


def problems(signal: Signal, spec: dict[str, dict[str, Any]]) -> list[str]:
    """What is wrong with a standard row, compared with the specification's node."""
    node = spec.get(signal.path)
    if node is None:
        return [f"{signal.path}: no such leaf in VSS 5.0"]
    found = []
    for name, ours, theirs in (("datatype", signal.datatype, node.get("datatype")),
                               ("unit", signal.unit, node.get("unit")), ("kind", signal.kind, node["type"])):
        if ours != theirs:
            found.append(f"{signal.path}: {name} {ours!r}, VSS 5.0 says {theirs!r}")
    if signal.allowed and not set(signal.allowed) <= set(node.get("allowed", signal.allowed)):
        found.append(f"{signal.path}: allowed {signal.allowed} not all in VSS's {node.get('allowed')}")
    if signal.min is not None and "min" in node and signal.min < node["min"]:
        found.append(f"{signal.path}: min {signal.min} below VSS's {node['min']}")
    if signal.max is not None and "max" in node and signal.max > node["max"]:
        found.append(f"{signal.path}: max {signal.max} above VSS's {node['max']}")
    if signal.settable and node["type"] != "actuator":
        found.append(f"{signal.path}: settable, but VSS makes it a {node['type']}")
    return found


# --- the catalog covers the telemetry --------------------------------------------------------------


def test_every_telemetry_field_has_exactly_one_vss_node():
    fields = [s.field for s in CATALOG]
    assert len(fields) == len(set(fields))
    assert len(BY_PATH) == len(CATALOG), "two fields share a VSS path"
    expected = set(telemetry_paths()) | PLANNED_FIELDS
    assert set(fields) == expected, (sorted(expected - set(fields)), sorted(set(fields) - expected))


def test_every_standard_path_is_in_vss_5_0_with_the_claimed_datatype_unit_and_kind(vss):
    standard = [s for s in CATALOG if s.standard]
    assert len(standard) >= 35
    assert [p for s in standard for p in problems(s, vss)] == []


def test_the_check_catches_a_wrong_row(vss):
    speed = BY_FIELD["speed"]
    assert problems(dataclasses.replace(speed, unit="m/s"), vss) == ["Vehicle.Speed: unit 'm/s', VSS 5.0 says 'km/h'"]
    assert problems(dataclasses.replace(speed, path="Vehicle.Speedo"), vss)
    assert problems(dataclasses.replace(BY_FIELD["motor_rpm"], datatype="uint16"), vss)
    assert problems(dataclasses.replace(speed, action="set_brightness"), vss)  # a set on a VSS sensor
    mode = BY_FIELD["settings.drive_mode"]
    assert problems(dataclasses.replace(mode, conversion=Names((("eco", "ECO"),))), vss)


def test_overlay_rows_are_not_vss_nodes_and_match_what_vss_tools_made_of_the_overlay(vss, overlay_export):
    overlay = [s for s in CATALOG if not s.standard]
    assert overlay and all(s.path.startswith(OVERLAY_ROOT + ".") for s in overlay)
    assert not [s.path for s in overlay if s.path in vss]
    assert set(overlay_export) == {s.path for s in overlay}, "re-export tests/data/vss (see its README)"
    for s in overlay:
        node = overlay_export[s.path]
        assert (node["datatype"], node["type"], node.get("unit"), node["description"]) == (
            s.datatype, s.kind, s.unit, s.description), s.path
        assert node.get("allowed") == (list(s.allowed) if s.allowed else None), s.path
        assert (node.get("min"), node.get("max")) == (s.min, s.max), s.path


def test_the_overlay_names_follow_the_vss_style_guide():
    for s in CATALOG:
        if s.standard:
            continue
        names = s.path.split(".")
        assert all(n[:1].isupper() and n.isalnum() and n.isascii() for n in names), s.path
        if s.datatype == "boolean":
            assert names[-1].startswith("Is"), s.path
    for branch in OVERLAY_BRANCHES:
        assert branch == "Vehicle.Private" or branch.startswith(OVERLAY_ROOT)
    needed = {".".join(s.path.split(".")[:i]) for s in CATALOG if not s.standard
              for i in range(2, len(s.path.split(".")))}
    assert needed == set(OVERLAY_BRANCHES)


# --- actuators reach the seed's commands -------------------------------------------------------------


def test_every_actuator_sets_its_own_field_through_a_seed_command():
    actuators = [s for s in CATALOG if s.settable]
    assert {s.field for s in actuators} == {f"settings.{name}" for name in SETTING_OF_ACTION.values()} | {
        "media.volume", "media.is_playing"}
    for s in actuators:
        assert s.kind == "actuator", s.path
        if s.action is not None:
            assert s.action in ACTIONS, s.path
            if s.field.startswith("settings."):
                assert SETTING_OF_ACTION[s.action] == s.field.removeprefix("settings."), s.path
        for _, action in s.actions or ():
            assert ACTIONS[action].kind == "media" and ACTIONS[action].keys is None
    assert [s for s in CATALOG if not s.settable and s.kind == "actuator"] == []


@pytest.mark.parametrize("field, domain", [("settings.drive_mode", DRIVE_MODES),
                                           ("settings.regen_level", REGEN_LEVELS),
                                           ("settings.twin_mode", TWIN_MODES),
                                           ("settings.light_theme", (True, False)),
                                           ("media.is_playing", (True, False))])
def test_every_value_of_an_enum_has_one_vss_name_and_back(field, domain):
    signal = BY_FIELD[field]
    assert isinstance(signal.conversion, Names)
    names = [values.to_vss(signal, v) for v in domain]
    assert None not in names and len(set(names)) == len(domain)
    assert [values.command_value(signal, values.decode(signal, n)) for n in names] == list(domain)


def test_conversions_follow_vss_units_and_signs():
    assert values.to_vss(BY_FIELD["tire_pressure.front_left"], 35.0) == 241  # 35 psi = 241.3 kPa, uint16
    assert values.to_vss(BY_FIELD["battery_current"], 100.0) == -100.0  # discharging: negative in VSS
    assert values.to_vss(BY_FIELD["power_kw"], 50.0) == -50000.0
    assert values.to_vss(BY_FIELD["power_kw"], -7.2) == 7200.0  # charging: positive in VSS
    assert values.to_vss(BY_FIELD["range_km"], 312.4) == 312400
    assert values.to_vss(BY_FIELD["media.volume"], 0.55) == 55
    assert values.to_vss(BY_FIELD["predictions.minutes_to_charge_limit"], 42.5) == 2550
    assert values.to_vss(BY_FIELD["motor_rpm"], 4321.6) == 4322
    assert values.to_vss(BY_FIELD["speed"], None) is None
    assert values.to_vss(BY_FIELD["range_km"], True) is None  # the wrong type is not a measurement
    assert values.to_vss(BY_FIELD["range_km"], -5.0) is None  # a uint32 cannot hold it
    assert values.command_value(BY_FIELD["media.volume"], 55) == 0.55
    assert values.command_value(BY_FIELD["settings.brightness"], 55.0) == 55
    assert values.command_value(BY_FIELD["settings.brightness"], 55.5) == 55.5  # left for the seed to refuse


def test_values_are_strings_in_viss_form():
    assert values.encode(True) == "true" and values.encode(False) == "false"
    assert values.encode(241) == "241" and values.encode(12.5) == "12.5" and values.encode("SPORT") == "SPORT"
    limit = BY_FIELD["settings.charge_limit"]
    assert values.decode(limit, "80") == 80 and values.decode(limit, "80.0") == 80
    for bad in ("80.5", "256", "-1", "0x50", "80 ", "", "1e400", "NaN", "eighty"):
        with pytest.raises(ValueError):
            values.decode(limit, bad)
    with pytest.raises(ValueError, match="true"):
        values.decode(BY_FIELD["settings.predictions_on"], "True")
    with pytest.raises(ValueError, match="ECONOMY, NORMAL, SPORT"):
        values.decode(BY_FIELD["settings.drive_mode"], "SNOW")


# --- generated documents ---------------------------------------------------------------------------


@pytest.mark.parametrize("name, generate, command", [
    ("vss.md", vss_markdown, "python -m evscreen.vss.docs > docs/vss.md"),
    ("vss-overlay.vspec", overlay_vspec, "python -m evscreen.vss.docs --overlay > docs/vss-overlay.vspec"),
])
def test_generated_documents_match_the_catalog(name, generate, command):
    committed = (REPO / "docs" / name).read_text(encoding="utf-8")
    assert committed == generate(), f"docs/{name} is out of date; regenerate it with\n    {command}"


def test_vss_md_has_one_row_per_field():
    text = vss_markdown()
    for s in CATALOG:
        rows = [line for line in text.splitlines() if line.startswith(f"| `{s.field}` | `{s.path}` |")]
        assert len(rows) == 1, s.field
        assert rows[0].count(" | ") == 7, rows[0]


def test_the_overlay_is_yaml_vss_tools_reads_as_intended():
    document = yaml.safe_load(overlay_vspec())
    for s in CATALOG:
        if not s.standard:
            node = document[s.path]
            assert node["type"] == s.kind and node["datatype"] == s.datatype
            if s.allowed:
                assert node["allowed"] == list(s.allowed)  # strings, not YAML booleans or numbers
