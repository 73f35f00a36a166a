"""`evscreen send` as a whole process against a live server: output and exit codes."""

from __future__ import annotations

import json
import os
import subprocess

from websockets.sync.client import connect

from conftest import evscreen_cmd, free_port, recv_json, recv_until


def send(*args):
    return subprocess.run(evscreen_cmd("send", *args), capture_output=True, text=True, timeout=30, env=os.environ)


def test_send_success_error_and_unreachable(live_server):
    server = live_server()
    ok = send("set_drive_mode", "eco", "--url", server.url)
    assert ok.returncode == 0, ok.stderr
    assert "set_drive_mode: ok" in ok.stdout

    volume = send("set_volume", "0.7", "--url", server.url, "--json")
    assert volume.returncode == 0
    response = json.loads(volume.stdout)
    assert response["status"] == "success" and response["action"] == "set_volume" and "request_id" in response

    refused = send("set_charge_limit", "120", "--url", server.url)
    assert refused.returncode == 1
    assert "charge_limit must be an integer from 50 to 100, got 120" in refused.stderr

    refused_json = send("set_regen_level", "max", "--url", server.url, "--json")
    assert refused_json.returncode == 1 and json.loads(refused_json.stdout)["code"] == "invalid_value"

    connected = send("connect_bluetooth", "00:1A:7D:DA:71:13", "--url", server.url)  # the simulated phone
    assert connected.returncode == 0 and "connect_bluetooth: ok" in connected.stdout

    with connect(server.url) as ws:
        telemetry = recv_until(ws, lambda m: m["media"]["volume"] is not None)
    assert telemetry["settings"]["drive_mode"] == "eco" and telemetry["media"]["volume"] == 0.7

    url = f"ws://127.0.0.1:{free_port()}"
    down = send("play_music", "--url", url)
    assert down.returncode == 3  # not 2: that is a usage error
    assert f"not reachable at {url}" in down.stderr and "Traceback" not in down.stderr


def test_send_takes_the_values_a_user_thinks_in(live_server):
    server = live_server()
    for typed, light in (("dark", False), ("light", True), ("LIGHT", True), ("false", False)):
        result = send("set_theme", typed, "--url", server.url)
        assert result.returncode == 0, (typed, result.stderr)
        with connect(server.url) as ws:
            assert recv_json(ws)["settings"]["light_theme"] is light, typed
    # "off" is a regen level here, not the boolean false that "off" means for a toggle.
    assert send("set_regen_level", "off", "--url", server.url).returncode == 0
    assert send("toggle_predictions", "off", "--url", server.url).returncode == 0
    with connect(server.url) as ws:
        settings = recv_json(ws)["settings"]
    assert settings["regen_level"] == "off" and settings["predictions_on"] is False
    refused = send("set_theme", "purple", "--url", server.url)
    assert refused.returncode == 1 and "light_theme must be true or false" in refused.stderr


def test_send_help_lists_every_action_with_its_values():
    from evscreen.protocol import ACTIONS

    out = subprocess.run(evscreen_cmd("send", "--help"), capture_output=True, text=True, timeout=30,
                         env={**os.environ, "COLUMNS": "100"})
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    for name, spec in ACTIONS.items():
        line = next((line for line in lines if line.split()[:1] == [name]), None)
        assert line is not None, name
        assert (spec.typed_help or "(no value)") in line
    assert "light|dark" in out.stdout
    assert "2 for a usage error" in out.stdout and "3 when the server could not be reached" in out.stdout


def test_send_bad_arguments_exit_2():
    for args in (("warp_drive",), ("play_music", "loud"), ("set_drive_mode",)):
        result = send(*args, "--url", "ws://127.0.0.1:9")
        assert result.returncode == 2, args
        assert "Traceback" not in result.stderr
    bad_url = send("play_music", "--url", "http://[::1")
    assert bad_url.returncode == 2 and "Traceback" not in bad_url.stderr
