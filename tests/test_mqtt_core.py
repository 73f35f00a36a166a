"""The MQTT bridge's parts that need no broker: topics and deadbands, options, backoff, commands and
Home Assistant discovery (the outbox has tests/test_mqtt_outbox.py)."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import jinja2
import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evscreen.config import MqttConfig, load_config
from evscreen.dispatch import Dispatcher
from evscreen.drivers.backoff import Backoff
from evscreen.errors import ConfigError
from evscreen.mqtt.commands import answer_command
from evscreen.mqtt.discovery import RECORD_SENSORS, SENSORS, discovery_messages
from evscreen.mqtt.options import BridgeOptions, allowed_actions, machine_vehicle_id
from evscreen.mqtt.topics import StateTracker, Topics, encode_value
from evscreen.settings import DEFAULT_SETTINGS, SettingsStore
from evscreen.state import STATE_PATHS, VehicleState, build_telemetry, telemetry_paths
from ha_discovery_schema import DISCOVERY_TOPIC, validate

# --- topics and deadbands ----------------------------------------------------------------------------


def test_topic_layout() -> None:
    t = Topics("evscreen/car1")
    assert t.status == "evscreen/car1/status"
    assert t.telemetry == "evscreen/car1/telemetry"
    assert t.command == "evscreen/car1/command"
    assert t.response == "evscreen/car1/response"
    assert t.state("battery_soc") == "evscreen/car1/state/battery_soc"
    assert t.state("gps.latitude") == "evscreen/car1/state/gps/latitude"


def test_state_values_are_json_and_never_empty() -> None:
    assert encode_value(None) == b"null"  # an empty payload would delete the retained message
    assert encode_value("eco") == b'"eco"'
    assert encode_value(True) == b"true"
    assert encode_value(42.5) == b"42.5"
    assert encode_value("Café") == '"Café"'.encode()


def test_first_snapshot_publishes_every_known_field_and_never_null() -> None:
    tracker = StateTracker()
    # Before any source has delivered, only the settings are known: they go out, and no null that
    # would overwrite a real value retained from before.
    settings = {**DEFAULT_SETTINGS, "drive_mode": "eco"}
    empty = build_telemetry(VehicleState(), {"charge_limit": 80, "drive_mode": "eco"})
    assert dict(tracker.changes(empty)) == {"settings.charge_limit": 80, "settings.drive_mode": "eco"}
    # Then every field as its first value arrives.
    state = VehicleState()
    state.register_source("t", simulated=True)
    state.update("t", {path: 1.0 for path in STATE_PATHS})
    full = build_telemetry(state, settings)
    assert {path for path, _ in tracker.changes(full)} == set(telemetry_paths()) - {
        "settings.charge_limit", "settings.drive_mode"}
    assert list(tracker.changes(full)) == []  # nothing moved


def _telemetry(**values: Any) -> dict[str, Any]:
    state = VehicleState()
    state.register_source("t", simulated=True)
    state.update("t", values)
    return build_telemetry(state, {})


def test_deadband_holds_small_moves_and_lets_drift_out() -> None:
    tracker = StateTracker(1.0, ["speed", "gps.latitude"])
    list(tracker.changes(_telemetry(speed=50.0, **{"gps.latitude": 48.0})))
    assert list(tracker.changes(_telemetry(speed=50.6, **{"gps.latitude": 48.00005}))) == []
    # 50.0 -> 50.6 -> 51.2: each step is inside the 1 km/h band, together they are not.
    assert list(tracker.changes(_telemetry(speed=51.2, **{"gps.latitude": 48.00005}))) == [("speed", 51.2)]
    assert list(tracker.changes(_telemetry(speed=51.2, **{"gps.latitude": 48.0002}))) == [("gps.latitude", 48.0002)]


def test_a_value_that_becomes_unknown_keeps_its_last_known_state() -> None:
    tracker = StateTracker(1.0, ["speed", "media.track_title"])
    assert list(tracker.changes(_telemetry(speed=10.0, **{"media.track_title": "A"}))) == [
        ("speed", 10.0), ("media.track_title", "A")]
    # speed unknown: nothing is published (the retained 10.0 stays); strings publish on any change.
    assert list(tracker.changes(_telemetry(speed=None, **{"media.track_title": "B"}))) == [("media.track_title", "B")]
    assert list(tracker.changes(_telemetry(speed=10.2, **{"media.track_title": "B"}))) == []  # within 10.0's band
    assert list(tracker.changes(_telemetry(speed=12.0, **{"media.track_title": None}))) == [("speed", 12.0)]


def test_type_changes_always_publish() -> None:
    tracker = StateTracker(1.0, ["media.duration"])
    list(tracker.changes(_telemetry(**{"media.duration": 200})))
    assert list(tracker.changes(_telemetry(**{"media.duration": "live"}))) == [("media.duration", "live")]


def _published(tracker: StateTracker, path: str, readings: list[float]) -> list[float]:
    return [value for reading in readings for p, value in tracker.changes(_telemetry(**{path: reading}))]


def test_a_value_flickering_at_its_resolution_is_published_once() -> None:
    """ambient_temp at 0.5 degC resolution with a 0.5 degC deadband: 6.0, 6.5, 6.0, 6.5... is one value
    with a flickering last digit, not a change every few seconds."""
    tracker = StateTracker(1.0, ["ambient_temp"])
    assert _published(tracker, "ambient_temp", [6.0, 6.5, 6.0, 6.5, 6.0, 6.5, 6.5, 6.0]) == [6.0]
    # A real move (beyond the band) gets out, and then the flicker around the new value is quiet too.
    assert _published(tracker, "ambient_temp", [7.0, 6.5, 7.0, 6.5, 7.0]) == [7.0]
    assert _published(tracker, "ambient_temp", [6.5, 6.0]) == [6.0]


def test_flicker_of_a_scaled_signal_is_not_taken_for_a_move_by_rounding() -> None:
    # A DBC factor of 0.1: 12 * 0.1 - 7 * 0.1 is 0.5000000000000001, not more than a 0.5 band.
    tracker = StateTracker(1.0, ["battery_soc"])
    assert _published(tracker, "battery_soc", [7 * 0.1, 12 * 0.1, 7 * 0.1, 12 * 0.1]) == [7 * 0.1]


def test_a_sensor_coarser_than_the_band_still_gets_hysteresis() -> None:
    """A whole-degree sensor (DHT11) under a 0.5 degC band: its 1 degC steps flicker too; the band
    widens to the resolution seen, so 21, 22, 21... stays at 21 until the reading reaches 23."""
    tracker = StateTracker(1.0, ["cabin_temp"])
    assert _published(tracker, "cabin_temp", [21.0, 22.0, 21.0, 22.0, 21.0]) == [21.0]
    assert _published(tracker, "cabin_temp", [23.0, 22.0, 23.0]) == [23.0]


def test_deadband_zero_publishes_every_change() -> None:
    tracker = StateTracker(0.0, ["speed"])
    list(tracker.changes(_telemetry(speed=10.0)))
    assert list(tracker.changes(_telemetry(speed=10.01))) == [("speed", 10.01)]
    assert list(tracker.changes(_telemetry(speed=10.01))) == []


# --- options ---------------------------------------------------------------------------------------


def test_vehicle_id_is_stable_and_topic_safe() -> None:
    a, b = machine_vehicle_id(), machine_vehicle_id()
    assert a == b
    assert len(a) == 12 and all(c in "0123456789abcdef" for c in a)


def test_default_ids_and_prefix_follow_the_vehicle_id() -> None:
    options = BridgeOptions.from_config(MqttConfig(vehicle_id="van-7"))
    assert options.client_id == "evscreen-van-7"
    assert options.topics.prefix == "evscreen/van-7"
    default = BridgeOptions.from_config(MqttConfig())
    assert default.topics.prefix == f"evscreen/{machine_vehicle_id()}"


def test_default_allowlist_is_settings_and_media_only() -> None:
    allowed = allowed_actions(MqttConfig().allowed_actions)
    assert allowed is not None
    assert "set_drive_mode" in allowed and "play_music" in allowed and "set_volume" in allowed
    assert "connect_bluetooth" not in allowed
    assert allowed_actions(["*"]) is None


def test_unknown_allowed_action_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"mqtt.allowed_actions: unknown action 'reboot'"):
        allowed_actions(["set_drive_mode", "reboot"])


@pytest.mark.parametrize("prefix", ["a/#", "a/+/b", "/a", "a/", "a//b", "$SYS/x"])
def test_topic_prefix_with_wildcards_or_empty_levels_is_rejected(prefix: str) -> None:
    with pytest.raises(ConfigError, match=r"^mqtt.topic_prefix: "):
        load_config(env={}, flags={"mqtt.topic_prefix": prefix})


def test_env_overrides_reach_the_mqtt_section() -> None:
    loaded = load_config(env={"EVSCREEN_MQTT__BROKER": "broker.example", "EVSCREEN_MQTT__PROTOCOL": "5",
                              "EVSCREEN_MQTT__ALLOWED_ACTIONS": "set_drive_mode, play_music"})
    assert loaded.config.mqtt.broker == "broker.example"
    assert loaded.config.mqtt.protocol == "5"
    assert loaded.config.mqtt.allowed_actions == ["set_drive_mode", "play_music"]


def test_outbox_defaults_hold_a_day_at_the_default_interval() -> None:
    c = MqttConfig()
    assert c.publish_interval == 5.0
    assert c.outbox_max_messages * c.publish_interval >= 24 * 3600
    assert c.outbox_max_age_hours >= 24


def test_backoff_grows_is_capped_and_jittered() -> None:
    # The reconnection policy of the bridge: reconnect_min_delay = 1, reconnect_max_delay = 60.
    backoff = Backoff(1.0, 60.0)
    rng = random.Random(3)
    delays = [backoff.delay(n, rng) for n in range(1, 12)]
    for n, d in enumerate(delays, start=1):
        cap = min(60.0, 2.0 ** (n - 1))
        assert cap / 2 <= d <= cap
    assert len({round(backoff.delay(5, rng), 6) for _ in range(20)}) > 1  # jitter


# --- commands ----------------------------------------------------------------------------------------


@pytest.fixture
def dispatcher(tmp_path: Path) -> Dispatcher:
    return Dispatcher(SettingsStore(tmp_path / "settings.json"))


ALLOWED = allowed_actions(MqttConfig().allowed_actions)


def answer(dispatcher: Dispatcher, payload: bytes, max_size: int = 4096) -> dict[str, Any]:
    return asyncio.run(answer_command(payload, dispatcher, ALLOWED, max_size))


def test_a_valid_command_is_carried_out_and_echoes_request_id(dispatcher: Dispatcher) -> None:
    r = answer(dispatcher, b'{"action": "set_drive_mode", "value": "eco", "request_id": "r1"}')
    assert r == {"type": "response", "action": "set_drive_mode", "status": "success", "request_id": "r1"}
    assert dispatcher.settings.get("drive_mode") == "eco"
    assert dispatcher.settings.flush()
    assert json.loads((dispatcher.settings.path).read_text())["drive_mode"] == "eco"


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"not json{", "invalid_json"),
        (b"\xff\xfe\x00garbage", "invalid_message"),
        (b"[1, 2]", "invalid_message"),
        (b'{"action": "launch_rockets"}', "unknown_action"),
        (b'{"action": "set_charge_limit", "value": 120}', "invalid_value"),
        (b'{"action": "set_charge_limit", "value": "80"}', "invalid_value"),
        (b'{"action": "connect_bluetooth", "device_address": "00:1A:7D:DA:71:13"}', "unauthorized"),
        (b'{"action": "set_brightness", "value": 10, "pad": "' + b"x" * 5000 + b'"}', "invalid_message"),
        (b'{"action": "set_brightness", "value": NaN}', "invalid_json"),
        (b"[" * 100000 + b"]" * 100000, "invalid_json"),  # nesting deep enough to blow the stack
    ],
)
def test_bad_commands_get_one_error_and_change_nothing(dispatcher: Dispatcher, payload: bytes, code: str) -> None:
    before = dict(dispatcher.settings.values)
    r = answer(dispatcher, payload, max_size=4096 if len(payload) < 50000 else 10**6)
    assert r["type"] == "response" and r["status"] == "error" and r["code"] == code, r
    assert dispatcher.settings.values == before
    assert not dispatcher.settings.path.exists()


def test_disallowed_action_echoes_request_id(dispatcher: Dispatcher) -> None:
    r = answer(dispatcher, b'{"action": "connect_bluetooth", "device_address": "00:1A:7D:DA:71:13", "request_id": 7}')
    assert r["code"] == "unauthorized" and r["request_id"] == 7 and r["action"] == "connect_bluetooth"
    assert "mqtt.allowed_actions" in r["error"]


def test_oversized_payload_says_the_limit(dispatcher: Dispatcher) -> None:
    r = answer(dispatcher, b"{" + b" " * 5000 + b"}")
    assert r["code"] == "invalid_message" and "4096" in r["error"] and "5002" in r["error"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(str.encode),
    st.dictionaries(st.sampled_from(["action", "value", "request_id", "volume", "device_address"]),
                    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                              st.text(max_size=20), st.sampled_from(["set_drive_mode", "connect_bluetooth",
                                                                     "set_volume", "eco", "play_music"])),
                    max_size=4).map(lambda d: json.dumps(d).encode()),
))
def test_any_payload_gets_exactly_one_well_formed_response(dispatcher: Dispatcher, payload: bytes) -> None:
    before = dict(dispatcher.settings.values)
    r = answer(dispatcher, payload)
    assert r["type"] == "response" and r["status"] in ("success", "error")
    json.dumps(r)  # serialisable as it will be published
    if r["status"] == "error":
        assert r["code"] in {"invalid_json", "invalid_message", "unknown_action", "invalid_value", "unauthorized",
                             "unavailable"}
        assert dispatcher.settings.values == before
    else:
        assert r["action"] in ALLOWED  # type: ignore[operator]


# --- Home Assistant discovery ------------------------------------------------------------------------


def test_discovery_payloads_satisfy_home_assistant() -> None:
    topics = Topics("evscreen/car.1")
    messages = discovery_messages(topics, "car.1", "homeassistant")
    assert len(messages) == len(SENSORS) + len(RECORD_SENSORS) + 1  # + the journal's last trip/charge
    devices, unique_ids = [], set()
    for topic, payload in messages:
        match = DISCOVERY_TOPIC.fullmatch(topic)
        assert match, topic
        assert match["prefix"] == "homeassistant"
        config = json.loads(payload)
        validate(match["component"], config)
        devices.append(config["device"])
        unique_ids.add(config["unique_id"])
        assert config["availability_topic"] == topics.status
    assert len(unique_ids) == len(messages)
    assert all(d == devices[0] for d in devices)  # one device for the whole car
    covered = {json.loads(p).get("device_class") for _, p in messages}
    assert {"battery", "distance", "speed", "power", "temperature", "pressure", "enum"} <= covered


def test_the_schema_rejects_what_home_assistant_rejects() -> None:
    good = json.loads(discovery_messages(Topics("p"), "v")[0][1])
    bad_variants = [
        {k: v for k, v in good.items() if k != "state_topic"},
        {**good, "unit_of_measurement": "°C"},  # battery in °C
        {**good, "state_class": "total_increasing"},  # not for a battery
        {**good, "options": ["a"]},  # options only for enum sensors
        {**good, "device": {"name": "no identifiers"}},
        {**good, "state_topic": "a/#/b"},
    ]
    for config in bad_variants:
        with pytest.raises(jsonschema.ValidationError):
            validate("sensor", config)


def test_discovery_templates_render_as_home_assistant_would() -> None:
    env = jinja2.Environment()
    state = VehicleState()
    state.register_source("t", simulated=True)
    state.update("t", {"gps.latitude": 48.1, "gps.longitude": 11.5, "gps.altitude": 520.0, "speed": 30.0,
                       "gps.heading": 90.0})
    telemetry = build_telemetry(state, {"drive_mode": "eco"})
    by_topic = {t: json.loads(p) for t, p in discovery_messages(Topics("p"), "v")}
    tracker = next(c for t, c in by_topic.items() if "/device_tracker/" in t)
    attributes = json.loads(env.from_string(tracker["json_attributes_template"]).render(value_json=telemetry))
    assert attributes == {"latitude": 48.1, "longitude": 11.5, "altitude": 520.0, "speed": 30.0, "course": 90.0}
    mode = next(c for c in by_topic.values() if c.get("device_class") == "enum")
    assert env.from_string(mode["value_template"]).render(value_json=json.loads(encode_value("eco"))) == "eco"
    assert env.from_string(mode["value_template"]).render(value_json=None) == "None"  # HA: unknown


def test_every_mqtt_key_is_documented() -> None:
    from conftest import REPO
    from evscreen.config import key_specs

    doc = (REPO / "docs" / "mqtt.md").read_text(encoding="utf-8")
    for spec in key_specs():
        if spec.section == "mqtt":
            assert f"| `{spec.name}` |" in doc, f"mqtt.{spec.name} missing from docs/mqtt.md"
