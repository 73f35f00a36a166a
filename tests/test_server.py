"""The WebSocket server over real sockets: telemetry, every command, bad input, shutdown, restart."""

from __future__ import annotations

import json
import logging
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import jsonschema
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from conftest import RuntimeThread, recv_json, recv_until, wait_for
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
        first = recv_json(ws)
        assert first["type"] == "telemetry"
        jsonschema.validate(first, TELEMETRY)
        assert first["sources"]["simulation"]["state"] in ("simulated", "starting")
        stamps = [first["timestamp"]]
        for _ in range(10):
            message = recv_json(ws)
            jsonschema.validate(message, TELEMETRY)
            stamps.append(message["timestamp"])
    assert stamps == sorted(stamps) and len(set(stamps)) > 5
    assert first["speed"] is not None and first["battery_soc"] is not None


def test_snapshot_serialized_once_per_tick_for_all_clients(live_server, monkeypatch):
    from evscreen.server import websocket

    server = live_server()
    serialized = [0]
    real_dumps = websocket.dumps

    def counting_dumps(message):
        serialized[0] += 1
        return real_dumps(message)

    monkeypatch.setattr(websocket, "dumps", counting_dumps)
    with connect(server.url) as a, connect(server.url) as b:
        recv_json(a), recv_json(b)
        clients = [wait_for(lambda ws=ws: server.client_of(ws), what="the client registered") for ws in (a, b)]
        # From here no command and no connection: every serialization is a tick's.
        ticks0, serialized0 = server.on_loop(lambda: (server.runtime.server.ticks, serialized[0]))
        compared = 0
        while compared < 5:
            tb = b.recv(timeout=5)
            stamp = json.loads(tb)["timestamp"]
            # a, connected first, got every tick that b got: the same tick's text is identical.
            while json.loads(ta := a.recv(timeout=5))["timestamp"] != stamp:
                pass
            assert ta == tb
            compared += 1
        ticks1, serialized1 = server.on_loop(lambda: (server.runtime.server.ticks, serialized[0]))
    assert ticks1 - ticks0 >= compared and serialized1 - serialized0 == ticks1 - ticks0  # once per tick
    assert [c.dropped for c in clients] == [0, 0]


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
        # The first message may come before the simulated car's first step: wait for its player.
        before = recv_until(ws, lambda m: m.get("type") == "telemetry" and m["media"]["is_playing"] is not None)
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
    received: list[str] = []
    stop = threading.Event()

    def watch(ws) -> None:  # the other screen, reading as a screen does
        while not stop.is_set():
            received.append(recv_json(ws, timeout=10)["type"])

    with connect(server.url) as other, connect(server.url) as ws:
        recv_json(other), recv_json(ws)
        watcher = threading.Thread(target=watch, args=(other,))
        watcher.start()
        try:
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
            other_client = wait_for(lambda: server.client_of(other), what="the other screen registered")

            def ticks_and_other():
                return server.runtime.server.ticks, other_client.sent, other_client.dropped

            # Bursts of thousands: every one answered, in order, the connection stays open; and
            # while they run the ticker keeps ticking and the other screen gets every tick. Bursts
            # go on until ten ticks have passed during them (a loaded machine needs more bursts).
            ticked = bursts = 0
            while ticked < 10:
                assert bursts < 100, f"the ticker stalled during the bursts: {ticked} ticks in {bursts} bursts"
                ticks0, sent0, dropped0 = server.on_loop(ticks_and_other)
                for i in range(2000):
                    ws.send(json.dumps({"action": "set_brightness", "value": i % 101, "request_id": i}))
                ids = []
                while len(ids) < 2000:
                    message = recv_json(ws)
                    if is_response(message):
                        assert message["status"] == "success"
                        ids.append(message["request_id"])
                assert ids == list(range(2000))
                ticks1, sent1, dropped1 = server.on_loop(ticks_and_other)
                assert sent1 - sent0 == ticks1 - ticks0 and dropped1 == dropped0 == 0
                ticked += ticks1 - ticks0
                bursts += 1
            ws.send('{"action": "play_music", "request_id": "still-alive"}')
            assert recv_until(ws, is_response)["request_id"] == "still-alive"
            # The other screen read them all, and nothing but telemetry.
            wait_for(lambda: len(received) >= sent1, what="the other screen reading every tick")
        finally:
            stop.set()
            watcher.join(15)
    assert set(received) == {"telemetry"}


def test_rate_limit_answers_then_disconnects_a_flood(live_server):
    # One token per 100 s: however slowly this machine sends, no token comes back during the test.
    server = live_server(**{"server.command_rate": 0.01, "server.command_burst": 20})
    with connect(server.url) as other, connect(server.url) as flooder:
        recv_json(other), recv_json(flooder)
        for i in range(30):
            flooder.send(json.dumps({"action": "set_brightness", "value": 50, "request_id": i}))
        responses = [recv_until(flooder, is_response) for _ in range(30)]
        assert [r["request_id"] for r in responses] == list(range(30))
        statuses = [r["status"] for r in responses]
        assert statuses == ["success"] * 20 + ["error"] * 10
        limited = responses[20:]
        assert all(r["code"] == "rate_limited" and r["action"] == "set_brightness" for r in limited)
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
        recv_json(reader)
        reader_client = wait_for(lambda: server.client_of(reader), what="the reader registered")

        def stuck_clients():
            return [c for c in server.runtime.server.clients if c.dropped > 0]

        # Read as a screen does until the sleeper's buffers are full and it has skipped 20 ticks.
        received = 0
        while not ((stuck := server.on_loop(stuck_clients)) and stuck[0].dropped > 20):
            assert received < 10_000, "the sleeping client never started skipping snapshots"
            recv_json(reader)
            received += 1
        # The sleeping client skips snapshots instead of queueing them: what waits for it is bounded.
        assert len(stuck) == 1 and stuck[0] is not reader_client
        assert server.on_loop(lambda: stuck[0].ws.transport.get_write_buffer_size()) < 16 * 1024
        # The reader was never held back by the sleeper: it got every tick the sleeper skipped, and more.
        sent, dropped = server.on_loop(lambda: (reader_client.sent, reader_client.dropped))
        assert dropped == 0 and sent > stuck[0].dropped


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


# `evscreen serve` with a SIGTERM that arrives while it is starting (as systemd sends when a
# service is stopped during its start): sent from inside, at a known point, so it cannot miss.
EARLY_SIGTERM = """
import asyncio, os, signal, sys
from evscreen import app
from evscreen.config import load_config
from evscreen.host.logging_setup import configure_logging

where = sys.argv[2]
if where == "build":
    real_build = app.build_runtime

    def build_runtime(loaded):
        os.kill(os.getpid(), signal.SIGTERM)
        return real_build(loaded)

    app.build_runtime = build_runtime
else:
    real_start = app.Runtime.start

    async def start(self):
        os.kill(os.getpid(), signal.SIGTERM)
        await real_start(self)

    app.Runtime.start = start
configure_logging("info")
asyncio.run(app.serve_forever(load_config(env={}, flags={"server.port": int(sys.argv[1]), "simulation.mode": "on"})))
"""


@pytest.mark.parametrize("where", ["build", "start"])
def test_sigterm_during_start_up_is_a_clean_stop(port, where):
    result = subprocess.run([sys.executable, "-c", EARLY_SIGTERM, str(port), where], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "shutting down" in result.stderr and "stopped" in result.stderr and "Traceback" not in result.stderr


def test_connections_that_end_mid_handshake_are_closed_quietly(port, caplog):
    from evscreen.app import build_runtime
    from evscreen.config import load_config

    runtime = build_runtime(load_config(env={}, flags={"server.port": port, "simulation.mode": "on"}))
    with caplog.at_level(logging.INFO):
        with RuntimeThread(runtime) as server:
            socket.create_connection(("127.0.0.1", port)).close()  # a port probe (as wait_for_port does)
            with socket.create_connection(("127.0.0.1", port)) as gave_up:
                gave_up.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: webs")  # half a request
            caught = socket.create_connection(("127.0.0.1", port))
            caught.sendall(b"GET / HTTP/1.1\r\n")  # still mid-handshake when the server stops
            with connect(server.url) as ws:  # meanwhile a screen is served as usual
                assert recv_json(ws)["type"] == "telemetry"
        caught.close()
    complaints = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert complaints == []


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
