"""The dashboard in a real browser: Debian's Chromium, headless, driven by Playwright.

Each test loads the page from a real server (in-process Runtime or an `evscreen serve` process) and
checks what a person sees and what the server receives, through a second, independent WebSocket
client where a setting must have changed.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright
from websockets.sync.client import connect

from conftest import REPO, recv_until, require_tool
from evscreen.state import STATE_PATHS, telemetry_paths

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = REPO / "test-artifacts"
VIEWPORT = {"width": 1280, "height": 800}
TOKEN = "tok-7Hq2-dashboard"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Debian's chromium, never a browser downloaded by `playwright install`.
    chromium = require_tool("chromium", apt="chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Tab:
    """A page plus everything the browser reported: console errors, page errors, request URLs."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on("request", lambda request: self.requests.append(request.url))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.errors.append(f"console {message.type}: {message.text}")

    def open(self, base: str, query: str = "") -> Page:
        self.page.goto(base + "/" + query)
        return self.page

    def field(self, path: str) -> Any:
        return self.page.locator(f'[data-field="{path}"]').first


@pytest.fixture
def tab(browser: Browser) -> Iterator[Tab]:
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield Tab(page)
    context.close()


def http(rt: Any) -> str:
    return rt.url.replace("ws://", "http://")


def wait_live(page: Page) -> None:
    expect(page.locator("#link-text")).to_have_text("live")
    expect(page.locator('[data-field="timestamp"]')).not_to_have_text("—")


def field_texts(page: Page) -> dict[str, str]:
    """What each ``data-field`` element shows (the first one, where a field appears twice)."""
    pairs = page.evaluate(
        "Array.from(document.querySelectorAll('[data-field]')).map(e => [e.dataset.field, e.textContent])"
    )
    shown: dict[str, str] = {}
    for path, text in pairs:
        shown.setdefault(path, text)
    return shown


def toast(page: Page) -> Any:
    return page.get_by_role("status", name="command result")


def settings_of(ws: Any, predicate: Any, timeout: float = 5.0) -> dict[str, Any]:
    return recv_until(ws, lambda m: m.get("type") == "telemetry" and predicate(m["settings"]), timeout)["settings"]


# --- loading and live values ----------------------------------------------------------------------


def test_page_loads_cleanly_and_shows_every_telemetry_field(live_server, tab):
    rt = live_server()
    # The simulated car's values arrive over its CAN bus within a moment of start (the battery
    # blocks B and C one and two frames of BMS_BlockStatus after A): wait until all are known.
    rt.wait_for_values(*STATE_PATHS)
    page = tab.open(http(rt))
    wait_live(page)
    expect(tab.field("speed")).not_to_have_text("—")
    expect(tab.field("media.track_title")).not_to_have_text("—")
    # Every leaf of the telemetry message has its place on the page, and is filled in.
    shown = field_texts(page)
    for path in telemetry_paths() + ["timestamp"]:
        assert path in shown, f"{path} is not shown"
        assert shown[path] and shown[path] != "—", f"{path} shows {shown[path]!r}"
    expect(page.locator('#sources-list li[data-source="simulation"]')).to_contain_text("simulated")
    expect(page.locator('#sources-list li[data-source="simulation"] .src-age')).to_contain_text("ago")
    expect(tab.field("settings.drive_mode")).to_have_text("NORMAL")
    expect(page.get_by_role("button", name="drive mode normal")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_label("charge limit value")).to_have_value("80")
    expect(page.locator("#banner")).to_be_hidden()
    # Nothing went wrong in the browser, and nothing was fetched from anywhere else.
    assert tab.errors == []
    assert tab.requests and all(url.startswith(http(rt) + "/") for url in tab.requests), tab.requests


def test_values_change_as_telemetry_arrives(live_server, tab):
    rt = live_server()
    page = tab.open(http(rt))
    wait_live(page)
    clock = tab.field("timestamp").inner_text()
    position = tab.field("media.position").inner_text()
    expect(tab.field("timestamp")).not_to_have_text(clock)
    expect(tab.field("media.position")).not_to_have_text(position)
    # A change made by another client reaches the page with the next telemetry.
    with connect(rt.url, open_timeout=5) as ws:
        ws.send(json.dumps({"action": "set_charge_limit", "value": 63}))
        recv_until(ws, lambda m: m.get("type") == "response")
    expect(tab.field("settings.charge_limit")).to_have_text("63")
    expect(page.get_by_label("charge limit value")).to_have_value("63")
    expect(page.get_by_label("charge limit", exact=True)).to_have_value("63")
    expect(page.locator("#soc-limit")).to_have_attribute("style", re.compile(r"left: 63%"))


def test_null_values_show_a_dash(live_server, tab):
    rt = live_server(**{"simulation.mode": "off"})
    page = tab.open(http(rt))
    wait_live(page)
    shown = field_texts(page)
    for path in telemetry_paths():
        if path.startswith("settings.") or path == "media.volume":
            assert shown[path] != "—", path  # settings always have a value
        elif path == "connectivity.wifi":
            assert shown[path] in ("on", "off", "—")  # read from this machine's network interfaces
        else:
            assert shown[path] == "—", f"{path} shows {shown[path]!r}"
    expect(page.locator("#sources-list")).to_contain_text("connectivity")  # the only source without hardware
    assert tab.errors == []


# --- commands -------------------------------------------------------------------------------------


def test_clicking_a_drive_mode_changes_the_setting(live_server, tab):
    rt = live_server()
    page = tab.open(http(rt))
    wait_live(page)
    with connect(rt.url, open_timeout=5) as ws:
        page.get_by_role("button", name="drive mode sport").click()
        expect(toast(page)).to_have_text("Drive mode sport")
        expect(toast(page)).to_have_attribute("data-status", "success")
        assert settings_of(ws, lambda s: s["drive_mode"] == "sport")["drive_mode"] == "sport"
    expect(page.get_by_role("button", name="drive mode sport")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_role("button", name="drive mode normal")).to_have_attribute("aria-pressed", "false")
    expect(page.locator(".mode-badge")).to_have_text("SPORT")
    assert tab.errors == []


def test_every_setting_and_media_control_reaches_the_server(live_server, tab):
    rt = live_server()
    page = tab.open(http(rt))
    wait_live(page)
    with connect(rt.url, open_timeout=5) as ws:
        page.get_by_role("button", name="regen high").click()
        settings_of(ws, lambda s: s["regen_level"] == "high")

        page.get_by_label("charge limit value").fill("91")
        page.get_by_label("charge limit value").press("Enter")
        settings_of(ws, lambda s: s["charge_limit"] == 91)

        page.get_by_label("brightness", exact=True).fill("40")  # the slider, as dragged and released
        settings_of(ws, lambda s: s["brightness"] == 40)
        expect(page.locator("#dim")).to_have_attribute("style", re.compile(r"opacity: 0\.36"))

        page.get_by_role("button", name="predictions").click()
        settings_of(ws, lambda s: s["predictions_on"] is False)

        page.get_by_role("button", name="twin mode 2D").click()
        settings_of(ws, lambda s: s["twin_mode"] == "2d")
        expect(page.locator("#car")).not_to_have_class(re.compile("three-d"))

        page.get_by_role("button", name="light theme").click()
        settings_of(ws, lambda s: s["light_theme"] is True)
        expect(page.locator("html")).to_have_attribute("data-theme", "light")

        page.get_by_label("volume").fill("25")
        recv_until(ws, lambda m: m.get("type") == "telemetry" and m["media"]["volume"] == 0.25)

        title = page.locator('[data-field="media.track_title"]').inner_text()
        page.get_by_role("button", name="next track").click()
        recv_until(ws, lambda m: m.get("type") == "telemetry" and m["media"]["track_title"] != title)
        expect(page.locator('[data-field="media.track_title"]')).not_to_have_text(title)

        page.get_by_role("button", name="pause").click()
        recv_until(ws, lambda m: m.get("type") == "telemetry" and m["media"]["is_playing"] is False)
        expect(page.get_by_role("button", name="play", exact=True)).to_be_visible()
        page.get_by_role("button", name="play", exact=True).click()
        recv_until(ws, lambda m: m.get("type") == "telemetry" and m["media"]["is_playing"] is True)

        page.get_by_role("button", name="previous track").click()
        expect(toast(page)).to_have_text("Previous track")
    page.screenshot(path=str(_artifact("dashboard-light.png")))
    assert tab.errors == []


def test_a_refused_value_shows_the_servers_error(live_server, tab):
    rt = live_server()
    page = tab.open(http(rt))
    wait_live(page)
    # The number field takes what is typed; the server checks it and the page shows its answer.
    page.get_by_label("charge limit value").fill("120")
    page.get_by_label("charge limit value").press("Enter")
    expect(toast(page)).to_have_text("charge_limit must be an integer from 50 to 100, got 120")
    expect(toast(page)).to_have_attribute("data-status", "error")
    # The control goes back to the server's value; the setting did not change.
    expect(page.get_by_label("charge limit value")).to_have_value("80")
    expect(tab.field("settings.charge_limit")).to_have_text("80")

    page.get_by_label("Bluetooth device address").fill("not-a-mac")
    page.get_by_role("button", name="connect Bluetooth device").click()
    expect(toast(page)).to_have_text(re.compile(r"^device_address must be a MAC address"))

    page.get_by_label("Bluetooth device address").fill("00:1A:7D:DA:71:13")
    page.get_by_role("button", name="connect Bluetooth device").click()
    expect(toast(page)).to_have_text("Bluetooth is not available on this machine")

    # The page's own send function, matching responses by request_id, for raw commands.
    response = page.evaluate("window.evscreen.send({action: 'set_brightness', value: '50'})")
    assert response["status"] == "error" and response["code"] == "invalid_value"
    assert response["error"] == 'brightness must be an integer from 0 to 100, got "50"'
    assert response["request_id"].startswith("web-")
    both = page.evaluate(
        "Promise.all([window.evscreen.send({action: 'warp_drive'}), window.evscreen.send({action: 'set_drive_mode', value: 'eco'})])"
    )
    assert [r["status"] for r in both] == ["error", "success"]
    assert both[0]["code"] == "unknown_action" and both[1]["action"] == "set_drive_mode"
    assert both[0]["request_id"] != both[1]["request_id"]
    assert tab.errors == []


# --- connection: restarts and tokens --------------------------------------------------------------


def test_the_page_reconnects_after_the_server_restarts(serve_process, port, tab):
    server = serve_process("--simulation", "on", "--telemetry-interval", "0.2")
    page = tab.open(f"http://127.0.0.1:{port}")
    wait_live(page)
    server.stop()
    expect(page.get_by_role("alert")).to_contain_text("Reconnecting")
    expect(page.locator("#link-text")).to_have_text("offline")
    serve_process("--simulation", "on", "--telemetry-interval", "0.2")
    expect(page.locator("#link-text")).to_have_text("live", timeout=20_000)
    expect(page.locator("#banner")).to_be_hidden()
    # And it works again: a command round trip over the new connection.
    page.get_by_role("button", name="drive mode eco").click()
    expect(toast(page)).to_have_text("Drive mode eco")


def test_with_a_token_the_page_connects_only_when_given_it(live_server, tab):
    rt = live_server(**{"server.token": TOKEN})
    page = tab.open(http(rt))
    banner = page.get_by_role("alert")
    expect(banner).to_contain_text("needs a token")
    expect(page.locator("#link-text")).to_have_text("offline")
    expect(tab.field("speed")).to_have_text("—")

    page.get_by_label("access token").fill(TOKEN)
    page.get_by_role("button", name="connect with token").click()
    wait_live(page)
    assert f"token={TOKEN}" in page.url
    expect(page.locator("#banner")).to_be_hidden()
    page.get_by_role("button", name="drive mode eco").click()
    expect(toast(page)).to_have_text("Drive mode eco")

    page = tab.open(http(rt), "?token=wrong-token")
    expect(page.get_by_role("alert")).to_contain_text("refused this token")


def test_a_full_server_is_reported_as_such(live_server, tab):
    rt = live_server(**{"server.max_connections": 1})
    with connect(rt.url, open_timeout=5):
        page = tab.open(http(rt))
        expect(page.get_by_role("alert")).to_contain_text("too many clients")
        expect(page.get_by_label("access token")).to_be_hidden()
        expect(page.locator("#link-text")).to_have_text("offline")


def test_hostile_values_are_shown_as_text(live_server, tab):
    """Strings from the car's sources (a phone's track title...) are text, never markup or script."""
    rt = live_server(**{"simulation.mode": "off"})
    state = rt.runtime.state
    payload = '<img src=x onerror="window.pwned=1">'

    def write() -> None:
        state.register_source("bluetooth", simulated=False)
        state.update("bluetooth", {"media.track_title": payload, "media.device_name": "<script>window.pwned=2</script>",
                                   "speed": "fast", "humidity": True, "gps.latitude": [1, 2], "media.position": -5})
        state.register_source("<b>gps</b>", simulated=False)
        state.set_online("<b>gps</b>", False, '<svg onload="window.pwned=3">')

    rt.loop.call_soon_threadsafe(write)
    page = tab.open(http(rt))
    wait_live(page)
    expect(tab.field("media.track_title")).to_have_text(payload)
    expect(tab.field("media.device_name")).to_have_text("<script>window.pwned=2</script>")
    for path in ("speed", "humidity", "gps.latitude", "media.position"):
        expect(tab.field(path)).to_have_text("—")  # not a number: nothing is invented from it
    expect(page.locator('#sources-list li[data-source="<b>gps</b>"]')).to_contain_text('<svg onload="window.pwned=3">')
    assert page.evaluate("window.pwned") is None
    assert page.locator("#sources-list img, #sources-list svg, #sources-list b, .track img").count() == 0
    assert tab.errors == []


def test_screenshot(live_server, tab):
    rt = live_server(**{"simulation.speed": 8.0})
    page = tab.open(http(rt))
    wait_live(page)
    # (polled from here: the page's CSP forbids the string evaluation wait_for_function relies on)
    deadline = time.monotonic() + 20
    while page.evaluate("window.evscreen.telemetry.speed") <= 20:
        assert time.monotonic() < deadline, "the simulated car never reached 20 km/h"
        page.wait_for_timeout(200)
    path = _artifact("dashboard.png")
    # The gauges' CSS transitions are run to their end for the picture, not waited for.
    page.screenshot(path=str(path), animations="disabled")
    assert path.stat().st_size > 20_000
    assert tab.errors == []


def _artifact(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name
