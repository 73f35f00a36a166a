"""connect_bluetooth against the simulated phone, over real WebSockets to a running server.

In simulated mode the telemetry shows a connected phone, so connecting another one works too:
the current phone drops, the new one is connected a moment later (in simulated time), and the
response comes once it is, as BlueZ's ``Device1.Connect`` answers on a real car.
"""

from __future__ import annotations

import json
import os
import subprocess

from websockets.sync.client import connect

from conftest import evscreen_cmd, recv_json, recv_until
from evscreen.sim.media import SIMULATED_PHONE_NAME

PHONE = "AA:BB:CC:DD:EE:FF"


def telemetry(predicate):
    return lambda m: m.get("type") == "telemetry" and predicate(m)


def is_response(message):
    return message.get("type") == "response"


def test_connecting_a_phone_answers_once_it_is_connected(live_server):
    rt = live_server(**{"server.telemetry_interval": 0.05})
    with connect(rt.url) as screen, connect(rt.url) as watcher:
        first = recv_json(screen)
        assert first["media"]["connected"] is True and first["media"]["device_name"] == SIMULATED_PHONE_NAME
        recv_json(watcher)
        screen.send(json.dumps({"action": "connect_bluetooth", "device_address": PHONE.lower(), "request_id": "bt"}))
        # Meanwhile, on another screen: the old phone is gone, then the new one is there.
        gone = recv_until(watcher, telemetry(lambda m: m["media"]["connected"] is False))
        assert gone["media"]["device_name"] is None and gone["connectivity"]["bluetooth"] is False
        # ...and the screen that asked sees the same before its answer: the answer waits for the link.
        seen: list[dict] = []
        response = recv_until(screen, lambda m: seen.append(m) or is_response(m), timeout=15)
        assert response == {"type": "response", "action": "connect_bluetooth", "status": "success",
                             "request_id": "bt"}
        assert any(m.get("type") == "telemetry" and m["media"]["connected"] is False for m in seen)
        after = recv_until(screen, telemetry(lambda m: True))
        assert after["media"]["connected"] is True and after["connectivity"]["bluetooth"] is True
        assert after["media"]["device_name"] == f"{SIMULATED_PHONE_NAME} {PHONE}"
        assert after["media"]["track_title"] and after["media"]["is_playing"] is True
        back = recv_until(watcher, telemetry(lambda m: m["media"]["connected"] is True))
        assert back["media"]["device_name"] == f"{SIMULATED_PHONE_NAME} {PHONE}"
        # The new phone obeys the media commands.
        screen.send('{"action": "pause_music"}')
        assert recv_until(screen, is_response)["status"] == "success"
        recv_until(screen, telemetry(lambda m: m["media"]["is_playing"] is False))
        # Connecting the phone already connected is done at once, as BlueZ's AlreadyConnected.
        screen.send(json.dumps({"action": "connect_bluetooth", "device_address": PHONE}))
        assert recv_until(screen, is_response)["status"] == "success"
        assert recv_until(screen, telemetry(lambda m: True))["media"]["connected"] is True


def test_while_a_phone_connects_media_commands_and_a_second_connect_are_answered(live_server):
    rt = live_server(**{"server.telemetry_interval": 0.05, "server.command_rate": 0.0})
    with connect(rt.url) as first, connect(rt.url) as second:
        recv_json(first), recv_json(second)
        first.send(json.dumps({"action": "connect_bluetooth", "device_address": "00:1A:7D:DA:71:13", "request_id": 1}))
        recv_until(second, telemetry(lambda m: m["media"]["connected"] is False))
        # No phone while the link comes up: the same answer as the real Bluetooth source gives.
        second.send('{"action": "next_track", "request_id": "n"}')
        refused = recv_until(second, is_response)
        assert refused["status"] == "error" and refused["code"] == "unavailable"
        assert refused["error"] == "no phone is connected over Bluetooth" and refused["request_id"] == "n"
        # Another phone asked for meanwhile: the first attempt is abandoned, with a reason.
        second.send(json.dumps({"action": "connect_bluetooth", "device_address": "00:1A:7D:DA:71:14", "request_id": 2}))
        abandoned = recv_until(first, is_response)
        assert abandoned["request_id"] == 1 and abandoned["code"] == "unavailable"
        assert abandoned["error"] == "connecting 00:1A:7D:DA:71:13 was abandoned: connecting 00:1A:7D:DA:71:14 instead"
        connected = recv_until(second, is_response, timeout=15)
        assert connected["request_id"] == 2 and connected["status"] == "success"
        shown = recv_until(first, telemetry(lambda m: m["media"]["connected"] is True))
        assert shown["media"]["device_name"] == f"{SIMULATED_PHONE_NAME} 00:1A:7D:DA:71:14"
        # Bad addresses are refused by the protocol and change nothing.
        for bad in ("AA:BB:CC:DD:EE", "not-a-mac", 7, None, "AA:BB:CC:DD:EE:FF; rm -rf /"):
            second.send(json.dumps({"action": "connect_bluetooth", "device_address": bad}))
            response = recv_until(second, is_response)
            assert response["status"] == "error" and response["code"] == "invalid_value", bad
        assert recv_until(second, telemetry(lambda m: True))["media"]["device_name"].endswith("00:1A:7D:DA:71:14")


def test_a_phone_that_does_not_connect_in_time_is_unavailable(live_server):
    # A hundredth of real time: the 2 simulated seconds of a connection take 200 real ones.
    rt = live_server(**{"simulation.speed": 0.01, "bluetooth.connect_timeout": 1.0})
    with connect(rt.url) as ws:
        recv_json(ws)
        ws.send(json.dumps({"action": "connect_bluetooth", "device_address": PHONE}))
        response = recv_until(ws, is_response, timeout=10)
        assert response["status"] == "error" and response["code"] == "unavailable"
        assert response["error"] == f"connecting {PHONE} failed: not connected within 1 s"
        # Given up: no phone connected, none on its way; the screen can try again.
        media = recv_until(ws, telemetry(lambda m: True))["media"]
        assert media["connected"] is False
    assert rt.runtime.sources[0].player.connecting is None


def test_evscreen_send_connects_the_simulated_phone(live_server):
    rt = live_server()
    result = subprocess.run(evscreen_cmd("send", "connect_bluetooth", PHONE, "--url", rt.url, "--json"),
                            capture_output=True, text=True, timeout=30, env=os.environ, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "success"
    with connect(rt.url) as ws:
        media = recv_json(ws)["media"]
    assert media["connected"] is True and media["device_name"] == f"{SIMULATED_PHONE_NAME} {PHONE}"
