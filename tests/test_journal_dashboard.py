"""The dashboard's History sheet in Chromium: the journal's trips, charges, and their charts at 800x480."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from test_journal_api import TOKEN, seed_journal
from test_web_dashboard import browser, http, tab  # noqa: F401  (fixtures)

SMALL = {"width": 800, "height": 480}


def test_history_shows_trips_charges_and_charts_readably_at_800x480(live_server: Any, tab: Any) -> None:  # noqa: F811
    seed_journal()
    rt = live_server(**{"server.token": TOKEN, "simulation.mode": "off"})
    page = tab.page
    page.set_viewport_size(SMALL)
    tab.open(http(rt), f"?token={TOKEN}")
    page.get_by_role("button", name="history", exact=True).click()
    sheet = page.get_by_role("dialog", name="history")
    expect(sheet).to_be_visible()
    trips = page.locator("#history-trips tbody tr")
    expect(trips).to_have_count(4)
    expect(trips.first).to_contain_text("5.0")  # the latest first: the trip closed at start-up
    bars = page.locator("#history-consumption .bar")
    expect(bars).to_have_count(4)
    shown = [float(w) for w in bars.evaluate_all("els => els.map(e => e.dataset.wh)")]
    assert shown == [150.0, 142.9, 136.4, 160.0]  # the oldest on the left
    expect(page.locator("#history-charges tbody tr")).to_have_count(1)
    expect(page.locator("#history-charges tbody tr").first).to_contain_text("30→77")
    expect(page.locator("#history-curve polyline")).to_have_attribute("data-points", "2")
    expect(page.locator("#history-status")).to_have_text("")
    # Readable at 800x480: nothing scrolls or spills out of the screen.
    fits = page.evaluate("""() => {
        const s = document.querySelector('#history');
        const r = document.querySelector('.history-grid').getBoundingClientRect();
        return s.scrollHeight <= s.clientHeight + 1 && r.bottom <= innerHeight && r.right <= innerWidth; }""")
    assert fits
    page.screenshot(path=str(tab_artifact("history-800x480.png")))
    page.get_by_role("button", name="close history").click()
    expect(sheet).to_be_hidden()
    assert tab.errors == []


def test_history_says_why_when_the_journal_cannot_be_read(live_server: Any, tab: Any) -> None:  # noqa: F811
    rt = live_server(**{"journal.enabled": False, "simulation.mode": "off"})
    tab.open(http(rt))
    tab.page.get_by_role("button", name="history", exact=True).click()
    expect(tab.page.locator("#history-status")).to_contain_text("journal.enabled = false")


def tab_artifact(name: str) -> Any:
    from test_web_dashboard import ARTIFACTS

    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name
