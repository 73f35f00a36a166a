"""The HTTP side of the WebSocket port: the dashboard's files, /healthz, and everything else (404)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.error
import urllib.request
from http import HTTPStatus
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from websockets.sync.client import connect

from conftest import REPO, recv_json, recv_until
from evscreen import __version__
from evscreen.server.web.assets import FILES, etag_matches
from evscreen.server.web.health import health_report, mqtt_health
from evscreen.state import SourceState
from mqtt_broker import mqtt_flags, wait_until

HEALTH_SCHEMA = json.loads((REPO / "docs" / "schema" / "health.json").read_text())
STATIC = REPO / "src" / "evscreen" / "server" / "web" / "static"


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def http_url(rt: Any, path: str) -> str:
    return rt.url.replace("ws://", "http://") + path


# --- static files -------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "content_type"), [
    ("/", "text/html; charset=utf-8"),
    ("/app.js", "text/javascript; charset=utf-8"),
    ("/style.css", "text/css; charset=utf-8"),
    ("/icon.svg", "image/svg+xml"),
])
def test_static_files_with_their_content_types_and_cache_headers(live_server, path, content_type):
    rt = live_server()
    status, headers, body = get(http_url(rt, path))
    assert status == 200
    assert headers["Content-Type"] == content_type
    assert headers["Cache-Control"] == "no-cache"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert int(headers["Content-Length"]) == len(body)
    assert body == (STATIC / FILES[path]).read_bytes()
    # Revalidation: the same ETag gets 304 and no body; another one gets the file again.
    etag = headers["ETag"]
    status, headers, body = get(http_url(rt, path), {"If-None-Match": etag})
    assert (status, body) == (304, b"")
    assert headers["ETag"] == etag
    status, _, body = get(http_url(rt, path), {"If-None-Match": '"stale-version"'})
    assert status == 200 and body


def test_the_page_needs_no_token_but_the_websocket_still_does(live_server):
    rt = live_server(**{"server.token": "correct-horse-battery"})
    status, headers, body = get(http_url(rt, "/"))
    assert status == 200 and b"<title>evscreen</title>" in body
    # The page may run only its own script, talk only to its own origin, and not be framed.
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert headers["X-Frame-Options"] == "DENY"
    assert get(http_url(rt, "/?token=anything"))[0] == 200
    health = json.loads(get(http_url(rt, "/healthz"))[2])
    assert health["token_required"] is True and "correct-horse-battery" not in json.dumps(health)
    with pytest.raises(Exception) as info:
        connect(rt.url, open_timeout=5)
    assert "401" in str(info.value)
    with connect(rt.url + "/?token=correct-horse-battery", open_timeout=5) as ws:
        assert recv_json(ws)["type"] == "telemetry"


def test_assets_load_nothing_from_elsewhere():
    """No CDN, no web fonts, no external URL: the dashboard works offline in a car."""
    for name in FILES.values():
        text = (STATIC / name).read_text(encoding="utf-8")
        urls = [u for u in _urls(text) if u != "http://www.w3.org/2000/svg"]
        assert urls == [], f"{name} refers to {urls}"
        assert "@import" not in text and "url(http" not in text


def _urls(text: str) -> list[str]:
    import re

    return re.findall(r"(?:https?:)?//[a-zA-Z0-9.-]+\.[a-z]{2,}[^\s\"')]*", text)


@pytest.mark.parametrize("path", [
    "/nothing-here", "/index.html", "/static/app.js", "/healthz/", "/healthz/extra", "/../etc/passwd",
    "/%2e%2e/pyproject.toml", "/app.js/", "/" + "a" * 2000,
])
def test_unknown_paths_get_404(live_server, path):
    rt = live_server()
    status, headers, body = get(http_url(rt, path))
    assert status == 404
    assert b"Not found" in body


def test_etag_matching():
    assert etag_matches('"abc"', '"abc"')
    assert etag_matches('W/"abc"', '"abc"')
    assert etag_matches('"x", "abc"', '"abc"')
    assert etag_matches("*", '"abc"')
    assert not etag_matches(None, '"abc"')
    assert not etag_matches("", '"abc"')
    assert not etag_matches('"abcd"', '"abc"')
    assert not etag_matches("abc", '"abc"')


def test_malformed_http_requests_never_stop_the_server(live_server):
    rt = live_server()
    port = rt.runtime.server.port
    hostile = [
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.0\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nIf-None-Match: " + b"\"" * 3000 + b"\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Junk: " + b"A" * 9000 + b"\r\n\r\n",
        b"\x00\xff\xfe garbage\r\n\r\n",
        b"GET /\xc3\x28 HTTP/1.1\r\nHost: x\r\n\r\n",
    ]
    for raw in hostile:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(raw)
            sock.shutdown(socket.SHUT_WR)
            try:
                while sock.recv(65536):
                    pass
            except OSError:
                pass
    assert get(http_url(rt, "/"))[0] == 200
    assert get(http_url(rt, "/healthz"))[0] == 200


# --- /healthz -----------------------------------------------------------------------------------


def test_healthz_reports_a_running_server(live_server):
    rt = live_server()
    with connect(rt.url, open_timeout=5) as ws:
        recv_json(ws)
        status, headers, body = get(http_url(rt, "/healthz"))
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert headers["Cache-Control"] == "no-store"
    report = json.loads(body)
    jsonschema.validate(report, HEALTH_SCHEMA)
    assert report["version"] == __version__
    assert report["clients"] == 1
    assert report["token_required"] is False
    assert report["uptime_s"] >= 0
    assert report["sources"]["simulation"]["state"] in (SourceState.SIMULATED, SourceState.STARTING)
    assert report["mqtt"] == {"enabled": False, "connected": False, "state": "disabled", "outbox_size": 0}
    assert report["status"] in ("ok", "degraded")


def test_healthz_is_503_when_a_started_source_goes_offline(live_server):
    rt = live_server()
    runtime = rt.runtime

    async def unplug() -> None:
        # The source's task dies and it is marked offline, as a failed real source would be.
        for task in runtime.tasks:
            task.cancel()
        await asyncio.gather(*runtime.tasks, return_exceptions=True)
        runtime.state.set_online("simulation", False, "cable unplugged")

    rt.call(unplug())
    status, _, body = get(http_url(rt, "/healthz"))
    report = json.loads(body)
    jsonschema.validate(report, HEALTH_SCHEMA)
    assert status == 503
    assert report["status"] == "down"
    assert report["sources"]["simulation"]["state"] == "offline"
    assert report["sources"]["simulation"]["detail"] == "cable unplugged"
    assert "source simulation is offline: cable unplugged" in report["problems"]


def test_healthz_without_sources_is_ok(live_server):
    rt = live_server(**{"simulation.mode": "off"})
    # The connectivity source (it always runs with real hardware and needs no device) has read once.
    deadline = time.monotonic() + 10
    while rt.runtime.state.describe_sources()["connectivity"]["state"] == "starting":
        assert time.monotonic() < deadline, "the connectivity source never read the network interfaces"
        time.sleep(0.02)
    status, _, body = get(http_url(rt, "/healthz"))
    report = json.loads(body)
    jsonschema.validate(report, HEALTH_SCHEMA)
    assert set(report["sources"]) <= {"connectivity"}
    assert (status, report["status"], report["problems"]) == (200, "ok", [])


def test_healthz_answers_500_when_building_the_report_fails(live_server, monkeypatch):
    rt = live_server()
    web = rt.runtime.server.http_routes["/healthz"].__self__

    def broken() -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(web, "health_body", broken)
    status, _, body = get(http_url(rt, "/healthz"))
    assert status == 500 and json.loads(body)["status"] == "error"
    assert get(http_url(rt, "/"))[0] == 200  # the server keeps serving


def _report(sources: dict[str, Any], mqtt: dict[str, Any] | None = None) -> tuple[HTTPStatus, dict[str, Any]]:
    return health_report(version="1", uptime_s=1.0, clients=0, sources=sources,
                         mqtt=mqtt or {"enabled": False, "connected": False, "state": "disabled", "outbox_size": 0})


@pytest.mark.parametrize(("states", "mqtt", "expected"), [
    ({"can": "live", "gps": "live"}, None, (200, "ok")),
    ({"simulation": "simulated"}, None, (200, "ok")),
    ({"can": "live", "gps": "starting"}, None, (200, "degraded")),
    ({"can": "live", "gps": "stale"}, None, (200, "degraded")),
    ({"can": "live", "gps": "offline"}, None, (503, "down")),
    ({"can": "offline", "gps": "stale"}, None, (503, "down")),
    ({"can": "live"}, {"enabled": True, "connected": False, "state": "connecting", "outbox_size": 7},
     (200, "degraded")),
    ({"can": "live"}, {"enabled": True, "connected": True, "state": "connected", "outbox_size": 0}, (200, "ok")),
])
def test_health_status_rules(states, mqtt, expected):
    sources = {name: {"state": state, "age": 0.1} for name, state in states.items()}
    code, body = _report(sources, mqtt)
    assert (code.value, body["status"]) == expected
    jsonschema.validate(body, HEALTH_SCHEMA)
    assert len(body["problems"]) == sum(s != "live" and s != "simulated" for s in states.values()) + (
        1 if mqtt and not mqtt["connected"] else 0)


class _Bridge:
    """The attributes /healthz reads from the MQTT bridge (evscreen.mqtt), nothing else."""

    connection_state = "disconnected"
    connected = False
    outbox_size = 42

    def health(self) -> dict[str, Any]:
        return {"state": self.connection_state, "broker": "broker.local:8883", "outbox_size": self.outbox_size,
                "last_error": "connection refused"}


def test_mqtt_health_reads_the_bridge_when_there_is_one():
    class Runtime:
        mqtt = _Bridge()

    report = mqtt_health(Runtime())
    assert report["enabled"] is True and report["connected"] is False
    assert report["outbox_size"] == 42 and report["state"] == "disconnected"
    assert report["last_error"] == "connection refused"
    code, body = _report({"can": {"state": "live", "age": 0.0}}, report)  # type: ignore[dict-item]
    assert code == 200 and body["status"] == "degraded"
    jsonschema.validate(body, HEALTH_SCHEMA)
    assert mqtt_health(object())["enabled"] is False


def test_banner_names_the_dashboard(serve_process, port):
    server = serve_process("--simulation", "on")
    _, err = server.stop()
    assert f"dashboard: http://127.0.0.1:{port}/, health: http://127.0.0.1:{port}/healthz" in err


def test_health_schema_is_documented():
    page = (Path(REPO) / "docs" / "protocol.md").read_text()
    assert "/healthz" in page and "schema/health.json" in page
    for name in HEALTH_SCHEMA["properties"]:
        assert f"`{name}`" in page, name


def healthz(rt: Any) -> dict[str, Any]:
    _, _, body = get(http_url(rt, "/healthz"))
    report = json.loads(body)
    jsonschema.validate(report, HEALTH_SCHEMA)
    return report


def test_healthz_counts_commands_carried_out_and_failed(live_server):
    rt = live_server(**{"simulation.mode": "off"})  # no phone, no simulated player: media commands fail
    assert healthz(rt)["commands"] == {"ok": 0, "failed": 0}
    with connect(rt.url) as ws:
        for message in ('{"action": "set_drive_mode", "value": "eco"}', '{"action": "play_music"}',
                        "not json{", '{"action": "set_charge_limit", "value": 120}', '{"action": "fly"}'):
            ws.send(message)
            recv_until(ws, lambda m: m.get("type") == "response")
    # The client's mistakes (bad JSON, a value out of range, an unknown action) are not the car's.
    assert healthz(rt)["commands"] == {"ok": 1, "failed": 1}


def test_healthz_shows_the_mqtt_bridges_counters(broker, subscribers, live_server):
    rt = live_server(**mqtt_flags(broker))
    bridge = rt.runtime.mqtt
    responses = subscribers(broker, "evscreen/car1/status", "evscreen/car1/response")
    responses.wait_for(lambda m: ("evscreen/car1/status", b"online") in m)  # subscribed, and the bridge is up
    wait_until(lambda: bridge.connected, what="bridge connected")
    broker.publish("evscreen/car1/command", '{"action": "set_brightness", "value": 40}')
    responses.wait_for(lambda m: any(t == "evscreen/car1/response" for t, _ in m))
    mqtt = healthz(rt)["mqtt"]
    assert (mqtt["connects"], mqtt["commands_answered"], mqtt["outbox_dropped"]) == (1, 1, 0)

    broker.stop()
    wait_until(lambda: not bridge.connected, what="the bridge to notice the broker is gone")
    broker.start()  # same port
    wait_until(lambda: bridge.connected, what="the bridge to reconnect")
    assert healthz(rt)["mqtt"]["connects"] == 2
