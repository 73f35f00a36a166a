"""The journal on MQTT: the last closed trip and charge, retained, and their Home Assistant sensors."""

from __future__ import annotations

import json
from typing import Any

from evscreen.mqtt.discovery import RECORD_SENSORS
from ha_discovery_schema import DISCOVERY_TOPIC, validate
from mqtt_broker import Mosquitto, mqtt_flags
from test_journal_api import seed_journal

PREFIX = "evscreen/car1"


def test_last_trip_and_charge_are_retained_and_discovered(broker: Mosquitto, subscribers: Any,
                                                          live_server: Any) -> None:
    seed_journal()  # a trip left open long ago is closed at start-up, before the broker is reached
    rt = live_server(**mqtt_flags(broker, homeassistant=True, homeassistant_prefix="ha-j"),
                     **{"simulation.mode": "off"})
    late = subscribers(broker, f"{PREFIX}/trip/last", f"{PREFIX}/charge/last")
    got = dict(late.wait_for(lambda m: len({t for t, _ in m}) >= 2 and m))
    trip = json.loads(got[f"{PREFIX}/trip/last"])
    charge = json.loads(got[f"{PREFIX}/charge/last"])
    assert trip["id"] == 4 and trip["end"] == "2024-05-05T08:10:00Z"  # the one closed at start-up
    assert charge["energy_kwh"] == 30.0 and charge["curve"] == [[30.0, 72.0], [31.0, 72.0]]

    ha = subscribers(broker, "ha-j/sensor/+/+/config")
    configs = ha.wait_for(lambda m: sum("last_" in t for t, _ in m) >= len(RECORD_SENSORS) and m)
    record_configs = [(t, json.loads(p)) for t, p in configs if "/last_" in t]
    assert len(record_configs) == len(RECORD_SENSORS)
    for topic, config in record_configs:
        match = DISCOVERY_TOPIC.fullmatch(topic)
        assert match is not None
        validate(match["component"], config)
        assert config["state_topic"] == config["json_attributes_topic"]
        kind = config["state_topic"].split("/")[-2]
        field = config["value_template"].removeprefix("{{ value_json.").removesuffix(" }}")
        assert field in (trip if kind == "trip" else charge)

    # A trip closed while connected goes out at once, replacing the retained one.
    newer = {**trip, "id": 5, "distance_km": 12.5}

    async def close_one() -> None:
        rt.runtime.mqtt.publish_record("trip", newer)

    rt.call(close_one())
    fresh = subscribers(broker, f"{PREFIX}/trip/last")
    fresh.wait_for(lambda m: any(json.loads(p)["id"] == 5 for _, p in m))
