"""The vehicle state and the telemetry snapshot (pure)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from evscreen.settings import DEFAULT_SETTINGS
from evscreen.state import STATE_PATHS, VehicleState, build_telemetry, telemetry_paths

SCHEMA = json.loads((Path(__file__).parent.parent / "docs" / "schema" / "telemetry.json").read_text())

SEED_FIELDS = [
    "type", "timestamp", "ambient_temp", "humidity", "cabin_temp", "speed", "range_km", "battery_soc",
    "battery_voltage", "battery_current", "battery_soh", "motor_rpm", "motor_temp", "power_kw",
    "efficiency_score", "wheel_speed", "gps", "tire_pressure", "battery_cells", "connectivity", "media", "settings",
]
SEED_GROUPS = {
    "gps": ["latitude", "longitude", "altitude", "satellites", "speed_gps"],
    "tire_pressure": ["front_left", "front_right", "rear_left", "rear_right"],
    "battery_cells": ["block_a", "block_b", "block_c"],
    "connectivity": ["wifi", "bluetooth", "can_bus"],
    "media": ["connected", "device_name", "track_title", "track_artist", "duration", "position", "is_playing"],
    "settings": ["charge_limit", "regen_level", "drive_mode", "brightness", "light_theme", "predictions_on",
                 "twin_mode"],
}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_unknown_values_are_null_and_the_shape_is_exact():
    state = VehicleState()
    message = build_telemetry(state, DEFAULT_SETTINGS, wall_time=0)
    for name in SEED_FIELDS:
        assert name in message
    for group, names in SEED_GROUPS.items():
        for name in names:
            assert name in message[group]
    assert message["speed"] is None and message["gps"]["latitude"] is None
    assert message["settings"]["drive_mode"] == "normal"
    assert message["timestamp"] == "1970-01-01T00:00:00.000Z"
    jsonschema.validate(message, SCHEMA)


def test_values_and_source_states():
    clock = Clock()
    state = VehicleState(clock=clock)
    state.register_source("can", simulated=False, stale_after=2.0)
    state.register_source("sim", simulated=True)
    state.register_source("gps", simulated=False)
    assert state.describe_sources()["can"] == {"state": "starting", "age": None}
    state.update("can", {"speed": 42.5, "tire_pressure.front_left": 36.0})
    state.update("sim", {"media.track_title": "x"})
    clock.now += 1.0
    message = build_telemetry(state, DEFAULT_SETTINGS)
    assert message["speed"] == 42.5 and message["tire_pressure"]["front_left"] == 36.0
    assert message["sources"]["can"] == {"state": "live", "age": 1.0}
    assert message["sources"]["sim"]["state"] == "simulated"
    clock.now += 5.0
    assert state.describe_sources()["can"]["state"] == "stale"
    # Stale keeps the last value: never invented, never dropped.
    assert build_telemetry(state, DEFAULT_SETTINGS)["speed"] == 42.5
    state.set_online("can", False, "bus-off")
    assert state.describe_sources()["can"] == {"state": "offline", "age": 6.0, "detail": "bus-off"}
    state.set_online("gps", False, "no device")
    assert state.describe_sources()["gps"]["state"] == "offline"
    jsonschema.validate(build_telemetry(state, DEFAULT_SETTINGS), SCHEMA)


def test_marked_stale_until_the_next_values_whatever_their_age():
    clock = Clock()
    state = VehicleState(clock=clock)
    state.register_source("dht11", simulated=False, stale_after=60.0)
    state.update("dht11", {"cabin_temp": 21.0})
    version = state.version
    state.mark_stale("dht11", "5 failed reads in a row")
    assert state.version > version  # sinks see the change
    assert state.describe_sources()["dht11"] == {"state": "stale", "age": 0.0, "detail": "5 failed reads in a row"}
    assert state.get("cabin_temp") == 21.0  # kept, marked stale
    clock.now += 1.0
    state.update("dht11", {"cabin_temp": 22.0})
    state.set_online("dht11", True)
    assert state.describe_sources()["dht11"] == {"state": "live", "age": 0.0}
    state.mark_stale("dht11", "again")
    state.touch("dht11")  # data that changed nothing is still fresh data
    assert state.describe_sources()["dht11"]["state"] == "live"
    # A source that is offline stays offline when marked stale: stale means "values kept".
    state.set_online("dht11", False, "unplugged")
    state.mark_stale("dht11", "unplugged")
    assert state.describe_sources()["dht11"]["state"] == "offline"


def test_values_written_without_refreshing_the_source():
    clock = Clock()
    state = VehicleState(clock=clock)
    state.register_source("can", simulated=False, stale_after=2.0)
    state.update("can", {"speed": 50.0, "connectivity.can_bus": True})
    clock.now += 3.0
    state.set_online("can", False, "adapter unplugged")
    version = state.version
    # What the source concludes from silence is written, and its old values stay old.
    state.update("can", {"connectivity.can_bus": False}, refresh=False)
    assert state.get("connectivity.can_bus") is False and state.version > version
    assert state.describe_sources()["can"] == {"state": "offline", "age": 3.0, "detail": "adapter unplugged"}
    state.set_online("can", True)
    state.update("can", {"connectivity.can_bus": False}, refresh=False)
    assert state.describe_sources()["can"]["state"] == "stale"  # not made fresh by the write
    with pytest.raises(KeyError):
        state.update("can", {"warp": 9}, refresh=False)


def test_unknown_paths_are_refused_and_nan_is_null():
    state = VehicleState()
    state.register_source("x", simulated=False)
    with pytest.raises(KeyError):
        state.update("x", {"warp_factor": 9})
    state.update("x", {"speed": float("nan"), "power_kw": float("inf")})
    message = build_telemetry(state, DEFAULT_SETTINGS)
    assert message["speed"] is None and message["power_kw"] is None
    json.dumps(message, allow_nan=False)


def test_paths_cover_the_message():
    message = build_telemetry(VehicleState(), DEFAULT_SETTINGS)
    leaves = set()
    for key, value in message.items():
        if key in ("type", "timestamp", "sources", "predictions"):  # extra keys of evscreen's own
            continue
        if isinstance(value, dict):
            leaves |= {f"{key}.{k}" for k in value}
        else:
            leaves.add(key)
    assert leaves == set(telemetry_paths())
    assert leaves >= STATE_PATHS


def test_protocol_doc_names_every_field_action_and_error_code():
    docs = Path(__file__).parent.parent / "docs"
    text = (docs / "protocol.md").read_text()
    for path in telemetry_paths():
        group, _, name = path.rpartition(".")
        assert f"`{path}`" in text or f"`.{name}`" in text or f", `.{name}`" in text, path
    command = json.loads((docs / "schema" / "command.json").read_text())
    for variant in command["oneOf"]:
        assert f"`{variant['properties']['action']['const']}`" in text
    response = json.loads((docs / "schema" / "response.json").read_text())
    for code in response["oneOf"][1]["properties"]["code"]["enum"]:
        assert f"`{code}`" in text
    from evscreen.protocol import ACTIONS, ErrorCode

    assert {v["properties"]["action"]["const"] for v in command["oneOf"]} == set(ACTIONS)
    assert set(response["oneOf"][1]["properties"]["code"]["enum"]) == {c.value for c in ErrorCode}


def test_predictions_are_an_object_while_predictions_on_and_null_otherwise():
    state = VehicleState()
    assert build_telemetry(state, {**DEFAULT_SETTINGS, "predictions_on": False})["predictions"] is None
    on = {**DEFAULT_SETTINGS, "predictions_on": True}
    assert build_telemetry(state, on)["predictions"] == {
        "range_km": None, "consumption_wh_per_km": None, "minutes_to_charge_limit": None}
    state.predictions = {"range_km": 312.5, "consumption_wh_per_km": 141.0, "minutes_to_charge_limit": None,
                         "not_a_field": 1}
    assert build_telemetry(state, on)["predictions"] == {
        "range_km": 312.5, "consumption_wh_per_km": 141.0, "minutes_to_charge_limit": None}
    assert build_telemetry(state, {**DEFAULT_SETTINGS, "predictions_on": False})["predictions"] is None
