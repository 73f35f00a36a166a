"""The journal over HTTP (/api/trips, /api/charges and their .csv) and predictions in the telemetry."""

from __future__ import annotations

import csv
import io
import json
import urllib.parse
from typing import Any

import jsonschema
import pytest
from websockets.sync.client import connect

from conftest import REPO, recv_until
from evscreen.config import data_dir
from evscreen.journal.records import Charge, Trip
from evscreen.journal.store import JOURNAL_FILE, JournalStore
from test_web_http import get, http_url

TOKEN = "journal-test-token-123"
T0 = 1_714_550_400.0  # 2024-05-01T08:00:00Z
SCHEMAS = {kind: json.loads((REPO / "docs" / "schema" / f"{kind}.json").read_text()) for kind in ("trips", "charges")}


def seed_journal() -> None:
    """Three closed trips, one trip a power cut left open long ago, and a charge session."""
    store = JournalStore(data_dir() / JOURNAL_FILE)
    trips = [Trip(start=T0 + i * 86400, updated=T0 + i * 86400 + 1800, end=T0 + i * 86400 + 1800,
                  distance_km=20.0 + i, energy_kwh=3.0, regen_kwh=0.4, soc_start=80.0, soc_end=75.0,
                  max_power_kw=60.0, ambient_c_s=18000.0, ambient_s=1800.0, start_latitude=48.1, start_longitude=11.5,
                  end_latitude=48.2, end_longitude=11.6, energy_method="v_i_integral", distance_method="speed_integral")
             for i in range(3)]
    left_open = Trip(start=T0 + 4 * 86400, updated=T0 + 4 * 86400 + 600, distance_km=5.0, energy_kwh=0.8)
    charge = Charge(start=T0 + 3600, updated=T0 + 5400, end=T0 + 5400, energy_kwh=30.0, soc_start=30.0,
                    soc_end=77.0, max_power_kw=75.0, curve={30: (1.0, 50.0), 31: (1.1, 55.0)},
                    energy_method="bms_counters")
    store.save([*trips, left_open, charge])
    store.close()


@pytest.fixture
def journal_server(live_server: Any) -> Any:
    seed_journal()
    return live_server(**{"server.token": TOKEN, "simulation.mode": "off"})


def api(rt: Any, path: str, token: str | None = TOKEN) -> tuple[int, dict[str, str], bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return get(http_url(rt, path), headers)


def test_trips_and_charges_as_json_match_the_schemas_and_the_cli_rows(journal_server: Any) -> None:
    rt = journal_server
    status, headers, body = api(rt, "/api/trips")
    assert status == 200 and headers["Content-Type"] == "application/json"
    trips = json.loads(body)
    jsonschema.validate(trips, SCHEMAS["trips"])
    assert [t["id"] for t in trips] == [4, 3, 2, 1]  # the latest first
    # The trip a power cut left open, days ago, was closed at start-up where its checkpoint left it.
    assert trips[0]["end"] == "2024-05-05T08:10:00Z" and trips[0]["distance_km"] == 5.0
    assert trips[1]["wh_per_km"] == pytest.approx(3000.0 / 22.0, abs=0.1)
    assert trips[1]["ambient_temp_avg"] == 10.0
    status, _, body = api(rt, "/api/charges")
    charges = json.loads(body)
    jsonschema.validate(charges, SCHEMAS["charges"])
    assert charges[0]["curve"] == [[30.0, 72.0], [31.0, 72.0]] and charges[0]["energy_method"] == "bms_counters"


def test_since_and_limit_filter_and_csv_has_the_same_rows(journal_server: Any) -> None:
    rt = journal_server
    _, _, body = api(rt, "/api/trips?since=2024-05-02T00:00Z&limit=2")
    assert [t["id"] for t in json.loads(body)] == [4, 3]
    status, headers, body = api(rt, "/api/trips.csv?since=2024-05-02T00:00Z")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert [r["id"] for r in rows] == ["4", "3", "2"] and rows[0]["soc_start"] == ""  # null -> empty
    _, _, body = api(rt, "/api/charges.csv")
    (row,) = csv.DictReader(io.StringIO(body.decode()))
    assert row["energy_kwh"] == "30.0" and "curve" not in row


@pytest.mark.parametrize(("query", "message"), [
    ("since=tomorrow", "since: 'tomorrow' is not a date"),
    ("limit=0", "limit: must be from 1 to 1000000"),
    ("limit=" + "9" * 5000, "limit: "),
    ("since=" + urllib.parse.quote("2024-13-45"), "since: "),
    ("limit=%00", "limit: "),
])
def test_bad_queries_get_400_with_the_reason(journal_server: Any, query: str, message: str) -> None:
    status, headers, body = api(journal_server, f"/api/trips?{query}")
    assert status == 400 and headers["Content-Type"] == "application/json"
    assert message in json.loads(body)["error"]


def test_the_token_is_required_like_for_the_websocket(journal_server: Any) -> None:
    rt = journal_server
    for path in ("/api/trips", "/api/trips.csv", "/api/charges", "/api/charges.csv"):
        status, headers, body = api(rt, path, token=None)
        assert status == 401 and "token" in json.loads(body)["error"]
        assert headers["WWW-Authenticate"].startswith("Bearer")
        assert api(rt, path, token="wrong")[0] == 401
        assert get(http_url(rt, f"{path}?token={TOKEN}"))[0] == 200


def test_without_the_journal_the_api_says_so(live_server: Any) -> None:
    rt = live_server(**{"journal.enabled": False, "simulation.mode": "off"})
    status, _, body = get(http_url(rt, "/api/trips"))
    assert status == 404 and "journal.enabled = false" in json.loads(body)["error"]


def test_predictions_follow_the_setting_and_learn_from_the_journal(journal_server: Any) -> None:
    rt = journal_server
    rt.call(_set_soc(rt, 50.0))
    with connect(rt.url, additional_headers={"Authorization": f"Bearer {TOKEN}"}, open_timeout=5) as ws:
        ws.send(json.dumps({"action": "toggle_predictions", "value": False}))
        recv_until(ws, lambda m: m.get("type") == "response")
        off = recv_until(ws, lambda m: m.get("type") == "telemetry")
        assert off["settings"]["predictions_on"] is False and off["predictions"] is None
        ws.send(json.dumps({"action": "toggle_predictions", "value": True}))
        recv_until(ws, lambda m: m.get("type") == "response")
        message = recv_until(ws, lambda m: m.get("type") == "telemetry" and m["predictions"] is not None
                             and m["predictions"]["range_km"] is not None)
    predictions = message["predictions"]
    # Learned from the seeded trips: 3 kWh per 5 % of SoC is 60 kWh, consumption ~130-150 Wh/km.
    assert 125.0 <= predictions["consumption_wh_per_km"] <= 150.0
    expected = 0.5 * 60.0 * 1000.0 / predictions["consumption_wh_per_km"]
    assert predictions["range_km"] == pytest.approx(expected, rel=0.01)
    assert predictions["minutes_to_charge_limit"] is None  # not charging
    assert message["range_km"] is None  # the car's own figure is untouched (no car here)


async def _set_soc(rt: Any, soc: float) -> None:
    state = rt.runtime.state
    state.register_source("test", simulated=True, stale_after=3600.0)
    state.update("test", {"battery_soc": soc, "ambient_temp": 10.0})
