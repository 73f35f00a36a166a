"""Simulated mode through the real path: the car's frames on a virtual bus, decoded by the CAN source."""

from __future__ import annotations

import json
import time
import urllib.request
from collections import Counter, defaultdict
from typing import Any

import can
from websockets.sync.client import connect

from conftest import recv_until
from evscreen.app import build_runtime
from evscreen.can.dbc import PROJECT_DBC
from evscreen.can.dbc.mapping import route_values
from evscreen.config import load_config

CAN_MESSAGES = 12
DIAGNOSTIC_IDS = (0x7DF, 0x7EF)  # the simulated ECUs' diagnostics (the poller's requests, their answers)


def telemetry(message: dict[str, Any]) -> bool:
    return message.get("type") == "telemetry"


def value_at(message: dict[str, Any], path: str) -> Any:
    group, _, name = path.partition(".")
    return message[group][name] if name else message[group]


def drain(bus: Any) -> list[Any]:
    frames = []
    while (msg := bus.recv(0)) is not None:
        frames.append(msg)
    return frames


def test_telemetry_comes_through_the_can_decoder(live_server: Any) -> None:
    rt = live_server(**{"simulation.speed": 2.0, "server.telemetry_interval": 0.05})
    sim, source, obd = rt.runtime.sources
    assert (sim.name, source.name, obd.name) == ("simulation", "can", "obd")
    assert (source.cfg.interface, source.cfg.channel, source.decoder.name) == ("virtual", sim.channel, str(PROJECT_DBC))
    assert not sim.latest_only  # at 2x the bus carries every frame at its cycle time
    # A second listener on the car's bus, as candump would be on a real one: it sees what the source sees.
    tap = can.Bus(interface="virtual", channel=sim.channel)
    try:
        # Every message has been sent twice since the tap opened: whatever the screen gets from now
        # on was decoded from frames the tap has too (the source takes a frame within milliseconds).
        seen: Counter[int] = Counter()
        deadline = time.monotonic() + 20
        while len(seen) < CAN_MESSAGES or min(seen.values()) < 2:
            assert time.monotonic() < deadline, seen
            msg = tap.recv(0.5)
            if msg is not None and not DIAGNOSTIC_IDS[0] <= msg.arbitration_id <= DIAGNOSTIC_IDS[1]:
                seen[msg.arbitration_id] += 1
        with connect(rt.url) as ws:
            messages = [recv_until(ws, telemetry) for _ in range(20)]
        # The poller's requests and the BMS's answers are diagnostics (tests/test_sim_obd.py), not the DBC's.
        frames = [f for f in drain(tap) if not DIAGNOSTIC_IDS[0] <= f.arbitration_id <= DIAGNOSTIC_IDS[1]]
    finally:
        tap.shutdown()

    stats = source.stats
    diagnostic = sum(n for (i, _), n in stats.unknown_ids.items() if DIAGNOSTIC_IDS[0] <= i <= DIAGNOSTIC_IDS[1])
    assert stats.frames > 0 and stats.decoded == stats.frames - diagnostic
    assert (stats.unknown - diagnostic, stats.errors, stats.short, stats.remote) == (0, 0, 0, 0)
    # Every value the screen got for a CAN field is what decoding one of the bus's frames gives.
    decoded: dict[str, set[Any]] = defaultdict(set)
    for frame in frames:
        assert source.decoder.find(frame.arbitration_id, frame.is_extended_id) is not None
        route = source.signal_map.route(frame.arbitration_id, frame.is_extended_id)
        if route is None:  # nothing on the screen comes from it (wheel speeds, energy content)
            continue
        values: dict[str, Any] = {}
        route_values(route, route.decode(bytes(frame.data)), values)
        for field, value in values.items():
            decoded[field].add(value)
    fields = [f for f in source.signal_map.refs if not f.startswith(("feedback.", "vehicle."))]
    assert len(fields) == 21  # the telemetry's CAN fields; the car's state stays beside it, in the state
    assert source.state.get("vehicle.ready") is True and source.state.get("vehicle.charging") is False
    for message in messages:
        assert message["sources"]["simulation"]["state"] == message["sources"]["can"]["state"] == "simulated"
        assert message["connectivity"]["can_bus"] is True
        for field in fields:
            assert value_at(message, field) in decoded[field], (field, value_at(message, field))
        # ...at the bus's resolution (PackVoltage 0.1 V, SocDisplay 0.1 %, tyres 0.25 psi).
        assert abs(message["battery_voltage"] * 10 - round(message["battery_voltage"] * 10)) < 1e-6
        assert abs(message["battery_soc"] * 10 - round(message["battery_soc"] * 10)) < 1e-6
        assert (message["tire_pressure"]["front_left"] * 4).is_integer()
    # GPS and media are the simulator's own (no CAN frame carries them), and they are there too.
    assert messages[-1]["gps"]["latitude"] is not None and messages[-1]["media"]["track_title"]

    with urllib.request.urlopen(rt.url.replace("ws", "http", 1) + "/healthz", timeout=5) as response:
        health = json.loads(response.read())
    assert response.status == 200 and health["status"] == "ok" and health["problems"] == []
    states = {name: info["state"] for name, info in health["sources"].items()}
    assert states.pop("obd") in ("simulated", "starting")  # its first answer may still be on the way
    assert states == {"simulation": "simulated", "can": "simulated"}


def test_screen_settings_come_back_as_the_vehicles_can_feedback(live_server: Any) -> None:
    rt = live_server(**{"simulation.speed": 5.0})
    sim, source, _obd = rt.runtime.sources
    with connect(rt.url) as ws:
        for action, value in (("set_drive_mode", "sport"), ("set_regen_level", "high"), ("set_charge_limit", 95)):
            ws.send(json.dumps({"action": action, "value": value}))
            assert recv_until(ws, lambda m: m.get("type") == "response")["status"] == "success"

    async def feedback() -> dict[str, Any]:
        return dict(source.feedback)

    deadline = time.monotonic() + 10
    while rt.call(feedback()) != {"drive_mode": "sport", "regen_level": "high", "charge_limit": 95}:
        assert time.monotonic() < deadline, rt.call(feedback())
        time.sleep(0.02)


def test_a_fast_simulation_sends_the_latest_frame_of_each_message(live_server: Any) -> None:
    started = time.monotonic()
    rt = live_server(**{"simulation.speed": 50.0})
    sim, source, _obd = rt.runtime.sources
    assert sim.latest_only  # every frame would be 50 x 386 = 19,300 frames/s
    rt.wait_for_values("speed", "battery_cells.block_c", "tire_pressure.rear_right")
    time.sleep(0.5)
    sent, elapsed = sim.frames_sent, time.monotonic() - started
    # At most one frame per message and block at each wake-up (every MIN_WAKE_S = 0.02 s at this speed).
    assert 0 < sent <= (CAN_MESSAGES + 2) * (elapsed / sim.wake_interval() + 2)
    diagnostic = sum(n for (i, _), n in source.stats.unknown_ids.items()
                     if DIAGNOSTIC_IDS[0] <= i <= DIAGNOSTIC_IDS[1])  # the BMS's answers to the poller
    assert source.stats.unknown == diagnostic and source.stats.decoded == source.stats.frames - diagnostic > 0


def test_the_users_can_section_is_for_the_real_car(live_server: Any) -> None:
    user = {"can.enabled": True, "can.interface": "virtual", "can.channel": "user-bus",
            "can.signals": {"speed": "VCU_VehicleSpeed.VehicleSpeed * 0.621371"}}
    rt = live_server(**user)  # simulated mode: the simulator's own bus and mapping, whatever [can] says
    sim, source, _obd = rt.runtime.sources
    assert source.cfg.channel == sim.channel != "user-bus" and source.cfg.signals == {}
    assert source.simulated and "(simulated)" in source.describe()
    # Each runtime has a bus of its own.
    other = build_runtime(load_config(env={}, flags={"simulation.mode": "on"}))
    assert other.sources[0].channel != sim.channel
    # Real mode uses [can] as written and reports real data as live.
    real = build_runtime(load_config(env={}, flags={"simulation.mode": "off", **user}))
    can_source = next(s for s in real.sources if s.name == "can")
    assert (can_source.cfg.channel, can_source.simulated) == ("user-bus", False)
    assert "simulation" not in [s.name for s in real.sources] and "(real)" in can_source.describe()
