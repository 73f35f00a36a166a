"""The WebSocket server over real sockets: telemetry, every command, bad input, shutdown, restart."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import jsonschema
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from conftest import recv_json, recv_until
from test_protocol import VALID

SCHEMAS = Path(__file__).parent.parent / "docs" / "schema"
TELEMETRY = json.loads((SCHEMAS / "telemetry.json").read_text())
RESPONSE = json.loads((SCHEMAS / "response.json").read_text())
COMMAND = json.loads((SCHEMAS / "command.json").read_text())


def is_response(message):
    return message.get("type") == "response"


def test_telemetry_on_connect_and_on_schedule(live_server):
    server = live_server(**{"server.telemetry_interval": 0.05})
    # The simulated car's values reach the state over its CAN bus a moment after start; a screen
    # connecting from then on gets them in its very first message.
    server.wait_for_values()
    with connect(server.url) as ws:
        first = recv_json(ws, timeout=2)
        assert first["type"] == "telemetry"
        jsonschema.validate(first, TELEMETRY)
        assert first["sources"]["simulation"]["state"] in ("simulated", "starting")
        stamps = [first["timestamp"]]
        for _ in range(10):
            message = recv_json(ws, timeout=2)
            jsonschema.validate(message, TELEMETRY)
            stamps.append(message["timestamp"])
    assert stamps == sorted(stamps) and len(set(stamps)) > 5
    assert first["speed"] is not None and first["battery_soc"] is not None


def test_snapshot_serialized_once_per_tick_for_all_clients(live_server):
    server = live_server()
    with connect(server.url) as a, connect(server.url) as b:
        recv_json(a), recv_json(b)
        ticks = server.runtime.server.ticks
        # Both clients receive the identical text of the same tick.
        ta = a.recv(timeout=2)
        tb = b.recv(timeout=2)
        assert json.loads(ta)["timestamp"] == json.loads(tb)["timestamp"] or server.runtime.server.ticks > ticks + 1


@pytest.mark.parametrize(("message", "value"), VALID)
def test_every_command_round_trip(live_server, message, value):
    server = live_server()
    jsonschema.validate(message, COMMAND)
    with connect(server.url) as ws:
        recv_json(ws)
        ws.send(json.dumps({**message, "request_id": "r1"}))
        response = recv_until(ws, is_response)
        jsonschema.validate(response, RESPONSE)
        assert response["request_id"] == "r1"
        assert response["action"] == message["action"]
        assert response["status"] == "success", response
        telemetry = recv_until(ws, lambda m: m.get("type") == "telemetry")
    from evscreen.protocol import SETTING_OF_ACTION

    setting = SETTING_OF_ACTION.get(message["action"])
    if setting is not None:
        assert telemetry["settings"][setting] == value
    if message["action"] == "set_volume":
        assert telemetry["media"]["volume"] == value
    if message["action"] == "connect_bluetooth":  # the simulated phone is now that device
        assert telemetry["media"]["connected"] is True and telemetry["media"]["device_name"].endswith(value)


def test_media_commands_change_the_simulated_player(live_server):
    server = live_server()
    with connect(server.url) as ws:
        before = recv_json(ws)
        assert before["media"]["is_playing"] is True
        ws.send('{"action": "pause_music"}')
        recv_until(ws, is_response)
        paused = recv_until(ws, lambda m: m.get("type") == "telemetry")
        assert paused["media"]["is_playing"] is False
        ws.send('{"action": "next_track"}')
        recv_until(ws, is_response)
        moved = recv_until(ws, lambda m: m.get("type") == "telemetry")
        assert moved["media"]["track_title"] != before["media"]["track_title"]
        assert moved["media"]["position"] == 0


BAD_INPUTS = [
    ("not json at all", "invalid_json"),
    ("{\"action\": ", "invalid_json"),
    ("[1, 2, 3]", "invalid_message"),
    ("\"play_music\"", "invalid_message"),
    ("{}", "invalid_message"),
    ("{\"action\": 12}", "invalid_message"),
    ("{\"action\": \"launch_rockets\"}", "unknown_action"),
    ("{\"action\": \"set_charge_limit\", \"value\": \"80\"}", "invalid_value"),
    ("{\"action\": \"set_volume\", \"volume\": true}", "invalid_value"),
    ("{\"action\": \"set_brightness\", \"value\": 101}", "invalid_value"),
    ("\u0000\u0001\u0002", "invalid_json"),
    ("{\"action\": \"play_music\"" + "}" * 1000, "invalid_json"),
]


def test_bad_input_gets_errors_and_never_disturbs_another_client(live_server):
    # Unlimited command rate here: this is about answering every message of a burst.
    server = live_server(**{"server.telemetry_interval": 0.05, "server.command_rate": 0.0})
    gaps: list[float] = []
    stop = threading.Event()

    def watcher() -> None:
        with connect(server.url) as ws:
            last = time.monotonic()
            while not stop.is_set():
                recv_json(ws, timeout=5)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

    thread = threading.Thread(target=watcher)
    thread.start()
    try:
        with connect(server.url) as ws:
            recv_json(ws)
            for raw, code in BAD_INPUTS:
                ws.send(raw)
                response = recv_until(ws, is_response)
                jsonschema.validate(response, RESPONSE)
                assert response["status"] == "error" and response["code"] == code, (raw, response)
                if code == "unknown_action":
                    assert response["action"] == "launch_rockets"  # echoed as the client sent it
            ws.send(b"\x00\x01binary")
            response = recv_until(ws, is_response)
            assert response["code"] == "invalid_message"
            # A burst of thousands: every one answered, in order, the connection stays open.
            for i in range(2000):
                ws.send(json.dumps({"action": "set_brightness", "value": i % 101, "request_id": i}))
            ids = []
            while len(ids) < 2000:
                message = recv_json(ws)
                if is_response(message):
                    assert message["status"] == "success"
                    ids.append(message["request_id"])
            assert ids == list(range(2000))
            ws.send('{"action": "play_music", "request_id": "still-alive"}')
            assert recv_until(ws, is_response)["request_id"] == "still-alive"
    finally:
        stop.set()
        thread.join(10)
    assert len(gaps) > 10
    # The other screen kept its rate: no gap anywhere near a second at a 50 ms interval.
    assert max(gaps) < 1.0, max(gaps)


def test_rate_limit_answers_then_disconnects_a_flood(live_server):
    server = live_server(**{"server.command_rate": 5.0, "server.command_burst": 20})
    with connect(server.url) as other, connect(server.url) as flooder:
        recv_json(other), recv_json(flooder)
        for i in range(30):
            flooder.send(json.dumps({"action": "set_brightness", "value": 50, "request_id": i}))
        responses = [recv_until(flooder, is_response) for _ in range(30)]
        assert [r["request_id"] for r in responses] == list(range(30))
        statuses = [r["status"] for r in responses]
        assert statuses[:20] == ["success"] * 20
        limited = [r for r in responses if r["status"] == "error"]
        assert len(limited) >= 8 and all(r["code"] == "rate_limited" and r["action"] == "set_brightness"
                                         for r in limited)
        with pytest.raises(ConnectionClosed) as info:
            for _ in range(500):
                flooder.send('{"action": "play_music"}')
            while True:
                flooder.recv(timeout=5)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1008
        other.send('{"action": "pause_music"}')
        assert recv_until(other, is_response)["status"] == "success"


def test_oversized_frame_closes_with_1009_and_others_continue(live_server):
    server = live_server(**{"server.max_message_size": 1024})
    with connect(server.url) as other, connect(server.url, max_size=None) as abuser:
        recv_json(other), recv_json(abuser)
        abuser.send(json.dumps({"action": "play_music", "pad": "x" * 5000}))
        with pytest.raises(ConnectionClosed) as info:
            while True:
                abuser.recv(timeout=5)
        assert info.value.rcvd.code == 1009
        recv_json(other)
        other.send('{"action": "play_music"}')
        assert recv_until(other, is_response)["status"] == "success"


def test_client_that_stops_reading_only_loses_its_own_snapshots(live_server):
    server = live_server(**{"server.telemetry_interval": 0.02})
    # A raw socket that completes the handshake and then never reads again (a client library would
    # keep draining the socket in the background).
    sleeper = socket.socket()
    sleeper.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sleeper.connect(("127.0.0.1", server.runtime.server.port))
    sleeper.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    assert sleeper.recv(12) == b"HTTP/1.1 101"
    with sleeper, connect(server.url) as reader:
        received = 0
        deadline = time.monotonic() + 4.0
        while time.monotonic() < deadline:
            recv_json(reader)
            received += 1
        clients = list(server.runtime.server.clients)
        stuck = [c for c in clients if c.dropped > 0]
        # The sleeping client skips snapshots instead of queueing them: what waits for it is bounded.
        assert len(stuck) == 1 and stuck[0].dropped > 20
        assert stuck[0].ws.transport.get_write_buffer_size() < 16 * 1024
        # The reader kept its rate (about 200 in 4 s at 50 Hz; never held back by the sleeper).
        assert received > 100


def test_plain_http_gets_404(live_server):
    server = live_server()
    url = server.url.replace("ws://", "http://") + "/nothing-here"
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(url, timeout=5)
    assert info.value.code == 404


def test_sigterm_closes_clients_with_1001_and_exits_0(serve_process):
    server = serve_process("--telemetry-interval", "0.1", "--simulation", "on")
    with connect(server.url) as ws:
        recv_json(ws)
        server.proc.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as info:
            while True:
                ws.recv(timeout=10)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1001
    assert server.proc.wait(timeout=10) == 0
    code, err = server.stop()
    assert code == 0, err
    assert "shutting down" in err and "Traceback" not in err


def test_banner_says_what_runs(serve_process):
    server = serve_process("--simulation", "on")
    code, err = server.stop(signal.SIGINT)
    assert code == 0
    for needle in ("evscreen", "Python", "simulated vehicle", "not a Raspberry Pi", server.url):
        assert needle in err, needle


def test_settings_survive_a_restart(serve_process, port):
    first = serve_process("--simulation", "on")
    with connect(first.url) as ws:
        recv_json(ws)
        for raw in ('{"action": "set_drive_mode", "value": "sport"}', '{"action": "set_charge_limit", "value": 65}',
                    '{"action": "set_theme", "value": true}', '{"action": "set_volume", "volume": 0.3}'):
            ws.send(raw)
            assert recv_until(ws, is_response)["status"] == "success"
    first.stop()
    second = serve_process("--simulation", "on")
    with connect(second.url) as ws:
        settings = recv_json(ws)["settings"]
        volume = recv_json(ws)["media"]["volume"]
    assert settings["drive_mode"] == "sport" and settings["charge_limit"] == 65 and settings["light_theme"] is True
    assert volume == 0.3


def test_port_in_use_is_one_clear_line(serve_process, port):
    serve_process("--simulation", "on")
    import os
    import subprocess

    from conftest import evscreen_cmd

    result = subprocess.run(evscreen_cmd("serve", "--port", str(port)), capture_output=True, text=True, timeout=20,
                            env=os.environ)
    assert result.returncode == 1
    assert "cannot listen" in result.stderr and "--port" in result.stderr and "Traceback" not in result.stderr
