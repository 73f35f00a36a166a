"""The VISS v2 core without sockets: parsing, addressing, filters, responses."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import viss_schema
from evscreen.vss import viss_protocol as vp
from evscreen.vss.catalog import BY_FIELD, CATALOG
from evscreen.vss.errors import VissError
from evscreen.vss.filters import Change, Range, Timebased
from evscreen.vss.tree import SignalTree, normalize

TREE = SignalTree(CATALOG)
LIMITS = (100, 86_400_000)


def parse(message: dict | str) -> vp.Request:
    return vp.parse_request(message if isinstance(message, str) else json.dumps(message), TREE, LIMITS)


def refused(message: dict | str) -> VissError:
    with pytest.raises(VissError) as caught:
        parse(message)
    return caught.value


def test_the_tree_addresses_leaves_branches_and_relative_patterns():
    assert [s.path for s in TREE.resolve("Vehicle.Speed")] == ["Vehicle.Speed"]
    assert len(TREE.resolve("Vehicle")) == len(CATALOG)
    assert TREE.resolve("Vehicle.Spee") is None and TREE.resolve("Vehicle.Speed.X") is None
    tyres = TREE.match("Vehicle.Chassis", "Axle.*.Wheel.*.Tire.Pressure")
    assert [s.field for s in tyres] == [f"tire_pressure.{p}" for p in ("front_left", "front_right", "rear_left",
                                                                        "rear_right")]
    assert TREE.match("Vehicle.Chassis", "Axle.*") == tyres  # a branch: every leaf below it
    assert TREE.match("Vehicle.Chassis", "Axle") == tyres
    assert TREE.match("Vehicle.Chassis", "*.Nothing") == []
    assert normalize("/Vehicle/Cabin/Infotainment") == "Vehicle.Cabin.Infotainment"


def test_get_set_subscribe_unsubscribe_parse_into_typed_requests():
    get = parse({"action": "get", "path": "Vehicle.Cabin.Infotainment.HMI", "requestId": "1"})
    assert isinstance(get, vp.Get) and get.many and len(get.signals) == 2
    assert not parse({"action": "get", "path": "Vehicle.Speed", "requestId": "1"}).many
    set_ = parse({"action": "set", "path": "Vehicle.Powertrain.TractionBattery.Charging.ChargeLimit", "value": "90",
                  "requestId": "2", "authorization": "t"})
    assert isinstance(set_, vp.Set) and set_.value == 90 and set_.authorization == "t"
    sub = parse({"action": "subscribe", "path": "Vehicle.Speed", "requestId": "3",
                 "filter": {"type": "timebased", "parameter": {"period": "250"}}})
    assert isinstance(sub, vp.Subscribe) and sub.trigger == Timebased(250)
    unsub = parse({"action": "unsubscribe", "subscriptionId": "7", "requestId": "4"})
    assert isinstance(unsub, vp.Unsubscribe) and unsub.subscription_id == "7"


@pytest.mark.parametrize("message, status, action, request_id", [
    ("{", (400, "bad_request"), None, None),
    ("NaN", (400, "bad_request"), None, None),
    ('{"action": "get", "path": "Vehicle.Speed", "requestId": "' + "x" * 129 + '"}', (400, "bad_request"), "get", None),
    ({"action": "get", "path": "", "requestId": "1"}, (400, "bad_request"), "get", "1"),
    ({"action": "get", "path": "Vehicle.Speed", "requestId": "1", "filter": []}, (400, "bad_request"), "get", "1"),
    ({"action": "get", "path": "Vehicle.Speed", "requestId": "1", "filter": [{"type": "paths", "parameter": "a"}] * 3},
     (400, "bad_request"), "get", "1"),
    ({"action": "get", "path": "Vehicle.Speed", "requestId": "1", "filter": {"type": "paths", "parameter": "Speed"}},
     (400, "bad_request"), "get", "1"),  # paths below a leaf
    ({"action": "set", "path": "Vehicle.Speed", "value": "1", "requestId": "1", "filter": {"type": "paths",
      "parameter": "x"}}, (400, "bad_request"), "set", "1"),
    ({"action": "set", "path": "Vehicle.Cabin.Infotainment.Media.Volume", "value": "101", "requestId": "1"},
     (400, "invalid_data"), "set", "1"),  # VSS's own max
    ({"action": "subscribe", "path": "Vehicle.Speed", "requestId": "1",
      "filter": {"type": "timebased", "parameter": {"period": "99"}}}, (400, "invalid_data"), "subscribe", "1"),
    ({"action": "subscribe", "path": "Vehicle.Speed", "requestId": "1",
      "filter": {"type": "timebased", "parameter": {"period": "86400001"}}}, (400, "invalid_data"), "subscribe", "1"),
    ({"action": "unsubscribe", "subscriptionId": 5, "requestId": "1"}, (400, "bad_request"), "unsubscribe", "1"),
])
def test_errors_name_what_they_can_of_the_request(message, status, action, request_id):
    error = refused(message)
    assert (error.number, error.reason) == status and str(error)
    response = error.response("2026-01-01T00:00:00.000Z")
    assert response.get("action") == action and response.get("requestId") == request_id
    viss_schema.check(response)


def test_change_compares_numbers_with_the_last_report_and_others_with_the_last_sample():
    gt5 = Change("gt", 5)
    last = 80
    reported = []
    for value in (83, 86, 90, 95, 70, 74, 101):
        fires, last = gt5.step(last, value)
        if fires:
            reported.append(value)
    assert reported == [86, 95, 101]  # 70 is a fall; 101 is 6 above the 95 last reported
    ne = Change("ne", 0)
    assert ne.step(None, 3.0) == (True, 3.0)  # a value appears
    assert ne.step(3.0, None) == (False, 3.0)  # a value disappears: nothing to report
    on = Change("gt", 0)
    last_b, fired = True, []
    for value in (False, True, True, False, True):
        fires, last_b = on.step(last_b, value)
        fired.append(fires)
    assert fired == [False, True, False, False, True]
    assert Change("ne", 0).step("NORMAL", "SPORT") == (True, "SPORT")
    assert Change("ne", 0).step("SPORT", "SPORT") == (False, "SPORT")


def test_range_with_one_or_two_boundaries():
    inside = Range((("gte", 10.0), ("lt", 20.0)), "AND")
    assert [inside.holds(v) for v in (9.9, 10, 19.9, 20)] == [False, True, True, False]
    outside = Range((("lt", 10.0), ("gt", 20.0)), "OR")
    assert [outside.holds(v) for v in (9, 15, 21, None)] == [True, False, True, False]
    parsed = parse({"action": "subscribe", "path": "Vehicle.Speed", "requestId": "1", "filter": {
        "type": "range", "parameter": [{"boundary-op": "lt", "boundary": "10", "combination-op": "OR"},
                                       {"boundary-op": "gt", "boundary": "20"}]}})
    assert parsed.trigger == outside


def test_responses_and_events_match_the_specification_schemas():
    ts = vp.timestamp(1_767_225_600.123)
    assert ts == "2026-01-01T00:00:00.123Z"
    one = vp.data([("Vehicle.Speed", "12.5")], ts, many=False)
    many = vp.data([("Vehicle.Speed", "12.5"), ("Vehicle.Exterior.AirTemperature", "4")], ts, many=True)
    for message in (vp.get_response("1", one, ts), vp.get_response("1", many, ts), vp.set_response("2", ts),
                    vp.subscribe_response("3", "9", ts), vp.unsubscribe_response("4", "9", ts),
                    vp.subscription_event("9", many, ts),
                    vp.subscription_error("9", VissError((500, "internal_error"), "broke"), ts),
                    vp.metadata_response("5", vp.server_capabilities(True), ts)):
        viss_schema.check(message)


def test_static_metadata_nests_like_the_vss_export():
    hmi = TREE.resolve("Vehicle.Cabin.Infotainment.HMI")
    meta = vp.static_metadata("Vehicle.Cabin.Infotainment.HMI", tuple(hmi), (), TREE)
    assert meta["HMI"]["children"]["DayNightMode"] == {
        "type": "actuator", "datatype": "string", "description": BY_FIELD["settings.light_theme"].description,
        "allowed": ["DAY", "NIGHT"]}
    deep = vp.static_metadata("Vehicle.Chassis", tuple(TREE.resolve("Vehicle.Chassis")), ("unit",), TREE)
    assert deep["Chassis"]["children"]["Axle"]["children"]["Row1"]["children"]["Wheel"]["children"]["Left"][
        "children"]["Tire"]["children"]["Pressure"] == {"unit": "kPa"}


@settings(max_examples=300, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                        st.sampled_from(["action", "path", "value", "filter", "requestId", "subscriptionId", "type",
                                         "parameter", "period", "logic-op", "diff", "boundary-op", "boundary",
                                         "authorization"]) | st.text(max_size=5), inner, max_size=6),
                    max_leaves=20))
def test_any_json_gets_a_request_or_an_error_never_a_crash(obj):
    try:
        text = json.dumps(obj)
    except ValueError:
        return
    try:
        parse(text)
    except VissError as exc:
        viss_schema.check(exc.response("2026-01-01T00:00:00Z"))
