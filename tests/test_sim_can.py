"""The simulated car's CAN frames (pure): schedule, counters, checksums, and values that decode back."""

from __future__ import annotations

from collections import defaultdict
from functools import cache
from typing import Any

import pytest

from evscreen.can.dbc.loader import load_decoder
from evscreen.can.dbc.mapping import build_signal_map, mapping_table, parse_mapping, route_values
from evscreen.sim.can_frames import CarBus, Frame, bus_fields, crc8_j1850, drive_frames, heading_change
from evscreen.sim.vehicle import VehicleModel
from evscreen.state import CAR_STATE_PATHS

DECODER = load_decoder()
SIGNAL_MAP = build_signal_map(parse_mapping(mapping_table({}, project_dbc=True)), DECODER)
DURATION_S = 60.0


def new_bus() -> CarBus:
    return CarBus(DECODER.spec, SIGNAL_MAP)


@cache
def drive() -> tuple[Frame, ...]:
    """One minute of the default drive (seed 1): every frame, in order."""
    frames: list[Frame] = []
    for chunk in drive_frames(VehicleModel(1), new_bus(), DURATION_S):
        frames += chunk
    return tuple(frames)


def by_message() -> dict[str, list[tuple[Frame, dict[str, Any]]]]:
    out: dict[str, list[tuple[Frame, dict[str, Any]]]] = defaultdict(list)
    for f in drive():
        decoded = DECODER.decode(f.arbitration_id, f.data, f.is_extended, choices=True)
        assert decoded is not None, f"frame ID {f.arbitration_id:#x} is not in the DBC"
        out[decoded.message.name].append((f, decoded.signals))
    return out


def test_crc8_is_sae_j1850() -> None:
    assert crc8_j1850(b"123456789") == 0x4B  # the catalogued check value of CRC-8/SAE-J1850
    assert crc8_j1850(b"") == 0x00


def test_every_message_at_its_dbc_cycle_time() -> None:
    frames = drive()
    assert [f.timestamp for f in frames] == sorted(f.timestamp for f in frames)
    assert frames[-1].timestamp < DURATION_S
    seen = by_message()
    assert set(seen) == {m.name for m in DECODER.messages}  # the multiplexed and the 29-bit one too
    for message in DECODER.messages:
        stamps = [f.timestamp for f, _ in seen[message.name]]
        cycle = message.cycle_time / 1000
        assert len(stamps) == round(DURATION_S / cycle), message.name
        gaps = {round(b - a, 6) for a, b in zip(stamps, stamps[1:])}
        assert gaps == {cycle}, message.name
    tpms = seen["TPMS_TirePressures"][0][0]
    assert tpms.is_extended and tpms.arbitration_id == 0x18FEF433


def test_blocks_in_turn_and_counters_rolling() -> None:
    seen = by_message()
    blocks = [s["BlockIndex"] for _, s in seen["BMS_BlockStatus"]]
    assert blocks[:6] == ["A", "B", "C", "A", "B", "C"] and blocks.count("C") == len(blocks) // 3
    for _, s in seen["BMS_BlockStatus"]:  # each frame carries its own block's values
        block = s["BlockIndex"]
        assert set(s) == {"BlockIndex", "BlockCounter", f"Block{block}_TempAvg", f"Block{block}_TempMax",
                          f"Block{block}_CellVoltMin", f"Block{block}_CellVoltMax"}
    for message, counter in (("MCU_Motor", "MCU_Counter"), ("VCU_VehicleSpeed", "VCU_Counter"),
                             ("ESC_Status", "ESC_Counter"), ("BMS_PackStatus", "BMS_Counter"),
                             ("BMS_BlockStatus", "BlockCounter")):
        counts = [s[counter] for _, s in seen[message]]
        assert counts == [i % 16 for i in range(len(counts))], message


def test_checksums_are_crc8_of_the_other_bytes() -> None:
    seen = by_message()
    for message, checksum in (("MCU_Motor", "MCU_Checksum"), ("VCU_VehicleSpeed", "VCU_Checksum"),
                              ("BMS_PackStatus", "BMS_Checksum")):
        values = {s[checksum] for _, s in seen[message]}
        assert len(values) > 8, message  # it changes with the payload, as a checksum does
        for frame, signals in seen[message]:
            assert signals[checksum] == frame.data[7] == crc8_j1850(frame.data[:7]), message


def test_every_signal_of_the_dbc_carries_a_value_from_the_model() -> None:
    model = VehicleModel(3)
    for _ in range(300):
        model.step()
    values = new_bus().signal_values(model.outputs())
    for encoder in (s.encoder for s in new_bus().schedules):
        wanted = {n for v in range(len(encoder.variants)) for n in encoder.signal_names(v)}
        generated = {n for n in wanted if n.endswith(("Counter", "Checksum"))} | set(encoder.variants[0])
        assert wanted - generated <= set(values[encoder.name]), encoder.name


@pytest.mark.parametrize(("seconds", "charging"), [(0, False), (45, False), (300, False), (1500, False), (200, True)])
def test_frames_decode_to_the_models_values_at_the_bus_resolution(seconds: int, charging: bool) -> None:
    """The mapping backwards (simulator) then forwards (CAN source) gives each field back within
    half a step of its signal, at any moment of the drive (moving, standing, charging...)."""
    model = VehicleModel(5)
    model.set_drive_mode("sport")
    model.set_regen_level("high")
    if charging:
        model.start_charging()
    for _ in range(seconds * 10):
        model.step()
    assert model.outputs().charging == charging
    bus = new_bus()
    out = model.outputs()
    bus.update(out)
    decoded: dict[str, Any] = {}
    for f in bus.frames_until(1.0):  # every message at least once
        route = SIGNAL_MAP.route(f.arbitration_id, f.is_extended)
        if route is not None:
            route_values(route, route.decode(f.data), decoded)
    expected = {k: v for k, v in bus_fields(out).items() if k in SIGNAL_MAP.refs}
    # The car's state is the ECUs' own signals (ecu_signals), read back through the mapping.
    car_state = {p: decoded.pop(p) for p in CAR_STATE_PATHS}
    assert car_state["vehicle.ready"] is (not out.charging)
    assert car_state["vehicle.charging"] is (out.charging_phase == "charging")
    assert car_state["vehicle.odometer"] == pytest.approx(out.odometer_m / 1000.0, abs=0.05)
    assert set(decoded) == set(expected)
    for field, value in expected.items():
        ref = SIGNAL_MAP.refs[field]
        spec = DECODER.message(ref.message).signals[ref.signal]
        if isinstance(value, str):
            assert decoded[field] == value
            continue
        low = spec["minimum"] * ref.factor + ref.offset
        high = spec["maximum"] * ref.factor + ref.offset
        assert abs(decoded[field] - min(high, max(low, value))) <= abs(spec["scale"] * ref.factor) / 2 + 1e-9, field


def test_latest_only_sends_the_last_frame_of_each_message_and_block() -> None:
    full, thin = new_bus(), new_bus()
    model = VehicleModel(1)
    for bus in (full, thin):
        bus.update(model.outputs())
    everything = full.frames_until(2.5)
    latest = thin.frames_until(2.5, latest_only=True)
    assert len(latest) == len(DECODER.messages) + 2  # BMS_BlockStatus: its three blocks
    keys = [(f.arbitration_id, f.data[0] if f.arbitration_id == 0x2C0 else None) for f in latest]
    assert len(set(keys)) == len(keys)
    last: dict[Any, Frame] = {}
    for f in everything:
        last[(f.arbitration_id, f.data[0] if f.arbitration_id == 0x2C0 else None)] = f
    assert sorted(latest) == sorted(last.values())  # same frames, counters included
    assert thin.frames_until(2.5) == [] and full.frames_until(2.5) == []  # nothing due twice
    assert [s.sent for s in thin.schedules] == [s.sent for s in full.schedules]


def test_heading_change_and_yaw_rate_sign() -> None:
    assert heading_change(350.0, 10.0) == pytest.approx(20.0)
    assert heading_change(10.0, 350.0) == pytest.approx(-20.0)
    yaw = [s["YawRate"] for _, s in by_message()["ESC_Status"]]
    assert any(y != 0 for y in yaw) and all(abs(y) < 60 for y in yaw)  # the road bends, gently
