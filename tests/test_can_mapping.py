"""Telemetry <-> Message.Signal mapping, both ways, and the project DBC's coverage."""

from __future__ import annotations

from typing import Any

import pytest

from evscreen.can.dbc.loader import load_database, load_decoder
from evscreen.can.dbc.mapping import (
    DEFAULT_SIGNALS,
    FEEDBACK_FIELDS,
    build_signal_map,
    mapping_table,
    parse_mapping,
    parse_ref,
    route_values,
)
from evscreen.errors import ConfigError

PROJECT = load_decoder(cache=False)
DB, _ = load_database()

#: What the issue lists as CAN-sourced telemetry; the project DBC must carry each of them.
CAN_FIELDS = (
    "speed", "wheel_speed", "battery_soc", "battery_soh", "battery_voltage", "battery_current", "motor_rpm",
    "motor_temp", "power_kw", "cabin_temp", "range_km", "ambient_temp", "humidity",
    "tire_pressure.front_left", "tire_pressure.front_right", "tire_pressure.rear_left", "tire_pressure.rear_right",
    "battery_cells.block_a", "battery_cells.block_b", "battery_cells.block_c", *FEEDBACK_FIELDS,
)


@pytest.mark.parametrize(
    ("text", "factor", "offset"),
    [
        ("M.S", 1.0, 0.0),
        ("  M.S  ", 1.0, 0.0),
        ("M.S * 0.1", 0.1, 0.0),
        ("M.S*-1", -1.0, 0.0),
        ("M.S / 10", 0.1, 0.0),
        ("M.S * 0.5556 - 17.78", 0.5556, -17.78),
        ("M.S + 40", 1.0, 40.0),
        ("M.S * 1e3", 1000.0, 0.0),
    ],
)
def test_parse_ref(text: str, factor: float, offset: float) -> None:
    ref = parse_ref("speed", text)
    assert (ref.message, ref.signal) == ("M", "S")
    assert ref.factor == pytest.approx(factor) and ref.offset == pytest.approx(offset)
    assert ref.to_signal(ref.to_field(12.5)) == pytest.approx(12.5)


@pytest.mark.parametrize(
    ("field", "text", "error"),
    [
        ("speed", "VehicleSpeed", "expected 'Message.Signal'"),
        ("speed", "M.S * ", "expected 'Message.Signal'"),
        ("speed", "M.S / 0", "cannot divide by zero"),
        ("speed", "M.S * 0", "factor must be a finite non-zero number"),
        ("speed", "M.S; import os", "expected 'Message.Signal'"),
        ("speed", "M.S * 1e999", "factor must be a finite"),
        ("connectivity.can_bus", "M.S", "not a telemetry field"),
        ("settings.drive_mode", "M.S", "not a telemetry field"),
        ("", "M.S", "not a telemetry field"),
    ],
)
def test_bad_entries_name_the_key(field: str, text: str, error: str) -> None:
    with pytest.raises(ConfigError, match=f"can.signals.{field}: .*{error}"):
        parse_ref(field, text)


def test_default_mapping_covers_every_can_field_and_builds() -> None:
    assert set(CAN_FIELDS) <= set(DEFAULT_SIGNALS)
    signal_map = build_signal_map(parse_mapping(DEFAULT_SIGNALS), PROJECT)
    assert set(signal_map.refs) == set(DEFAULT_SIGNALS)


def test_mapping_table_defaults_only_for_the_project_dbc() -> None:
    assert mapping_table({"speed": "A.B"}, project_dbc=False) == {"speed": "A.B"}
    table = mapping_table({"speed": "A.B", "humidity": " "}, project_dbc=True)
    assert table["speed"] == "A.B" and "humidity" not in table and table["range_km"] == DEFAULT_SIGNALS["range_km"]


def telemetry_sample() -> dict[str, Any]:
    return {
        "speed": 87.65, "wheel_speed": 88.1, "battery_soc": 81.3, "battery_soh": 96.5, "battery_voltage": 356.4,
        "battery_current": -42.7, "power_kw": -15.22, "motor_rpm": -1234, "motor_temp": 61, "cabin_temp": 21.5,
        "ambient_temp": -7.5, "humidity": 48, "range_km": 312, "efficiency_score": 7.3, "tire_pressure.front_left": 36.25,
        "tire_pressure.front_right": 36.5, "tire_pressure.rear_left": 35.75, "tire_pressure.rear_right": 35.0,
        "battery_cells.block_a": 27.5, "battery_cells.block_b": 28.0, "battery_cells.block_c": 26.5,
        "feedback.drive_mode": "sport", "feedback.regen_level": "low", "feedback.charge_limit": 90,
        "vehicle.ready": True, "vehicle.charging": True, "vehicle.odometer": 12345.6,
    }


def test_round_trip_telemetry_to_frames_and_back() -> None:
    """What the simulated vehicle will do: telemetry -> signals -> cantools frames -> decoder -> telemetry."""
    signal_map = build_signal_map(parse_mapping(DEFAULT_SIGNALS), PROJECT)
    values = telemetry_sample()
    by_message = signal_map.signal_values(values)
    decoded: dict[str, Any] = {}
    for name, signals in by_message.items():
        message = DB.get_message_by_name(name)
        muxes = sorted({s.multiplexer_ids[0] for s in message.signals if s.multiplexer_ids
                        and s.name in signals}) or [None]
        for mux in muxes:  # one frame per multiplexed group, as the BMS sends them
            full = {s.name: s.offset for s in message.signals if s.multiplexer_ids in (None, [mux])}
            full.update({k: v for k, v in signals.items() if k in full})
            if mux is not None:
                full["BlockIndex"] = mux
            data = message.encode(full)
            route = signal_map.route(message.frame_id, message.is_extended_frame)
            assert route is not None
            route_values(route, route.message.decode(data), decoded)
    assert decoded == values


def test_short_frame_updates_only_what_it_carries() -> None:
    signal_map = build_signal_map(parse_mapping(DEFAULT_SIGNALS), PROJECT)
    route = signal_map.route(0x1A0, False)
    out: dict[str, Any] = {}
    route_values(route, route.message.decode(bytes([0x0D, 0xEC])), out)  # 2 of 8 bytes: voltage only
    assert out == {"battery_voltage": 356.4}


def test_mapping_values_are_rounded_to_the_signal_resolution() -> None:
    signal_map = build_signal_map(parse_mapping({"speed": "VCU_VehicleSpeed.VehicleSpeed * 0.621371"}), PROJECT)
    route = signal_map.route(0xC8, False)
    out: dict[str, Any] = {}
    route_values(route, route.message.decode((10000).to_bytes(2, "little") + bytes(6)), out)
    assert out == {"speed": 62.1371}  # 100 km/h in mph, without float noise


@pytest.mark.parametrize(("raw", "expected"), [(0, False), (1, True), (2, True), (3, True)])
def test_car_state_flags_are_true_when_the_signal_is_not_zero(raw: int, expected: bool) -> None:
    """vehicle.charging from an enumeration (0 Idle, 1 AC, 2 DC...): true or false, never a number."""
    signal_map = build_signal_map(parse_mapping({"vehicle.charging": "BMS_SoC.ChargeState"}), PROJECT)
    message = DB.get_message_by_name("BMS_SoC")
    full = {s.name: s.offset for s in message.signals} | {"ChargeState": raw}
    route = signal_map.route(message.frame_id, False)
    out: dict[str, Any] = {}
    route_values(route, route.message.decode(message.encode(full)), out)
    assert out == {"vehicle.charging": expected} and type(out["vehicle.charging"]) is bool


def test_a_profile_names_its_own_keys_in_errors() -> None:
    with pytest.raises(ConfigError, match=r"^kona.toml: signals.speed: expected 'Message.Signal'"):
        parse_ref("speed", "nope", "kona.toml: signals")
    with pytest.raises(ConfigError, match=r"^kona.toml: signals.speed: no message 'Nope'"):
        build_signal_map([parse_ref("speed", "Nope.X")], PROJECT, "kona.toml: signals")
