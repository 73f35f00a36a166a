"""`probe_mqtt`: a round trip through a real broker, or the reason it failed and what to check."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from conftest import free_port
from evscreen.config import MqttConfig, load_config
from evscreen.tools.probe.mqtt import round_trips as probe_mqtt
from mqtt_broker import Mosquitto


def probe(duration: float = 0.0, **settings: Any) -> dict[str, Any]:
    config = MqttConfig(**{"broker": "127.0.0.1", "vehicle_id": "probe-car", "connect_timeout": 2.0, **settings})
    return asyncio.run(probe_mqtt(config, duration))


def test_probe_round_trip(broker: Mosquitto) -> None:
    result = probe(0.5, port=broker.port)
    assert result["ok"], result
    assert result["broker"] == f"mqtt://127.0.0.1:{broker.port}"
    assert result["topic"].startswith("evscreen/probe-car/probe/")
    assert result["round_trips"] >= 2  # repeated for the duration
    rtt = result["rtt_ms"]
    assert 0 < rtt["min"] <= rtt["median"] <= rtt["max"]
    assert result["summary"].startswith(f"mqtt://127.0.0.1:{broker.port}, round trip")


def test_probe_mqtt5_reports_broker_properties(broker: Mosquitto) -> None:
    # The whole loaded config is accepted too, as `evscreen probe mqtt` has it.
    loaded = load_config(env={}, flags={"mqtt.broker": "127.0.0.1", "mqtt.port": broker.port, "mqtt.protocol": "5"})
    result = asyncio.run(probe_mqtt(loaded, 0.0))
    assert result["ok"] and result["round_trips"] == 1
    assert "ReceiveMaximum" in result["broker_properties"]


def test_probe_refused(broker: Mosquitto) -> None:
    result = probe(port=free_port())
    assert not result["ok"]
    assert "connection refused" in result["error"] and "mqtt.port" in result["advice"]
    assert "connection refused" in result["summary"]


def test_probe_bad_password(broker_factory: Any) -> None:
    secured = broker_factory(users={"car": "s3cret"})
    result = probe(port=secured.port, username="car", password="nope")
    assert not result["ok"]
    assert "Not authorized" in result["error"] and "mqtt.password" in result["advice"]
    assert probe(port=secured.port, username="car", password="s3cret")["ok"]


def test_probe_tls_client_certificate(broker_factory: Any, tls_files: Any) -> None:
    secure = broker_factory(tls=tls_files, require_certificate=True)
    ok = probe(port=secure.tls_port, tls=True, ca_cert=str(tls_files.ca), client_cert=str(tls_files.client_cert),
               client_key=str(tls_files.client_key))
    assert ok["ok"] and ok["broker"].startswith("mqtts://"), ok
    without = probe(port=secure.tls_port, tls=True, ca_cert=str(tls_files.ca))
    assert not without["ok"]
    missing = probe(port=secure.tls_port, tls=True, ca_cert=str(tls_files.ca) + ".missing")
    assert not missing["ok"] and "cannot load TLS files" in missing["error"] and "mqtt.ca_cert" in missing["advice"]


def test_probe_plain_client_on_a_tls_port_and_tls_on_a_plain_one(broker_factory: Any, tls_files: Any) -> None:
    secure = broker_factory(tls=tls_files)
    plain_on_tls = probe(port=secure.tls_port)
    assert not plain_on_tls["ok"] and "mqtt.tls" in plain_on_tls["advice"], plain_on_tls
    tls_on_plain = probe(port=secure.port, tls=True, ca_cert=str(tls_files.ca))
    assert not tls_on_plain["ok"] and "TLS" in tls_on_plain["error"], tls_on_plain


def test_probe_silent_listener() -> None:
    with socket.socket() as silent:  # accepts TCP connections (backlog) but never speaks MQTT
        silent.bind(("127.0.0.1", 0))
        silent.listen(5)
        result = probe(port=silent.getsockname()[1], connect_timeout=0.5)
    assert not result["ok"] and "never answered" in result["error"], result


def test_probe_forbidden_topic(broker_factory: Any) -> None:
    restricted = broker_factory(acl="topic readwrite somewhere/else/#\n")
    result = probe(port=restricted.port, connect_timeout=1.0)
    assert not result["ok"]
    assert "access rules" in result["advice"], result


def test_probe_command_against_a_real_broker(broker: Mosquitto) -> None:
    import json
    import os
    import subprocess

    from conftest import evscreen_cmd

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(evscreen_cmd("probe", "mqtt", *args), capture_output=True, text=True, timeout=60,
                              env=os.environ)

    ok = run("--broker", "127.0.0.1", "--broker-port", str(broker.port), "--duration", "0.5", "--json")
    assert ok.returncode == 0, ok.stderr
    verdict = json.loads(ok.stdout)
    assert verdict["ok"] is True and verdict["probe"] == "mqtt" and verdict["readings"]["round_trips"] >= 1
    refused = run("--broker", "127.0.0.1", "--broker-port", str(free_port()), "--duration", "0.5", "--json")
    assert refused.returncode == 1
    verdict = json.loads(refused.stdout)
    assert verdict["ok"] is False and "connection refused" in verdict["cause"] and verdict["advice"]
    shown = run("--broker", "127.0.0.1", "--broker-port", str(broker.port), "--duration", "0.3")
    assert shown.returncode == 0 and "mqtt" in shown.stdout and "Traceback" not in shown.stdout + shown.stderr
    line = next(line for line in shown.stdout.splitlines() if line.startswith("✔"))
    assert line.startswith(f"✔ mqtt works: mqtt://127.0.0.1:{broker.port}, round trip") and line.count("works") == 1
    port = free_port()
    down = run("--broker", "127.0.0.1", "--broker-port", str(port), "--duration", "0.3")
    assert f"✘ mqtt does not work: connection refused by mqtt://127.0.0.1:{port}\n" in down.stdout
    assert "likely cause" not in down.stdout  # it would only say the same again
    assert "\n  ok " not in down.stdout and "False" not in down.stdout  # the verdict says it, in words
