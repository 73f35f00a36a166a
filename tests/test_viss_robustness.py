"""Hostile VISS clients at a live server while a VISS subscriber and a screen keep receiving."""

from __future__ import annotations

import json
import random
import threading
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

import viss_schema
from conftest import recv_json
from test_robustness import mutate as mutate_text
from viss_client import VissClient, values_of

VALID: list[dict[str, Any]] = [
    {"action": "get", "path": "Vehicle.Speed"},
    {"action": "get", "path": "Vehicle.Cabin.Infotainment.HMI"},
    {"action": "get", "path": "Vehicle.Chassis.Axle", "filter": {"type": "paths", "parameter": "*.Wheel.*.Tire.Pressure"}},
    {"action": "get", "path": "Vehicle", "filter": {"type": "dynamic-metadata", "parameter": "server_capabilities"}},
    {"action": "get", "path": "Vehicle.Powertrain", "filter": {"type": "static-metadata", "parameter": ""}},
    {"action": "set", "path": "Vehicle.Powertrain.Transmission.PerformanceMode", "value": "ECONOMY"},
    {"action": "set", "path": "Vehicle.Powertrain.TractionBattery.Charging.ChargeLimit", "value": "85"},
    {"action": "set", "path": "Vehicle.Cabin.Infotainment.HMI.Brightness", "value": "70"},
    {"action": "subscribe", "path": "Vehicle.Speed", "filter": {"type": "timebased", "parameter": {"period": "1000"}}},
    {"action": "subscribe", "path": "Vehicle.Powertrain.TractionBattery.Charging.ChargeLimit",
     "filter": {"type": "change", "parameter": {"logic-op": "ne", "diff": "0"}}},
]
HOSTILE_VALUES = [None, -1, 1e308, 2**70, True, [], {}, "", "🚗", "x" * 3000, "*", "Vehicle..Speed", "\x00",
                  [{"type": "paths", "parameter": ["*"] * 70}], {"type": "timebased", "parameter": {"period": "0"}},
                  {"type": "range", "parameter": [{"boundary-op": "gt", "boundary": "1e999"}] * 2},
                  {"type": "change", "parameter": {"logic-op": "ne", "diff": "NaN"}}]
MEMBERS = ["action", "path", "value", "filter", "requestId", "subscriptionId", "authorization"]


def mutate(rng: random.Random, request: dict[str, Any]) -> str | bytes:
    choice = rng.randrange(4)
    if choice == 0:  # a hostile value in a member
        return json.dumps({**request, "requestId": "m", rng.choice(MEMBERS): rng.choice(HOSTILE_VALUES)})
    if choice == 1:  # a member missing
        message = {**request, "requestId": "m"}
        message.pop(rng.choice(list(message)))
        return json.dumps(message)
    if choice == 2:  # deep nesting, within the size limit
        depth = rng.randrange(100, 20000)
        return '{"action":"get","requestId":"m","path":' + "[" * depth + "]" * depth + "}"
    return mutate_text(rng, json.dumps({**request, "requestId": "m"}))  # the screen's fuzzer's mutations


def test_fuzzing_viss_clients_while_a_subscriber_and_a_screen_keep_receiving(live_server):
    server = live_server(**{"server.telemetry_interval": 0.05, "server.command_rate": 0.0})
    server.wait_for_values()
    stop = threading.Event()
    errors: list[str] = []
    progress = {"events": 0, "telemetry": 0}
    seen = threading.Condition()

    def subscriber() -> None:
        try:
            with VissClient(server.url + "/viss") as client:
                sid = client.subscribe("Vehicle.Speed", {"type": "timebased", "parameter": {"period": "100"}})[
                    "subscriptionId"]
                while not stop.is_set():
                    event = client.next_event(sid)
                    assert "Vehicle.Speed" in values_of(event)
                    with seen:
                        progress["events"] += 1
                        seen.notify_all()
        except (AssertionError, ConnectionClosed, TimeoutError, OSError) as exc:
            errors.append(f"subscriber: {exc!r}")

    def screen() -> None:
        try:
            with connect(server.url) as ws:
                while not stop.is_set():
                    assert recv_json(ws)["type"] == "telemetry"
                    with seen:
                        progress["telemetry"] += 1
                        seen.notify_all()
        except (AssertionError, ConnectionClosed, TimeoutError, OSError) as exc:
            errors.append(f"screen: {exc!r}")

    def others_moved_on() -> None:
        """Wait until the subscriber and the screen have each received something new."""
        with seen:
            start = dict(progress)
            if not seen.wait_for(lambda: all(progress[k] > start[k] for k in start), timeout=20):
                raise AssertionError(f"the other clients stalled: {progress}")

    def fuzzer(seed: int) -> None:
        rng = random.Random(seed)
        subscriptions: list[str] = []
        try:
            with connect(server.url + "/viss", subprotocols=["VISSv2"], max_size=None) as ws:
                for n in range(400):
                    valid = rng.random() < 0.3
                    request = rng.choice(VALID)
                    if valid and request["action"] == "subscribe" and len(subscriptions) > 20:
                        request = {"action": "unsubscribe", "subscriptionId": subscriptions.pop()}
                    rid = f"{seed}-{n}"
                    ws.send(json.dumps({**request, "requestId": rid}) if valid else mutate(rng, request))
                    while True:  # exactly one response; events of its own subscriptions may come first
                        message = json.loads(ws.recv(timeout=20))
                        viss_schema.check(message)
                        if message.get("action") != "subscription":
                            break
                    if valid:
                        assert message.get("requestId") == rid and "error" not in message, message
                        if "subscriptionId" in message and request["action"] == "subscribe":
                            subscriptions.append(message["subscriptionId"])
                    if n % 100 == 99:
                        others_moved_on()
        except (AssertionError, ConnectionClosed, TimeoutError, ValueError) as exc:
            errors.append(f"fuzzer {seed}: {exc!r}")

    watchers = [threading.Thread(target=subscriber), threading.Thread(target=screen)]
    for thread in watchers:
        thread.start()
    fuzzers = [threading.Thread(target=fuzzer, args=(seed,)) for seed in range(3)]
    for thread in fuzzers:
        thread.start()
    for thread in fuzzers:
        thread.join(180)
    stop.set()
    for thread in watchers:
        thread.join(20)
    assert not errors, errors
    assert progress["events"] > 10 and progress["telemetry"] > 10, progress
    with VissClient(server.url + "/viss") as client:  # and the server still serves newcomers
        assert "error" not in client.set("Vehicle.Powertrain.Transmission.PerformanceMode", "SPORT")
