"""A screen commanding the phone through the whole stack: WebSocket -> dispatcher -> BlueZ over D-Bus."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import recv_until

# BlueZ exists on Linux only: elsewhere dbus-fast is not installed and there is no dbus-daemon.
pytest.importorskip("dbus_fast", reason="dbus-fast is a Linux-only dependency")
if shutil.which("dbus-daemon") is None:
    pytest.skip("needs dbus-daemon (Debian package dbus)", allow_module_level=True)

from websockets.sync.client import connect

from fake_bluez import FakeBluez, PrivateBus, device_path, fake_bluez_on, private_system_bus

PHONE = "AC:37:43:A1:B2:C3"
REAL_BLUETOOTH = {"simulation.mode": "off", "bluetooth.enabled": True}


@pytest.fixture
def system_bus(monkeypatch: pytest.MonkeyPatch) -> Iterator[PrivateBus]:
    yield from private_system_bus(monkeypatch)


@pytest.fixture
def bluez(system_bus: PrivateBus) -> Iterator[FakeBluez]:
    yield from fake_bluez_on(system_bus)


def command(ws: Any, action: str, **fields: Any) -> dict[str, Any]:
    ws.send(json.dumps({"action": action, "request_id": action, **fields}))
    return recv_until(ws, lambda m: m.get("type") == "response" and m.get("request_id") == action)


def test_screen_controls_the_phone_and_sees_its_track(bluez: FakeBluez, live_server: Any) -> None:
    _, _, player, transport = bluez.add_phone(status="paused", position_ms=42_000)
    server = live_server(**REAL_BLUETOOTH)
    assert [s.name for s in server.runtime.sources if s.name != "connectivity"] == ["bluetooth"]
    with connect(server.url) as ws:
        telemetry = recv_until(ws, lambda m: m.get("type") == "telemetry" and m["media"]["track_title"] == "Teardrop")
        assert {k: telemetry["media"][k] for k in ("connected", "device_name", "track_artist", "duration", "position",
                                                   "is_playing")} == {
            "connected": True, "device_name": "Pixel 7", "track_artist": "Massive Attack", "duration": 330.0,
            "position": 42.0, "is_playing": False}
        assert telemetry["connectivity"]["bluetooth"] is True
        assert telemetry["sources"]["bluetooth"]["state"] == "live"

        assert command(ws, "play_music")["status"] == "success"
        assert bluez.calls[-1] == (player.path, "org.bluez.MediaPlayer1", "Play")
        recv_until(ws, lambda m: m.get("type") == "telemetry" and m["media"]["is_playing"] is True)

        assert command(ws, "next_track")["status"] == "success"
        recv_until(ws, lambda m: m.get("type") == "telemetry" and m["media"]["track_title"] == "Windowlicker")

        assert command(ws, "set_volume", volume=0.5)["status"] == "success"
        assert bluez.calls[-1] == (transport.path, "org.bluez.MediaTransport1", "Set Volume", 64)
        assert recv_until(ws, lambda m: m.get("type") == "telemetry")["media"]["volume"] == 0.5

        unknown = command(ws, "connect_bluetooth", device_address="00:11:22:33:44:55")
        assert (unknown["status"], unknown["code"]) == ("error", "invalid_value")
        assert "00:11:22:33:44:55 is not a device known to hci0" in unknown["error"]


def test_connect_bluetooth_from_a_screen(bluez: FakeBluez, live_server: Any) -> None:
    adapter = bluez.add_adapter()
    device = bluez.add_device(adapter, connected=False)
    server = live_server(**REAL_BLUETOOTH)
    with connect(server.url) as ws:
        recv_until(ws, lambda m: m.get("type") == "telemetry" and m["sources"]["bluetooth"]["state"] == "live")
        assert command(ws, "connect_bluetooth", device_address=PHONE.lower())["status"] == "success"
        assert bluez.calls == [(device_path("hci0", PHONE), "org.bluez.Device1", "Connect")]
        recv_until(ws, lambda m: m.get("type") == "telemetry" and m["media"]["connected"] is True)

        device.connect_error = ("org.bluez.Error.Failed", "br-connection-page-timeout")
        bluez.do(device.update, Connected=False)
        refused = command(ws, "connect_bluetooth", device_address=PHONE)
        assert (refused["status"], refused["code"]) == ("error", "unavailable")
        assert refused["error"] == f"connecting {PHONE} failed: org.bluez.Error.Failed: br-connection-page-timeout"


def test_without_bluetoothd_media_commands_answer_unavailable(system_bus: PrivateBus, live_server: Any) -> None:
    server = live_server(**REAL_BLUETOOTH)
    assert server.runtime.settings.values["volume"] == 0.5
    with connect(server.url) as ws:
        telemetry = recv_until(ws, lambda m: m.get("type") == "telemetry"
                               and m["sources"]["bluetooth"]["state"] == "offline")
        assert "bluetoothd is not running" in telemetry["sources"]["bluetooth"]["detail"]
        assert telemetry["media"]["connected"] is False and telemetry["media"]["track_title"] is None
        for action, fields in (("play_music", {}), ("set_volume", {"volume": 0.2}),
                               ("connect_bluetooth", {"device_address": PHONE})):
            response = command(ws, action, **fields)
            assert (response["status"], response["code"]) == ("error", "unavailable")
            assert "bluetoothd is not running" in response["error"]
        # A refused command changes nothing: the volume setting keeps its default.
        assert recv_until(ws, lambda m: m.get("type") == "telemetry")["media"]["volume"] == 0.5
