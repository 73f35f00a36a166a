"""The VISS v2 endpoint, driven by a client written from the specification (tests/viss_client.py):
every message, every error, filters, limits, auth and TLS, against a live server."""

from __future__ import annotations

import json
import ssl

import jsonschema
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

import viss_schema
from conftest import REPO, recv_json, recv_until
from test_access import tls_files  # noqa: F401 - the server certificate fixture (test_access.py)
from viss_client import VissClient, values_of

TOKEN = "viss-t0ken-Q7"
TB = "Vehicle.Powertrain.TractionBattery"
LIMIT = f"{TB}.Charging.ChargeLimit"
MODE = "Vehicle.Powertrain.Transmission.PerformanceMode"
HMI = "Vehicle.Cabin.Infotainment.HMI"
PRIVATE = "Vehicle.Private.Evscreen"


def viss(server, **kwargs) -> VissClient:
    return VissClient(server.url + "/viss", **kwargs)


def error_of(response) -> tuple[int, str]:
    assert "data" not in response, response
    return response["error"]["number"], response["error"]["reason"]


def settings_of(screen, predicate):
    """The screen's next telemetry whose settings satisfy ``predicate``."""
    return recv_until(screen, lambda m: m.get("type") == "telemetry" and predicate(m["settings"]), timeout=10)


# --- the endpoint -----------------------------------------------------------------------------------


def test_the_endpoint_speaks_vissv2_and_the_screen_protocol_is_unchanged(live_server):
    server = live_server()
    with viss(server) as client:
        assert client.ws.subprotocol == "VISSv2"
    with pytest.raises(InvalidStatus) as refused:
        connect(server.url + "/viss")  # no subprotocol offered
    assert refused.value.response.status_code == 400 and b"VISSv2" in refused.value.response.body
    with connect(server.url) as screen:  # the seed protocol on every other path
        assert recv_json(screen)["type"] == "telemetry"
        assert screen.subprotocol is None


def test_get_a_leaf_a_branch_and_paths(live_server):
    server = live_server()
    server.wait_for_values("speed", "battery_voltage", "battery_current", "power_kw", "tire_pressure.front_left")
    with viss(server) as client:
        leaf = client.get("Vehicle.Speed")
        assert leaf["data"]["path"] == "Vehicle.Speed" and float(leaf["data"]["dp"]["value"]) >= 0
        assert client.get("Vehicle/Speed")["data"]["path"] == "Vehicle.Speed"  # the other delimiter

        hmi = client.get(HMI)
        assert isinstance(hmi["data"], list)
        assert values_of(hmi) == {f"{HMI}.Brightness": "80", f"{HMI}.DayNightMode": "NIGHT"}  # the defaults

        tyres = client.get("Vehicle.Chassis.Axle", {"type": "paths", "parameter": "*.Wheel.*.Tire.Pressure"})
        assert sorted(values_of(tyres)) == [f"Vehicle.Chassis.Axle.Row{r}.Wheel.{s}.Tire.Pressure"
                                            for r in (1, 2) for s in ("Left", "Right")]
        assert all(v.isdigit() for v in values_of(tyres).values())  # uint16 kPa

        battery = client.get(TB, {"type": "paths", "parameter": ["CurrentVoltage", "CurrentCurrent", "CurrentPower"]})
        stamps = {item["dp"]["ts"] for item in battery["data"]}
        assert len(stamps) == 1  # one snapshot
        got = {k.rsplit(".", 1)[1]: float(v) for k, v in values_of(battery).items()}
        # VSS counts current and power positive while charging; both flipped, so P = U * I still holds.
        assert got["CurrentPower"] == pytest.approx(got["CurrentVoltage"] * got["CurrentCurrent"], rel=0.02, abs=300)

    with connect(server.url) as screen, viss(server) as client:
        psi = recv_json(screen)["tire_pressure"]["front_left"]
        kpa = int(values_of(client.get("Vehicle.Chassis.Axle.Row1.Wheel.Left.Tire.Pressure"))[
            "Vehicle.Chassis.Axle.Row1.Wheel.Left.Tire.Pressure"])
        assert kpa == pytest.approx(psi * 6.894757, abs=2)


def test_metadata(live_server):
    server = live_server()
    with viss(server) as client:
        capabilities = client.get("Vehicle", {"type": "dynamic-metadata", "parameter": "server_capabilities"})
        assert {"timebased", "change", "range"} <= set(capabilities["metadata"]["filter"])
        assert capabilities["metadata"]["transport_protocol"] == ["ws"]
        hmi = client.get(HMI, {"type": "static-metadata", "parameter": ""})["metadata"]["HMI"]
        assert hmi["type"] == "branch"
        assert hmi["children"]["DayNightMode"]["allowed"] == ["DAY", "NIGHT"]
        assert hmi["children"]["Brightness"]["datatype"] == "float"
        only = client.get(f"{HMI}.Brightness", {"type": "static-metadata", "parameter": ["unit", "type"]})
        assert only["metadata"] == {"Brightness": {"type": "actuator", "unit": "percent"}}


@pytest.mark.parametrize("path, filter, status", [
    ("Vehicle.Nothing", None, (404, "unavailable_data")),
    ("Vehicle.Body.Horn.IsActive", None, (404, "unavailable_data")),  # VSS has it, evscreen does not
    (f"{PRIVATE}.Predictions.Range", None, (404, "unavailable_data")),  # known node, no value yet
    ("Vehicle.Cabin.*", None, (400, "bad_request")),
    ("Vehicle.Cabin", {"type": "paths", "parameter": ["Infotainment.HMI.Brightness", "Seat.Nothing"]},
     (403, "forbidden_request")),
    ("Vehicle.Speed", {"type": "history", "parameter": "PT1H"}, (404, "unavailable_data")),
    ("Vehicle.Speed", {"type": "timebased", "parameter": {"period": "100"}}, (400, "bad_request")),
    ("Vehicle.Speed", {"type": "curvelog", "parameter": {"maxerr": "1", "bufsize": "10"}}, (400, "bad_request")),
    ("Vehicle.Speed", {"type": "sideways", "parameter": {}}, (400, "bad_request")),
    ("Vehicle.Speed", {"type": "dynamic-metadata", "parameter": "server_capabilities"}, (400, "bad_request")),
])
def test_get_errors(live_server, path, filter, status):
    server = live_server()
    with viss(server) as client:
        response = client.get(path, filter)
        assert error_of(response) == status
        assert response["action"] == "get" and response["error"]["message"]


@pytest.mark.parametrize("text, echoed", [
    ("this is not JSON", {}),
    ('["action", "get"]', {}),
    (b"\x00\x01binary", {}),
    ("[" * 5000 + "]" * 5000, {}),
    ('{"action": "get", "path": "Vehicle.Speed"}', {"action": "get"}),  # no requestId
    ('{"action": "get", "path": "Vehicle.Speed", "requestId": 7}', {"action": "get"}),
    ('{"action": "fly", "requestId": "r1"}', {"requestId": "r1"}),
    ('{"action": "subscription", "requestId": "r2"}', {"requestId": "r2"}),
    ('{"action": "get", "requestId": "r3"}', {"action": "get", "requestId": "r3"}),  # no path
    ('{"action": "get", "path": 5, "requestId": "r4"}', {"action": "get", "requestId": "r4"}),
    ('{"action": "unsubscribe", "requestId": "r5"}', {"action": "unsubscribe", "requestId": "r5"}),
    ('{"action": "subscribe", "path": "Vehicle.Speed", "requestId": "r6"}', {"action": "subscribe", "requestId": "r6"}),
    ('{"action": "get", "path": "Vehicle.Speed", "requestId": "r7", "authorization": 5}',
     {"action": "get", "requestId": "r7"}),
])
def test_malformed_requests_get_a_400_naming_what_is_wrong(live_server, text, echoed):
    server = live_server()
    with viss(server) as client:
        response = client.raw(text)
        assert error_of(response) == (400, "bad_request")
        assert {k: response[k] for k in ("action", "requestId") if k in response} == echoed
        assert client.get("Vehicle.Speed")["action"] == "get"  # the connection goes on


# --- set ------------------------------------------------------------------------------------------


SETS = [  # (VSS path, value, the screen's telemetry check)
    (MODE, "SPORT", lambda t: t["settings"]["drive_mode"] == "sport"),
    (LIMIT, "90", lambda t: t["settings"]["charge_limit"] == 90),
    (f"{HMI}.Brightness", "55", lambda t: t["settings"]["brightness"] == 55),
    (f"{HMI}.DayNightMode", "DAY", lambda t: t["settings"]["light_theme"] is True),
    ("Vehicle.Cabin.Infotainment.Media.Volume", "30", lambda t: t["media"]["volume"] == 0.3),
    (f"{PRIVATE}.Settings.RegenLevel", "HIGH", lambda t: t["settings"]["regen_level"] == "high"),
    (f"{PRIVATE}.Settings.IsPredictionEnabled", "false", lambda t: t["settings"]["predictions_on"] is False),
    (f"{PRIVATE}.Settings.TwinMode", "2D", lambda t: t["settings"]["twin_mode"] == "2d"),
    ("Vehicle.Cabin.Infotainment.Media.Action", "STOP", lambda t: t["media"]["is_playing"] is False),
    ("Vehicle.Cabin.Infotainment.Media.Action", "PLAY", lambda t: t["media"]["is_playing"] is True),
]


def test_set_goes_through_the_screens_commands_and_shows_in_its_telemetry(live_server):
    server = live_server()
    server.wait_for_values("media.is_playing")
    with connect(server.url) as screen, viss(server) as client:
        for path, value, shown in SETS:
            response = client.set(path, value)
            assert "error" not in response, response
            recv_until(screen, lambda m, shown=shown: m.get("type") == "telemetry" and shown(m), timeout=10)
            if "Action" not in path:
                assert values_of(client.get(path)) == {path: value}
    counts = server.runtime.dispatcher.counts
    assert counts["ok"] >= len(SETS)


@pytest.mark.parametrize("path, value, status, words", [
    ("Vehicle.Speed", "10", (400, "bad_request"), "sensor"),
    (HMI, "50", (400, "bad_request"), "branch"),
    ("Vehicle.Nothing", "1", (404, "unavailable_data"), "no VSS node"),
    (LIMIT, 80, (400, "invalid_data"), "string"),
    (LIMIT, "30", (400, "invalid_data"), "50 to 100"),  # the screen's own rule
    (LIMIT, "80.5", (400, "invalid_data"), "integer"),
    (LIMIT, "eighty", (400, "invalid_data"), "number"),
    (MODE, "SNOW", (400, "invalid_data"), "ECONOMY, NORMAL, SPORT"),
    (f"{HMI}.Brightness", "55.5", (400, "invalid_data"), "integer"),
    (f"{PRIVATE}.Settings.IsPredictionEnabled", "yes", (400, "invalid_data"), "true"),
    ("Vehicle.Cabin.Infotainment.Media.Action", "FAST_FORWARD", (400, "invalid_data"), "PLAY"),
])
def test_set_errors_leave_the_setting_alone(live_server, path, value, status, words):
    server = live_server()
    with connect(server.url) as screen, viss(server) as client:
        before = recv_json(screen)["settings"]
        if isinstance(value, str):
            response = client.set(path, value)
        else:  # not a VISS value at all: the client's own schema check would refuse to send it
            response = client.raw(json.dumps({"action": "set", "path": path, "value": value, "requestId": "v"}))
        assert error_of(response) == status and words in response["error"]["message"]
        client.set(f"{HMI}.Brightness", "81")  # a marker: once it shows, the bad set has been handled
        after = settings_of(screen, lambda s: s["brightness"] == 81)["settings"]
        assert {**after, "brightness": before["brightness"]} == before


def test_set_without_a_value(live_server):
    server = live_server()
    with viss(server) as client:
        response = client.raw(json.dumps({"action": "set", "path": LIMIT, "requestId": "s1"}))
        assert error_of(response) == (400, "bad_request") and response["requestId"] == "s1"


# --- subscriptions --------------------------------------------------------------------------------


def timebased(period_ms: int) -> dict:
    return {"type": "timebased", "parameter": {"period": str(period_ms)}}


def test_timebased_events_come_at_their_periods(live_server):
    server = live_server()
    server.wait_for_values()
    with viss(server) as client:
        fast = client.subscribe("Vehicle.Speed", timebased(100))["subscriptionId"]
        slow = client.subscribe("Vehicle.Chassis.Axle", timebased(400))["subscriptionId"]
        assert fast != slow
        client.wait_events(slow, 4)
        # Events come on a grid (multiples of the period), so the slow one's 4th event comes 1.2 to
        # 1.6 s after subscribing, by when the fast one (every 0.1 s) has sent 12 to 16; a loaded
        # machine may make it skip a few, never send more (no bursts of late events).
        count = len(client.events[fast])
        assert 8 <= count <= 17, count
        event = client.next_event(fast)
        assert event["subscriptionId"] == fast and values_of(event).keys() == {"Vehicle.Speed"}
        tyres = client.next_event(slow)
        assert isinstance(tyres["data"], list) and len(tyres["data"]) == 4
        stamps = [e["ts"] for e in client.events[fast]]
        assert stamps == sorted(stamps)


def test_change_filter_reports_moves_from_the_last_reported_value(live_server):
    server = live_server()
    with viss(server) as client, viss(server) as setter:
        changed = {"type": "change", "parameter": {"logic-op": "ne", "diff": "0"}}
        mode = client.subscribe(MODE, changed)["subscriptionId"]
        by_five = client.subscribe(LIMIT, {"type": "change", "parameter": {"logic-op": "gt", "diff": "5"}})[
            "subscriptionId"]
        switched_on = client.subscribe(f"{PRIVATE}.Settings.IsPredictionEnabled",
                                       {"type": "change", "parameter": {"logic-op": "gt", "diff": "0"}})[
            "subscriptionId"]

        setter.set(MODE, "SPORT")
        assert values_of(client.next_event(mode)) == {MODE: "SPORT"}
        setter.set(MODE, "SPORT")  # no change: no event
        setter.set(MODE, "ECONOMY")
        assert values_of(client.next_event(mode)) == {MODE: "ECONOMY"}

        setter.set(LIMIT, "83")  # 80 -> 83: not more than 5
        setter.set(LIMIT, "86")  # 6 above the 80 it started from
        assert values_of(client.next_event(by_five)) == {LIMIT: "86"}
        setter.set(LIMIT, "90")  # 4 above the 86 last reported
        setter.set(LIMIT, "95")
        assert values_of(client.next_event(by_five)) == {LIMIT: "95"}

        # Booleans count transitions: true -> false is not "gt", false -> true is. A second
        # subscription ("lt") shows when the false has been seen, before it is switched back.
        predictions = f"{PRIVATE}.Settings.IsPredictionEnabled"
        switched_off = client.subscribe(predictions, {"type": "change", "parameter": {"logic-op": "lt", "diff": "0"}})[
            "subscriptionId"]
        setter.set(predictions, "false")
        assert values_of(client.next_event(switched_off)) == {predictions: "false"}
        setter.set(predictions, "true")
        assert values_of(client.next_event(switched_on)) == {predictions: "true"}
        assert not any(client.events[sid] for sid in (mode, by_five, switched_on, switched_off))


def test_range_filter_reports_new_values_inside_the_range(live_server):
    server = live_server()
    with viss(server) as client, viss(server) as setter:
        above = client.subscribe(LIMIT, {"type": "range", "parameter": {"boundary-op": "gt", "boundary": "85"}})[
            "subscriptionId"]
        outside = client.subscribe(LIMIT, {"type": "range", "parameter": [
            {"boundary-op": "lt", "boundary": "55", "combination-op": "OR"},
            {"boundary-op": "gte", "boundary": "100"}]})["subscriptionId"]
        setter.set(LIMIT, "90")
        assert values_of(client.next_event(above)) == {LIMIT: "90"}
        setter.set(LIMIT, "60")  # in neither range
        setter.set(LIMIT, "50")
        assert values_of(client.next_event(outside)) == {LIMIT: "50"}
        setter.set(LIMIT, "100")
        assert values_of(client.next_event(above)) == {LIMIT: "100"}
        assert values_of(client.next_event(outside)) == {LIMIT: "100"}
        assert not client.events[above] and not client.events[outside]


@pytest.mark.parametrize("path, filter", [
    ("Vehicle.Cabin", {"type": "change", "parameter": {"logic-op": "ne", "diff": "0"}}),  # which signal?
    (MODE, {"type": "range", "parameter": {"boundary-op": "gt", "boundary": "1"}}),  # a string
    (MODE, {"type": "change", "parameter": {"logic-op": "gt", "diff": "1"}}),
    ("Vehicle.Speed", {"type": "change", "parameter": {"logic-op": "bigger", "diff": "1"}}),
    ("Vehicle.Speed", {"type": "change", "parameter": {"logic-op": "gt", "diff": 1}}),
    ("Vehicle.Speed", {"type": "range", "parameter": [{"boundary-op": "gt", "boundary": "1"}] * 3}),
    ("Vehicle.Speed", {"type": "timebased", "parameter": {"period": 500}}),
    ("Vehicle.Speed", {"type": "timebased", "parameter": {"period": "-5"}}),
    ("Vehicle.Speed", {"type": "paths", "parameter": "x"}),  # no trigger
    ("Vehicle.Speed", [timebased(500), timebased(600)]),
    ("Vehicle.Speed", {"type": "static-metadata", "parameter": ""}),
])
def test_subscribe_errors(live_server, path, filter):
    server = live_server()
    with viss(server) as client:
        assert error_of(client.subscribe(path, filter)) == (400, "bad_request")


def test_change_on_a_branch_watches_the_first_path_of_its_paths_filter(live_server):
    server = live_server()
    with viss(server) as client:
        sid = client.subscribe("Vehicle.Cabin.Infotainment", [
            {"type": "paths", "parameter": ["HMI.DayNightMode", "HMI.Brightness"]},
            {"type": "change", "parameter": {"logic-op": "ne", "diff": "0"}}])["subscriptionId"]
        client.set(f"{HMI}.Brightness", "40")  # not the watched signal
        client.set(f"{HMI}.DayNightMode", "DAY")
        assert values_of(client.next_event(sid)) == {f"{HMI}.DayNightMode": "DAY", f"{HMI}.Brightness": "40"}


def test_unsubscribe_stops_the_events(live_server):
    server = live_server()
    server.wait_for_values()
    with viss(server) as client:
        gone = client.subscribe("Vehicle.Speed", timebased(100))["subscriptionId"]
        kept = client.subscribe("Vehicle.Speed", timebased(100))["subscriptionId"]
        client.wait_events(gone, 2)
        response = client.unsubscribe(gone)
        assert response["subscriptionId"] == gone and "error" not in response
        after = len(client.events[gone])
        client.wait_events(kept, 5)
        assert len(client.events[gone]) == after  # none after the response
        again = client.unsubscribe(gone)
        assert error_of(again) == (400, "invalid_data") and again["subscriptionId"] == gone
    with viss(server) as other:  # a subscription belongs to its connection
        assert error_of(other.unsubscribe(kept)) == (400, "invalid_data")


def test_subscribing_and_unsubscribing_in_a_loop_holds_no_memory(live_server):
    server = live_server(**{"server.command_rate": 0.0})
    with viss(server) as client:
        for _ in range(300):  # a day's period: each entry would wait a day to leave the scheduler
            sid = client.subscribe("Vehicle.Speed", timebased(86_400_000))["subscriptionId"]
            assert "error" not in client.unsubscribe(sid)
        kept = client.subscribe("Vehicle.Speed", timebased(100))["subscriptionId"]
        client.wait_events(kept, 2)

        async def scheduled() -> int:
            return len(server.runtime.viss._heap)

        assert server.call(scheduled()) < 200


def test_limits_on_subscriptions_and_periods(live_server):
    server = live_server(**{"viss.max_subscriptions": 3, "viss.min_period": 200})
    with viss(server) as client, viss(server) as other:
        ids = [client.subscribe("Vehicle.Speed", timebased(1000))["subscriptionId"] for _ in range(3)]
        assert all(ids)
        assert error_of(client.subscribe("Vehicle.Speed", timebased(1000))) == (403, "forbidden_request")
        assert "subscribe" in other.subscribe("Vehicle.Speed", timebased(1000))["action"]  # its own allowance
        too_fast = other.subscribe("Vehicle.Speed", timebased(100))
        assert error_of(too_fast) == (400, "invalid_data") and "200" in too_fast["error"]["message"]
        client.unsubscribe(ids[0])
        assert "error" not in client.subscribe("Vehicle.Speed", timebased(1000))


def test_a_request_flood_gets_503_then_is_disconnected(live_server):
    server = live_server(**{"server.command_rate": 5.0, "server.command_burst": 10})
    with viss(server) as other, connect(server.url + "/viss", subprotocols=["VISSv2"]) as flooder:
        for i in range(20):
            flooder.send(json.dumps({"action": "get", "path": MODE, "requestId": str(i)}))
        responses = [json.loads(flooder.recv(timeout=5)) for _ in range(20)]
        assert [r["requestId"] for r in responses] == [str(i) for i in range(20)]
        assert all("data" in r for r in responses[:10])
        limited = [r for r in responses if "error" in r]
        assert len(limited) >= 8 and all(error_of(r) == (503, "service_unavailable") for r in limited)
        with pytest.raises(ConnectionClosed) as closed:
            for _ in range(500):
                flooder.send(json.dumps({"action": "get", "path": MODE, "requestId": "x"}))
            while True:
                flooder.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        assert "data" in other.get(MODE)


def test_an_oversized_request_closes_with_1009(live_server):
    server = live_server(**{"server.max_message_size": 1024})
    with viss(server) as other, connect(server.url + "/viss", subprotocols=["VISSv2"], max_size=None) as abuser:
        abuser.send(json.dumps({"action": "get", "path": MODE, "requestId": "x" * 5000}))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                abuser.recv(timeout=5)
        assert closed.value.rcvd.code == 1009
        assert "data" in other.get(MODE)


# --- auth and TLS ---------------------------------------------------------------------------------


def test_token_in_each_request_or_at_the_upgrade(live_server):
    server = live_server(**{"server.token": TOKEN})
    with viss(server) as anonymous:
        assert error_of(anonymous.get("Vehicle.Speed")) == (401, "missing_token")
        assert error_of(anonymous.set(MODE, "SPORT")) == (401, "missing_token")
    with viss(server, token="wrong") as wrong:
        assert error_of(wrong.get("Vehicle.Speed")) == (401, "invalid_token")
    with viss(server, token=TOKEN) as in_requests:
        assert "error" not in in_requests.set(MODE, "SPORT")
    with viss(server, bearer=TOKEN) as at_upgrade:
        assert "error" not in at_upgrade.get(MODE)
        assert error_of(at_upgrade.request({"action": "get", "path": MODE, "authorization": "nope"})) == (
            401, "invalid_token")
    with VissClient(f"{server.url}/viss?token={TOKEN}") as in_query:
        assert "error" not in in_query.get(MODE)
    with pytest.raises(InvalidStatus) as refused:
        viss(server, bearer="wrong")
    assert refused.value.response.status_code == 401
    with pytest.raises(InvalidStatus):
        connect(server.url)  # the screen's protocol still needs it at the upgrade


def test_origins_as_for_the_screen(live_server):
    server = live_server(**{"server.allowed_origins": ["https://screen.local"]})
    with pytest.raises(InvalidStatus) as refused:
        viss(server, origin="http://evil.example")
    assert refused.value.response.status_code == 403
    with viss(server, origin="https://screen.local") as allowed:
        assert allowed.ws.subprotocol == "VISSv2"


def test_viss_connections_count_towards_the_connection_limit(live_server):
    server = live_server(**{"server.max_connections": 1})
    with viss(server) as client:
        with pytest.raises(InvalidStatus) as refused:
            connect(server.url)
        assert refused.value.response.status_code == 503
        assert "error" not in client.get(MODE)


def test_wss_when_tls_is_configured(live_server, tls_files):  # noqa: F811 - the fixture imported above
    server = live_server(**{"server.tls_cert": str(tls_files / "cert.pem"), "server.tls_key": str(tls_files / "key.pem")})
    context = ssl.create_default_context(cafile=str(tls_files / "ca.pem"))
    url = server.url.replace("ws://", "wss://")
    with VissClient(url + "/viss", ssl=context) as client:
        assert client.get("Vehicle", {"type": "dynamic-metadata", "parameter": "server_capabilities"})[
            "metadata"]["transport_protocol"] == ["wss"]
    with pytest.raises(Exception):  # noqa: B017 - plain ws to a TLS port fails in the handshake
        VissClient(server.url + "/viss", open_timeout=3)


# --- schemas ----------------------------------------------------------------------------------------


def test_every_message_of_a_session_matches_the_published_schemas(live_server):
    """docs/schema/viss-request.json and viss-server.json describe what really goes over the wire."""
    docs = REPO / "docs" / "schema"
    request_schema = jsonschema.Draft202012Validator(json.loads((docs / "viss-request.json").read_text()))
    server_schema = jsonschema.Draft202012Validator(json.loads((docs / "viss-server.json").read_text()))
    server = live_server()
    server.wait_for_values()
    with viss(server) as client:
        client.get("Vehicle.Speed")
        client.get(HMI)
        client.get("Vehicle", {"type": "dynamic-metadata", "parameter": "server_capabilities"})
        client.get(HMI, {"type": "static-metadata", "parameter": ""})
        client.get("Vehicle.Nothing")
        client.set(MODE, "SPORT")
        client.set(MODE, "SNOW")
        sid = client.subscribe("Vehicle.Chassis.Axle", timebased(100))["subscriptionId"]
        client.subscribe(LIMIT, {"type": "range", "parameter": {"boundary-op": "gt", "boundary": "0"}})
        client.wait_events(sid, 2)
        client.unsubscribe(sid)
        client.unsubscribe(sid)
        client.raw("{")
        kinds = set()
        for direction, message in client.log:
            schema = request_schema if direction == "sent" else server_schema
            assert list(schema.iter_errors(message)) == [], message
            kinds.add(viss_schema.kind_of(message) if direction == "received" else message["action"])
    assert {"getSuccessResponse", "getMetadataResponse", "getErrorResponse", "setSuccessResponse", "setErrorResponse",
            "subscribeSuccessResponse", "subscriptionEvent", "unsubscribeSuccessResponse",
            "unsubscribeErrorResponse"} <= kinds


# --- the schemas are not rubber stamps ---------------------------------------------------------------


def test_the_specification_schemas_reject_wrong_messages():
    good = {"action": "get", "requestId": "1", "data": {"path": "Vehicle.Speed", "dp": {"value": "5", "ts":
            "2026-01-01T00:00:00.000Z"}}, "ts": "2026-01-01T00:00:00Z"}
    assert viss_schema.check(good) == "getSuccessResponse"
    for broken in (
        {**good, "requestId": 1},
        {**good, "data": {"path": "Vehicle.Speed", "dp": {"value": 5, "ts": "2026-01-01T00:00:00Z"}}},
        {**good, "data": {"path": "Vehicle.Speed", "dp": {"value": "5"}}},
        {**good, "data": {"path": "Vehicle.Speed", "dp": {"value": "5", "ts": "yesterday"}}},
        {"action": "get", "requestId": "1", "error": {"number": "404", "reason": "x", "message": "y"}, "ts": "2026-01-01T00:00:00Z"},
        {"action": "subscribe", "requestId": "1", "ts": "2026-01-01T00:00:00Z"},  # no subscriptionId
        {"action": "subscription", "subscriptionId": "1", "data": good["data"]},  # no ts
        {"action": "sideways", "requestId": "1", "ts": "2026-01-01T00:00:00Z"},
    ):
        with pytest.raises(jsonschema.ValidationError):
            viss_schema.check(broken)
    with pytest.raises(jsonschema.ValidationError):
        viss_schema.check({"action": "get", "path": "Vehicle.Speed"}, "getRequest")  # no requestId
