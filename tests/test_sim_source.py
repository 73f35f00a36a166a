"""The simulated vehicle as a source of the running server: settings in, telemetry out."""

from __future__ import annotations

import json
import subprocess

import pytest
from websockets.sync.client import connect

from conftest import evscreen_cmd, recv_json, recv_until
from evscreen.app import SETTINGS_FILE
from evscreen.config import data_dir, load_config
from evscreen.drivers.simulated import SimulatedVehicle
from evscreen.settings import SettingsStore
from evscreen.state import STATE_PATHS, VehicleState, build_telemetry


def make_source(**flags: object) -> SimulatedVehicle:
    return SimulatedVehicle(load_config(env={}, flags={"simulation.mode": "on", **flags}).config, VehicleState())


def test_simulator_writes_directly_only_what_a_car_has_no_can_frame_for() -> None:
    source = make_source()
    source.step(100)
    source.publish()
    values = source.state.values()
    direct = ({p for p in STATE_PATHS if p.startswith(("gps.", "media."))}
              | {"connectivity.wifi", "connectivity.bluetooth"})
    assert set(values) == direct  # GPS, the phone's player and the head unit's own links
    message = build_telemetry(source.state, {})
    assert message["sources"]["simulation"]["state"] == "simulated"
    assert message["media"]["track_title"] and message["gps"]["satellites"] >= 6
    assert message["speed"] is None and message["connectivity"]["can_bus"] is None  # those come over CAN
    # ...where the mapping carries every other path the screen shows (can_bus is the CAN source's own),
    # and the BMS's answers to the diagnostics poller the battery pack's details.
    polled = {p for p in STATE_PATHS if p.startswith("battery_pack.")}
    assert set(source.car_bus.signal_map.refs) | direct | polled | {"connectivity.can_bus"} >= STATE_PATHS


def test_seed_and_config_reach_the_model() -> None:
    a, b, c = make_source(**{"simulation.seed": 7}), make_source(**{"simulation.seed": 7}), make_source()
    for s in (a, b, c):
        s.step(600)
    assert a.model.telemetry() == b.model.telemetry() != c.model.telemetry()
    assert a.player.telemetry() == b.player.telemetry()
    d = make_source(**{"simulation.charge_every": 0, "simulation.cabin_set_point": 18.5})
    assert d.model.itinerary.charge_every == 0 and d.model.cabin_set_point == 18.5
    assert "seed 1" in c.describe() and "UDDS + HWFET" in c.describe()
    assert "20x real time" in make_source(**{"simulation.speed": 20.0}).describe()


def test_settings_reach_the_model_and_bad_ones_change_nothing() -> None:
    source = make_source()
    source.on_setting("drive_mode", "eco")
    source.on_setting("regen_level", "high")
    source.on_setting("charge_limit", 95)
    source.on_setting("volume", 0.2)
    source.on_setting("brightness", 10)  # not the car's business
    model = source.model
    assert (model.drive_mode, model.regen_level, model.charge_limit, source.player.volume) == ("eco", "high", 95, 0.2)
    for name, bad in (("drive_mode", "warp"), ("regen_level", ""), ("charge_limit", 500), ("volume", -1),
                      ("charge_limit", "80; rm -rf /"), ("drive_mode", {"$ne": 1})):
        with pytest.raises(ValueError):
            source.on_setting(name, bad)
    assert (model.drive_mode, model.regen_level, model.charge_limit, source.player.volume) == ("eco", "high", 95, 0.2)


def test_wake_interval_stays_sane_at_every_speed() -> None:
    for speed, expected in ((0.01, 0.1), (1.0, 0.1), (2.0, 0.05), (20.0, 0.02), (1000.0, 0.02)):
        assert make_source(**{"simulation.speed": speed}).wake_interval() == pytest.approx(expected)


def test_persisted_settings_apply_before_the_first_step(live_server) -> None:
    store = SettingsStore(data_dir() / SETTINGS_FILE)
    store.set("drive_mode", "sport")
    store.set("charge_limit", 65)
    assert store.flush()
    rt = live_server()
    model = rt.runtime.sources[0].model
    assert (model.drive_mode, model.charge_limit) == ("sport", 65)


def test_screen_commands_drive_the_simulated_car(live_server) -> None:
    rt = live_server(**{"simulation.speed": 5.0})
    source = rt.runtime.sources[0]
    with connect(rt.url) as ws:
        first = recv_json(ws)
        assert first["type"] == "telemetry"
        for command in ({"action": "set_drive_mode", "value": "eco"}, {"action": "set_regen_level", "value": "off"},
                        {"action": "set_charge_limit", "value": 90}, {"action": "set_volume", "volume": 0.3},
                        {"action": "pause_music"}, {"action": "next_track"}):
            ws.send(json.dumps(command))
            reply = recv_until(ws, lambda m: m.get("type") == "response")
            assert reply["status"] == "success", reply
        model = source.model
        assert (model.drive_mode, model.regen_level, model.charge_limit) == ("eco", "off", 90)
        assert source.player.volume == 0.3
        title = first["media"]["track_title"]
        msg = recv_until(ws, lambda m: m.get("type") == "telemetry" and m["media"]["is_playing"] is False)
        assert msg["media"]["track_title"] != title and msg["media"]["position"] == 0.0
        assert msg["settings"]["drive_mode"] == "eco" and msg["media"]["volume"] == 0.3
        # A value the car cannot take is refused by the protocol before it reaches the model.
        ws.send(json.dumps({"action": "set_drive_mode", "value": "warp"}))
        reply = recv_until(ws, lambda m: m.get("type") == "response")
        assert reply["status"] == "error" and reply["code"] == "invalid_value"
        assert model.drive_mode == "eco"


def test_serve_with_sim_speed_shows_the_car_moving(serve_process) -> None:
    server = serve_process("--simulation", "on", "--sim-speed", "20", "--telemetry-interval", "0.2")
    with connect(server.url) as ws:
        # The car's values arrive over its CAN bus a moment after start.
        first = recv_until(ws, lambda m: m.get("type") == "telemetry" and m["battery_soc"] is not None)
        assert first["sources"]["simulation"]["state"] in ("simulated", "starting")
        soc0 = first["battery_soc"]
        speeds: set[float] = set()

        def moved(message: dict) -> bool:
            if message.get("type") != "telemetry":
                return False
            speeds.add(message["speed"])
            return len(speeds) >= 5 and max(speeds) > 10.0 and message["battery_soc"] < soc0

        last = recv_until(ws, moved, timeout=60.0)  # ~10 s of real time at 20x; generous for a busy CI
    assert last["sources"]["simulation"]["state"] == "simulated"
    assert last["motor_rpm"] is not None and last["gps"]["latitude"] != first["gps"]["latitude"]
    code, err = server.stop()
    assert code == 0, err
    assert "20x real time" in err


@pytest.mark.parametrize("value", ["0", "5000", "nan", "fast"])
def test_serve_refuses_a_bad_sim_speed(value: str) -> None:
    proc = subprocess.run(evscreen_cmd("serve", "--sim-speed", value), capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "sim-speed" in proc.stderr or "simulation.speed" in proc.stderr
    assert "Traceback" not in proc.stderr
