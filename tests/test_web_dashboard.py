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

from conftest import REPO, recv_until
from evscreen.state import STATE_PATHS, telemetry_paths

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = REPO / "test-artifacts"
VIEWPORT = {"width": 1280, "height": 800}
TOKEN = "tok-7Hq2-dashboard"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), "Chromium is missing: `apt-get install chromium` (.ci/run installs it)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
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


def open_settings(page: Page) -> None:
    page.get_by_role("button", name="settings", exact=True).click()
    expect(page.get_by_role("dialog", name="settings")).to_be_visible()


def close_settings(page: Page) -> None:
    page.get_by_role("button", name="close settings").click()
    expect(page.get_by_role("dialog", name="settings")).to_be_hidden()


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
        open_settings(page)
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
        close_settings(page)

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
    open_settings(page)
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
    expect(toast(page)).to_have_attribute("data-status", "error")

    # The page's own send function, matching responses by request_id, for raw commands.
    response = page.evaluate("window.evscreen.send({action: 'set_brightness', value: '50'})")
    assert response["status"] == "error" and response["code"] == "invalid_value"
    assert response["error"] == 'brightness must be an integer from 0 to 100, got "50"'
    assert response["request_id"].startswith("web-")
    both = page.evaluate(
        "Promise.all([window.evscreen.send({action: 'warp_drive'}),"
        " window.evscreen.send({action: 'set_drive_mode', value: 'eco'})])"
    )
    assert [r["status"] for r in both] == ["error", "success"]
    assert both[0]["code"] == "unknown_action" and both[1]["action"] == "set_drive_mode"
    assert both[0]["request_id"] != both[1]["request_id"]
    assert tab.errors == []


def test_the_connect_button_connects_the_simulated_phone(live_server, tab):
    """The simulated phone connects like a real one: the page waits for the answer, then shows it."""
    rt = live_server()
    page = tab.open(http(rt))
    wait_live(page)
    expect(tab.field("media.device_name")).to_have_text("Simulated Phone")
    open_settings(page)
    expect(page.get_by_label("connected phone")).to_have_text("Simulated Phone")
    page.get_by_label("Bluetooth device address").fill("00:1a:7d:da:71:13")
    page.get_by_role("button", name="connect Bluetooth device").click()
    expect(toast(page)).to_have_text("Connecting 00:1a:7d:da:71:13…")
    expect(toast(page)).to_have_attribute("data-status", "pending")
    # While it connects, no phone: the page shows what the telemetry says.
    expect(tab.field("media.connected")).to_have_text("not connected", timeout=15_000)
    expect(toast(page)).to_have_text("Bluetooth 00:1a:7d:da:71:13 connected", timeout=15_000)
    expect(toast(page)).to_have_attribute("data-status", "success")
    expect(page.get_by_label("connected phone")).to_have_text("Simulated Phone 00:1A:7D:DA:71:13")
    close_settings(page)
    expect(tab.field("media.connected")).to_have_text("connected")
    expect(tab.field("media.device_name")).to_have_text("Simulated Phone 00:1A:7D:DA:71:13")
    expect(page.locator("#conn-bluetooth")).to_have_class(re.compile(r"\bon\b"))
    # ...and the new phone plays on the page's controls.
    page.get_by_role("button", name="pause").click()
    expect(toast(page)).to_have_text("Pause")
    expect(tab.field("media.is_playing")).to_have_text("paused")
    assert tab.errors == []


def test_the_page_shows_the_interval_the_server_sends_at(live_server, tab):
    """"telemetry every N s" is the server's interval, from the first figure shown: not the gap
    after the message sent on connect, not the gaps around command responses."""
    rt = live_server(**{"server.telemetry_interval": 1.0})
    page = tab.open(http(rt))
    # Every figure the page shows, recorded as it changes.
    page.evaluate("""() => {
        window.rates = [];
        const rate = document.getElementById("rate");
        new MutationObserver(() => window.rates.push(rate.textContent)).observe(rate, {childList: true, characterData: true, subtree: true});
    }""")
    wait_live(page)
    expect(page.locator("#rate")).to_have_text("—")  # nothing measured from the first message alone
    for mode in ("eco", "normal"):  # responses arriving between telemetry messages
        page.get_by_role("button", name=f"drive mode {mode}").click()
        expect(toast(page)).to_have_text(f"Drive mode {mode}")
    expect(page.locator("#rate")).to_have_text("1.0", timeout=15_000)
    shown = page.evaluate("window.rates")
    assert shown and all(abs(float(figure) - 1.0) <= 0.05 for figure in shown), shown


# --- on a car's own screen ------------------------------------------------------------------------

#: The Raspberry Pi 7" touchscreen, common head units, 720p and 1080p screens.
CAR_SCREENS = [(800, 480), (1024, 600), (1280, 720), (1920, 1080)]
#: What a driver sees at a glance, without scrolling or opening anything.
AT_A_GLANCE = {
    "speed": '[data-field="speed"]', "range": '[data-field="range_km"]', "battery": ".hero.soc",
    "power": ".hero.power", "drive mode": ".drive-modes", "track": ".track-title", "media controls": ".transport",
    "volume": "#volume", "climate": ".climate", "cabin temperature": '[data-field="cabin_temp"]',
    "details": ".tabs", "settings": "#open-settings", "clock": ".clock", "connection": ".link",
}
#: Values that must be shown whole, never cut off with an ellipsis.
WHOLE_VALUES = ".stats dd, .hero-value, .tyre-label, .cell span, .speed, .clock, .segmented button, .tabs button"
MIN_TOUCH_PX = 44
MIN_TEXT_PX = 12

LAYOUT = """(selectors) => {
    const box = (el) => { const r = el.getBoundingClientRect(); return {x: r.left, y: r.top, right: r.right, bottom: r.bottom, w: r.width, h: r.height}; };
    const shown = (el) => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0 && !el.closest("[hidden]") && getComputedStyle(el).visibility !== "hidden"; };
    const name = (el) => el.getAttribute("aria-label") || el.id || el.textContent.trim().slice(0, 30) || el.outerHTML.slice(0, 60);
    const root = document.documentElement;
    const controls = Array.from(document.querySelectorAll("button, input, select, textarea, [role=tab]")).filter(shown);
    const texts = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
        const parent = walker.currentNode.parentElement;
        if (!walker.currentNode.textContent.trim() || parent.closest("svg") || !shown(parent)) continue;
        if (parent.closest(".toast, .banner")) continue;
        texts.push({text: walker.currentNode.textContent.trim().slice(0, 30), px: parseFloat(getComputedStyle(parent).fontSize),
                    field: parent.dataset.field || null});
    }
    const overflowing = (el) => el.scrollHeight > el.clientHeight + 1 || el.scrollWidth > el.clientWidth + 1;
    return {
        scroll: {height: root.scrollHeight, width: root.scrollWidth, innerHeight, innerWidth},
        boxes: Object.fromEntries(Object.entries(selectors.glance).map(([key, sel]) => {
            const el = document.querySelector(sel);
            return [key, el && shown(el) ? box(el) : null];
        })),
        controls: controls.map((el) => ({name: name(el), ...box(el)})),
        texts,
        cut: Array.from(document.querySelectorAll(selectors.whole)).filter(shown).filter((el) => el.scrollWidth > el.clientWidth + 1).map(name),
        spilling: Array.from(document.querySelectorAll(".card, .panel:not([hidden]), .sheet-grid")).filter(shown).filter(overflowing)
            .map((el) => `${el.className} ${el.id}: ${el.scrollWidth}x${el.scrollHeight} in ${el.clientWidth}x${el.clientHeight}`),
    };
}"""


def layout(page: Page, glance: dict[str, str] | None = None) -> dict[str, Any]:
    return page.evaluate(LAYOUT, {"glance": glance or {}, "whole": WHOLE_VALUES})


def assert_fits(report: dict[str, Any], where: str) -> None:
    """No page scroll, every control big enough to touch, every text big enough to read, nothing
    spilling out of its card or cut off."""
    scroll = report["scroll"]
    assert scroll["height"] <= scroll["innerHeight"] and scroll["width"] <= scroll["innerWidth"], (where, scroll)
    small = [c for c in report["controls"] if c["w"] < MIN_TOUCH_PX or c["h"] < MIN_TOUCH_PX]
    assert not small, (where, small)
    outside = [c["name"] for c in report["controls"]
               if c["x"] < 0 or c["y"] < 0 or c["right"] > scroll["innerWidth"] or c["bottom"] > scroll["innerHeight"]]
    assert not outside, (where, outside)
    tiny = [t for t in report["texts"] if t["px"] < MIN_TEXT_PX]
    assert not tiny, (where, tiny)
    assert not report["cut"], (where, report["cut"])
    assert not report["spilling"], (where, report["spilling"])


@pytest.mark.parametrize(("width", "height"), CAR_SCREENS, ids=[f"{w}x{h}" for w, h in CAR_SCREENS])
def test_the_whole_dashboard_fits_a_car_screen(live_server, browser, width, height):
    rt = live_server(**{"simulation.speed": 8.0})
    rt.wait_for_values(*STATE_PATHS)  # every value known: the longest texts the page will show
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        tab = Tab(page)
        page.goto(http(rt) + "/")
        wait_live(page)
        expect(tab.field("battery_cells.block_c")).not_to_have_text("—")

        report = layout(page, AT_A_GLANCE)
        assert_fits(report, "dashboard")
        for key, box in report["boxes"].items():
            assert box is not None, f"{key} is not shown at {width}x{height}"
            assert box["x"] >= 0 and box["y"] >= 0, (key, box)
            assert box["right"] <= width and box["bottom"] <= height, (key, box)
        # A clear hierarchy: the speed first, at least twice as big as anything else.
        speed = max(t["px"] for t in report["texts"] if t["field"] == "speed")
        others = [t for t in report["texts"] if t["field"] != "speed"]
        assert all(speed >= 2 * t["px"] for t in others), [t for t in others if speed < 2 * t["px"]]
        page.screenshot(path=str(_artifact(f"dashboard-{width}x{height}.png")))

        # Each of the car's details fits its panel.
        for name in ("Battery", "Motor", "GPS", "System", "Tyres"):
            page.get_by_role("tab", name=name).click()
            expect(page.get_by_role("tab", name=name)).to_have_attribute("aria-selected", "true")
            expect(page.get_by_role("tabpanel")).to_have_count(1)
            assert_fits(layout(page), f"{name} tab")
        # The keyboard moves between tabs too.
        page.get_by_role("tab", name="Tyres").press("ArrowRight")
        expect(page.get_by_role("tab", name="Battery")).to_have_attribute("aria-selected", "true")
        expect(page.get_by_label("battery voltage")).to_be_visible()

        # Every setting fits one sheet.
        open_settings(page)
        assert_fits(layout(page), "settings")
        page.screenshot(path=str(_artifact(f"settings-{width}x{height}.png")))
        page.keyboard.press("Escape")
        expect(page.get_by_role("dialog", name="settings")).to_be_hidden()
        assert tab.errors == []
    finally:
        context.close()


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
    time.sleep(0.5)  # let the gauges' transitions settle
    path = _artifact("dashboard.png")
    page.screenshot(path=str(path))
    assert path.stat().st_size > 20_000
    assert tab.errors == []


def _artifact(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name
