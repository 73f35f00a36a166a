"""The MQTT bridge against a real Mosquitto broker, checked with mosquitto_sub / mosquitto_pub."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
from typing import Any

import can
import pytest
from websockets.sync.client import connect

from conftest import free_port, recv_until, wait_for
from evscreen.can.dbc.loader import load_database
from evscreen.mqtt.discovery import SENSORS
from evscreen.state import build_telemetry, telemetry_paths
from ha_discovery_schema import DISCOVERY_TOPIC, validate
from mqtt_broker import Mosquitto, mqtt_flags, wait_until

PREFIX = "evscreen/car1"
DB, _ = load_database()


def telemetry_seqs(payloads: list[bytes]) -> list[int]:
    return [json.loads(p)["seq"] for p in payloads]


def test_telemetry_state_topics_status_and_discovery(broker: Mosquitto, subscribers: Any, live_server: Any) -> None:
    live = subscribers(broker, f"{PREFIX}/telemetry")
    rt = live_server(**mqtt_flags(broker, homeassistant=True, homeassistant_prefix="ha-test"))
    bridge = rt.runtime.mqtt
    live.wait_for(lambda m: len(m) >= 5)
    messages = [json.loads(p) for p in live.payloads(f"{PREFIX}/telemetry")]
    expected_keys = set(build_telemetry(rt.runtime.state, rt.runtime.settings.values)) | {"seq", "vehicle_id"}
    for m in messages:
        assert set(m) == expected_keys
        assert m["type"] == "telemetry" and m["vehicle_id"] == "car1"
    seqs = [m["seq"] for m in messages]
    assert seqs == list(range(1, len(seqs) + 1))  # numbered from 1, no gaps, in order

    # A late subscriber gets every state topic and the status at once: they are retained.
    late = subscribers(broker, f"{PREFIX}/state/#", f"{PREFIX}/status")
    state_topics = {f"{PREFIX}/state/{p.replace('.', '/')}" for p in telemetry_paths()}
    late.wait_for(lambda m: state_topics | {f"{PREFIX}/status"} <= {t for t, _ in m})
    retained = dict(late.messages)
    assert retained[f"{PREFIX}/status"] == b"online"
    assert json.loads(retained[f"{PREFIX}/state/settings/charge_limit"]) == 80
    assert json.loads(retained[f"{PREFIX}/state/settings/drive_mode"]) == "normal"
    satellites = json.loads(retained[f"{PREFIX}/state/gps/satellites"])
    assert isinstance(satellites, int) and satellites >= 0
    assert isinstance(json.loads(retained[f"{PREFIX}/state/battery_soc"]), float)

    # Home Assistant discovery: one device, every config valid, every state topic it reads exists.
    ha = subscribers(broker, "ha-test/#")
    configs = ha.wait_for(lambda m: len(m) >= len(SENSORS) + 1 and m)
    devices = []
    for topic, payload in configs:
        match = DISCOVERY_TOPIC.fullmatch(topic)
        assert match and match["prefix"] == "ha-test", topic
        config = json.loads(payload)
        validate(match["component"], config)
        devices.append(json.dumps(config["device"], sort_keys=True))
        if "state_topic" in config:  # a state topic, or the journal's last trip and charge
            assert config["state_topic"] in state_topics | {f"{PREFIX}/trip/last", f"{PREFIX}/charge/last"}
    assert len(set(devices)) == 1
    assert bridge.connected and bridge.health()["state"] == "connected"


def test_state_topics_publish_only_changes(broker: Mosquitto, subscribers: Any, live_server: Any) -> None:
    rt = live_server(**mqtt_flags(broker))
    watch = subscribers(broker, f"{PREFIX}/state/settings/#", "test/marker")
    topic = f"{PREFIX}/state/settings/charge_limit"
    watch.wait_for(lambda m: topic in {t for t, _ in m})
    # Telemetry keeps flowing (every 0.1 s) while the setting stays put: no new message for it.
    start = rt.runtime.mqtt.outbox.last_seq
    wait_until(lambda: rt.runtime.mqtt.outbox.last_seq >= start + 5, what="five more telemetry ticks")
    broker.publish("test/marker", "1")  # everything the bridge sent before it has arrived once this has
    watch.wait_for(lambda m: ("test/marker", b"1") in m)
    assert watch.payloads(topic) == [b"80"]
    broker.publish(f"{PREFIX}/command", '{"action": "set_charge_limit", "value": 90}')
    watch.wait_for(lambda m: b"90" in [p for t, p in m if t == topic])
    assert watch.payloads(topic) == [b"80", b"90"]


def _ready(broker: Mosquitto, subscribers: Any, *topics: str) -> Any:
    """A subscriber to ``topics`` whose subscription is in place (a retained marker has come back)."""
    broker.publish("test/ready", "1", "-r")
    sub = subscribers(broker, *topics, "test/ready")
    sub.wait_for(lambda m: ("test/ready", b"1") in m)
    return sub


def _car_on_a_silent_can_bus(broker: Mosquitto, live_server: Any, **flags: Any) -> tuple[Any, can.BusABC]:
    """evscreen on real hardware settings, its only car source a CAN bus (python-can's virtual bus)
    that stays silent until the test sends a frame on the returned bus."""
    channel = f"test-mqtt-can-{free_port()}"
    rt = live_server(**mqtt_flags(broker), **{"simulation.mode": "off", "can.enabled": True,
                                              "can.interface": "virtual", "can.channel": channel}, **flags)
    source = next(s for s in rt.runtime.sources if s.name == "can")
    wait_until(lambda: source.bus is not None, what="the CAN source listening")
    return rt, can.Bus(interface="virtual", channel=channel)


def _send_soc(tx: can.BusABC, soc: float, soh: float) -> None:
    message = DB.get_message_by_name("BMS_SoC")
    signals = {sig.name: sig.offset for sig in message.signals} | {"SocDisplay": soc, "SoH": soh}
    tx.send(can.Message(arbitration_id=message.frame_id, is_extended_id=False,
                        data=message.encode(signals, strict=False)))


def _telemetry(messages: list[tuple[str, bytes]]) -> list[dict[str, Any]]:
    return [json.loads(p) for t, p in messages if t == f"{PREFIX}/telemetry"]


def test_the_first_telemetry_after_a_start_carries_real_values(broker: Mosquitto, subscribers: Any,
                                                               live_server: Any) -> None:
    """No empty car at start: telemetry waits until the sources have something to say."""
    sub = _ready(broker, subscribers, f"{PREFIX}/telemetry", f"{PREFIX}/state/settings/charge_limit")
    _, tx = _car_on_a_silent_can_bus(broker, live_server)
    try:
        # The bridge is connected and has published its state (the settings): it has had every
        # chance to publish telemetry, if it were going to publish any without data.
        sub.wait_for(lambda m: f"{PREFIX}/state/settings/charge_limit" in {t for t, _ in m})
        _send_soc(tx, 64.5, 91.0)
        first = sub.wait_for(_telemetry)[0]
    finally:
        tx.shutdown()
    assert first["seq"] == 1
    assert first["battery_soc"] == 64.5 and first["battery_soh"] == 91.0
    assert first["sources"]["can"]["state"] == "live"
    assert first["speed"] is None  # never sent by the car: unknown, not invented


def test_a_source_gone_quiet_keeps_its_last_values_with_their_age(broker: Mosquitto, subscribers: Any,
                                                                  live_server: Any) -> None:
    soc, can_bus = f"{PREFIX}/state/battery_soc", f"{PREFIX}/state/connectivity/can_bus"
    sub = _ready(broker, subscribers, f"{PREFIX}/telemetry", f"{PREFIX}/state/#")
    _, tx = _car_on_a_silent_can_bus(broker, live_server, **{"can.timeout": 0.3})
    try:
        _send_soc(tx, 64.5, 91.0)
        sub.wait_for(lambda m: (soc, b"64.5") in m)
    finally:
        tx.shutdown()  # the car's bus goes quiet
    stale = sub.wait_for(lambda m: [t for t in _telemetry(m) if t["sources"]["can"]["state"] == "stale"])[0]
    assert stale["battery_soc"] == 64.5 and stale["sources"]["can"]["age"] >= 0.3
    sub.wait_for(lambda m: (can_bus, b"false") in m)  # what is known now is published...
    assert sub.payloads(soc) == [b"64.5"]  # ...and the last known value stays retained
    assert [t for t, p in sub.messages if t.startswith(f"{PREFIX}/state/") and p == b"null"] == []


def test_retained_state_is_never_overwritten_by_null_even_across_a_power_cut(
        broker: Mosquitto, subscribers: Any, serve_process: Any) -> None:
    speed, charge_limit = f"{PREFIX}/state/speed", f"{PREFIX}/state/settings/charge_limit"
    watch = _ready(broker, subscribers, f"{PREFIX}/state/#", f"{PREFIX}/status")
    env = {f"EVSCREEN_{k.replace('.', '__').upper()}": str(v).lower() if isinstance(v, bool) else str(v)
           for k, v in mqtt_flags(broker).items()}
    first = serve_process("--simulation", "on", env=env)
    watch.wait_for(lambda m: speed in {t for t, _ in m})
    first.proc.send_signal(signal.SIGKILL)  # the car loses power
    first.proc.wait(10)
    watch.wait_for(lambda m: (f"{PREFIX}/status", b"offline") in m)  # the broker noticed (last will)
    second = serve_process("--simulation", "on", env=env)
    # The new process republishes every known value after it connects, before and after its
    # sources deliver: the settings at once, the car's values a moment later.
    seen = len(watch.messages)
    watch.wait_for(lambda m: {speed, charge_limit} <= {t for t, _ in m[seen:]})
    nulls = [t for t, p in watch.messages if t.startswith(f"{PREFIX}/state/") and p == b"null"]
    assert nulls == []
    assert isinstance(json.loads(watch.payloads(speed)[-1]), float)
    # A newcomer (Home Assistant after a restart) gets a real value for every field it asks.
    late = subscribers(broker, speed, f"{PREFIX}/state/battery_soc")
    late.wait_for(lambda m: len(m) >= 2)
    assert all(isinstance(json.loads(p), float) for _, p in late.messages)
    code, err = second.stop()
    assert code == 0, err


COMMANDS: list[tuple[bytes, dict[str, Any]]] = [
    (b'{"action": "set_drive_mode", "value": "eco", "request_id": "r1"}',
     {"status": "success", "action": "set_drive_mode", "request_id": "r1"}),
    (b"not json{", {"status": "error", "code": "invalid_json"}),
    (b'{"action": "connect_bluetooth", "device_address": "00:1A:7D:DA:71:13", "request_id": 7}',
     {"status": "error", "code": "unauthorized", "action": "connect_bluetooth", "request_id": 7}),
    (b'{"action": "set_brightness", "value": 5, "pad": "' + b"x" * 5000 + b'", "request_id": "big"}',
     {"status": "error", "code": "invalid_message"}),
    (b"\xff\xfe\xfd", {"status": "error", "code": "invalid_message"}),
    (b'{"action": "set_charge_limit", "value": 120, "request_id": "r2"}',
     {"status": "error", "code": "invalid_value", "request_id": "r2"}),
    (b'{"action": "launch_rockets", "request_id": "r3"}', {"status": "error", "code": "unknown_action"}),
    (b"[]", {"status": "error", "code": "invalid_message"}),
    (b'{"action": "play_music", "request_id": "r4"}', {"status": "success", "action": "play_music"}),
]


def test_commands_are_answered_on_the_response_topic(broker: Mosquitto, subscribers: Any, live_server: Any,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    # A retained command would run again after every reconnect: the bridge ignores it.
    broker.publish(f"{PREFIX}/command", '{"action": "set_brightness", "value": 3}', "-r")
    rt = live_server(**mqtt_flags(broker))
    responses = subscribers(broker, f"{PREFIX}/status", f"{PREFIX}/response")
    responses.wait_for(lambda m: (f"{PREFIX}/status", b"online") in m)  # subscribed and the bridge is up
    wait_until(lambda: rt.runtime.mqtt.connected, what="bridge connected")
    before = dict(rt.runtime.settings.values)
    for payload, _ in COMMANDS:
        broker.publish(f"{PREFIX}/command", payload)
    answers = responses.wait_for(
        lambda m: len(r := [json.loads(p) for t, p in m if t == f"{PREFIX}/response"]) >= len(COMMANDS) and r)
    assert len(answers) == len(COMMANDS)
    for (payload, expected), answer in zip(COMMANDS, answers, strict=True):
        assert answer["type"] == "response"
        assert {k: answer.get(k) for k in expected} == expected, (payload[:60], answer)
        if answer["status"] == "error":
            assert answer["error"]
    settings = rt.runtime.settings
    assert settings.get("drive_mode") == "eco"
    assert {k: v for k, v in settings.values.items() if k != "drive_mode"} == \
        {k: v for k, v in before.items() if k != "drive_mode"}
    assert settings.get("brightness") == before["brightness"] != 3  # the retained one did not run
    assert json.loads(settings.path.read_text())["drive_mode"] == "eco"
    assert any("ignoring a retained command" in r.getMessage() for r in caplog.records)


def _commands_answered(broker: Mosquitto, subscribers: Any, rt: Any) -> Any:
    responses = _ready(broker, subscribers, f"{PREFIX}/response")
    wait_until(lambda: rt.runtime.mqtt.connected, what="bridge connected")
    return responses


def _answers_once_this_one_is(responses: Any, request_id: str) -> list[dict[str, Any]]:
    """Every response up to and including the one to ``request_id`` (commands are answered in order)."""
    def done(m: list[tuple[str, bytes]]) -> Any:
        answers = [json.loads(p) for t, p in m if t == f"{PREFIX}/response"]
        return answers if any(a.get("request_id") == request_id for a in answers) else None
    return responses.wait_for(done)


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_clearing_a_retained_command_as_documented_gets_no_answer(broker: Mosquitto, subscribers: Any,
                                                                   live_server: Any, protocol: str) -> None:
    rt = live_server(**mqtt_flags(broker, protocol=protocol))
    responses = _commands_answered(broker, subscribers, rt)
    for flags in (["-r", "-n"], ["-n"]):  # docs/mqtt.md's way to clear one, and a plain empty message
        subprocess.run(["mosquitto_pub", *broker.client_args(), "-q", "1", "-t", f"{PREFIX}/command", *flags],
                       check=True, timeout=10)
    broker.publish(f"{PREFIX}/command", '{"action": "set_drive_mode", "value": "sport", "request_id": "after"}')
    answers = _answers_once_this_one_is(responses, "after")
    assert answers == [{"type": "response", "action": "set_drive_mode", "status": "success", "request_id": "after"}]


def test_a_command_published_retained_while_connected_is_ignored_with_mqtt5(
        broker: Mosquitto, subscribers: Any, live_server: Any, caplog: pytest.LogCaptureFixture) -> None:
    """MQTT 5 keeps the retain flag as published (the bridge asks for it), so a command someone
    publishes with -r while the car is online is recognised, not carried out."""
    rt = live_server(**mqtt_flags(broker, protocol="5"))
    responses = _commands_answered(broker, subscribers, rt)
    before = rt.runtime.settings.get("brightness")
    broker.publish(f"{PREFIX}/command", '{"action": "set_brightness", "value": 3, "request_id": "kept"}', "-r")
    broker.publish(f"{PREFIX}/command", '{"action": "set_drive_mode", "value": "eco", "request_id": "live"}')
    answers = _answers_once_this_one_is(responses, "live")
    assert [a["request_id"] for a in answers] == ["live"]
    assert rt.runtime.settings.get("brightness") == before != 3
    assert rt.runtime.settings.get("drive_mode") == "eco"
    assert any("ignoring a retained command" in r.getMessage() for r in caplog.records)


def test_mqtt5_with_correlation_data(broker: Mosquitto, live_server: Any) -> None:
    rt = live_server(**mqtt_flags(broker, protocol="5"))
    wait_until(lambda: rt.runtime.mqtt.connected, what="bridge connected over MQTT 5")
    assert rt.runtime.mqtt._conn.receive_maximum == 20  # mosquitto's, within what evscreen sends
    # An MQTT 5 client that prints the correlation data; the retained status tells it has subscribed.
    sub = subprocess.Popen(["mosquitto_sub", *broker.client_args(), "-V", "mqttv5", "-q", "1",
                            "-t", f"{PREFIX}/status", "-t", f"{PREFIX}/response", "-F", "%t|%D|%p", "-C", "2",
                            "-W", "10"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert sub.stdout is not None
    assert sub.stdout.readline() == f"{PREFIX}/status||online\n"
    subprocess.run(["mosquitto_pub", *broker.client_args(), "-V", "mqttv5", "-q", "1", "-t", f"{PREFIX}/command",
                    "-D", "publish", "correlation-data", "abc123", "-m", '{"action": "set_twin_mode", "value": "2d"}'],
                   check=True, timeout=10)
    out, err = sub.communicate(timeout=15)
    line = next(x for x in out.splitlines() if x.startswith(f"{PREFIX}/response|"))
    _, correlation, payload = line.split("|", 2)
    assert correlation == "abc123", err
    assert json.loads(payload)["status"] == "success"
    assert rt.runtime.settings.get("twin_mode") == "2d"


def _error_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "evscreen.mqtt.bridge" and r.levelno >= logging.ERROR and "cannot connect" in r.getMessage()]


def _screen_still_served(rt: Any) -> None:
    with connect(rt.url) as ws:
        recv_until(ws, lambda m: m.get("type") == "telemetry")


def _retried_with_one_line(rt: Any, caplog: pytest.LogCaptureFixture, words: str) -> str:
    bridge = rt.runtime.mqtt
    wait_until(lambda: sum("still cannot connect" in r.getMessage() for r in caplog.records) >= 2,
               what="several connection attempts")
    lines = _error_lines(caplog)
    assert len(lines) == 1, lines  # one clear line, however many retries
    assert words in lines[0].lower(), lines[0]
    assert not bridge.connected and words in (bridge.last_error or "").lower()
    _screen_still_served(rt)
    return lines[0]


def test_refused_credentials_one_log_line_and_the_server_keeps_running(
        broker_factory: Any, subscribers: Any, live_server: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="evscreen.mqtt.bridge")
    secured = broker_factory(users={"car": "s3cret"})
    rt = live_server(**mqtt_flags(secured, username="car", password="wrong"))
    line = _retried_with_one_line(rt, caplog, "not authorized")
    assert "mqtt.password" in line


def test_good_credentials_connect(broker_factory: Any, subscribers: Any, live_server: Any) -> None:
    secured = broker_factory(users={"car": "s3cret", "fleet": "f1eet"})
    sub = subscribers(secured, f"{PREFIX}/telemetry", user="fleet", password="f1eet")
    rt = live_server(**mqtt_flags(secured, username="car", password="s3cret"))
    sub.wait_for(lambda m: len(m) >= 2)
    assert rt.runtime.mqtt.connected


def test_unreachable_broker_one_log_line_and_the_server_keeps_running(
        live_server: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="evscreen.mqtt.bridge")
    nobody = Mosquitto.__new__(Mosquitto)
    nobody.port = free_port()
    rt = live_server(**mqtt_flags(nobody))
    _retried_with_one_line(rt, caplog, "connection refused")
    # Telemetry is kept for later, once the simulated car has delivered (nothing is kept before).
    wait_for(lambda: rt.runtime.mqtt.outbox_size > 0, what="telemetry kept in the outbox")


def test_tls_with_the_right_ca(broker_factory: Any, tls_files: Any, subscribers: Any, live_server: Any) -> None:
    secure = broker_factory(tls=tls_files)
    sub = subscribers(secure, f"{PREFIX}/telemetry")  # plain listener of the same broker
    rt = live_server(**mqtt_flags(secure, port=secure.tls_port, tls=True, ca_cert=str(tls_files.ca)))
    sub.wait_for(lambda m: len(m) >= 2)
    assert rt.runtime.mqtt.connection.describe().startswith("mqtts://")


def test_tls_with_a_wrong_ca_fails_cleanly(broker_factory: Any, tls_files: Any, live_server: Any,
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="evscreen.mqtt.bridge")
    secure = broker_factory(tls=tls_files)
    rt = live_server(**mqtt_flags(secure, port=secure.tls_port, tls=True, ca_cert=str(tls_files.other_ca)))
    line = _retried_with_one_line(rt, caplog, "does not verify")
    assert "mqtt.ca_cert" in line and "certificate" in line


def test_tls_insecure_is_loud(broker_factory: Any, tls_files: Any, subscribers: Any, live_server: Any,
                              caplog: pytest.LogCaptureFixture) -> None:
    secure = broker_factory(tls=tls_files)
    sub = subscribers(secure, f"{PREFIX}/telemetry")
    live_server(**mqtt_flags(secure, port=secure.tls_port, tls=True, ca_cert=str(tls_files.other_ca),
                             tls_insecure=True))
    sub.wait_for(lambda m: len(m) >= 1)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "NOT verified" in r.getMessage()]
    assert len(warnings) == 1


def test_last_will_fires_when_evscreen_is_killed(broker: Mosquitto, subscribers: Any, serve_process: Any) -> None:
    status = subscribers(broker, f"{PREFIX}/status")
    env = {f"EVSCREEN_{k.replace('.', '__').upper()}": str(v).lower() if isinstance(v, bool) else str(v)
           for k, v in mqtt_flags(broker).items()}
    server = serve_process("--simulation", "on", env=env)
    status.wait_for(lambda m: b"online" in [p for _, p in m])
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(10)
    status.wait_for(lambda m: [p for _, p in m][-1:] == [b"offline"])


def test_two_cars_with_one_client_id_do_not_flood_the_log(broker: Mosquitto, live_server: Any,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    """Brokers drop the older of two connections with the same client id, so two cars cloned from
    one image knock each other off forever. That is retried with growing delays and logged once."""
    caplog.set_level(logging.DEBUG, logger="evscreen.mqtt.bridge")
    live_server(**mqtt_flags(broker))
    live_server(**mqtt_flags(broker), **{"server.port": free_port()})

    def lost(level: int) -> int:
        return sum(r.levelno == level and "connection to" in r.getMessage() and "lost" in r.getMessage()
                   for r in caplog.records)

    wait_until(lambda: lost(logging.DEBUG) >= 4, what="the two bridges to knock each other off repeatedly")
    assert lost(logging.WARNING) <= 2  # the first loss of each car, then quiet
