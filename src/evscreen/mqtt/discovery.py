"""Home Assistant MQTT discovery: the car as one device with its main sensors and a tracker (pure).

Each entity is announced on ``<discovery prefix>/<component>/<node id>/<object id>/config``
(retained), reads its value from the retained ``<prefix>/state/...`` topic (a JSON value, so the
template is ``{{ value_json }}``; ``null`` renders as ``None``, which Home Assistant shows as
unknown), and is available while ``<prefix>/status`` says ``online``. Units and device classes
follow Home Assistant's sensor rules (a unit each device class accepts; ``enum`` sensors list their
options and have neither unit nor state class).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from evscreen import __version__
from evscreen.mqtt.topics import Topics
from evscreen.protocol import DRIVE_MODES


@dataclass(frozen=True)
class Sensor:
    path: str
    name: str
    unit: str | None = None
    device_class: str | None = None
    state_class: str | None = "measurement"
    options: tuple[str, ...] | None = None
    icon: str | None = None


SENSORS: tuple[Sensor, ...] = (
    Sensor("battery_soc", "State of charge", "%", "battery"),
    Sensor("range_km", "Range", "km", "distance"),
    Sensor("speed", "Speed", "km/h", "speed"),
    Sensor("power_kw", "Power", "kW", "power"),
    Sensor("battery_voltage", "Battery voltage", "V", "voltage"),
    Sensor("battery_current", "Battery current", "A", "current"),
    Sensor("battery_soh", "Battery health", "%", None, icon="mdi:battery-heart-variant"),
    Sensor("ambient_temp", "Outside temperature", "°C", "temperature"),
    Sensor("cabin_temp", "Cabin temperature", "°C", "temperature"),
    Sensor("motor_temp", "Motor temperature", "°C", "temperature"),
    Sensor("humidity", "Cabin humidity", "%", "humidity"),
    Sensor("tire_pressure.front_left", "Tyre pressure front left", "psi", "pressure"),
    Sensor("tire_pressure.front_right", "Tyre pressure front right", "psi", "pressure"),
    Sensor("tire_pressure.rear_left", "Tyre pressure rear left", "psi", "pressure"),
    Sensor("tire_pressure.rear_right", "Tyre pressure rear right", "psi", "pressure"),
    Sensor("settings.charge_limit", "Charge limit", "%", None, None, icon="mdi:battery-lock"),
    Sensor("settings.drive_mode", "Drive mode", None, "enum", None, options=DRIVE_MODES, icon="mdi:car-cog"),
)

#: The journal's last closed trip and charge session (retained JSON at ``<prefix>/trip/last`` and
#: ``<prefix>/charge/last``): (record kind, field, sensor). Each also carries the whole record as
#: attributes.
RECORD_SENSORS: tuple[tuple[str, str, Sensor], ...] = (
    ("trip", "distance_km", Sensor("trip.distance_km", "Last trip distance", "km", "distance", None,
                                   icon="mdi:map-marker-distance")),
    ("trip", "energy_kwh", Sensor("trip.energy_kwh", "Last trip energy", "kWh", "energy", None)),
    ("trip", "wh_per_km", Sensor("trip.wh_per_km", "Last trip consumption", "Wh/km", None, None,
                                 icon="mdi:lightning-bolt-outline")),
    ("charge", "energy_kwh", Sensor("charge.energy_kwh", "Last charge energy", "kWh", "energy", None)),
    ("charge", "soc_end", Sensor("charge.soc_end", "Last charge ended at", "%", "battery", None)),
    ("charge", "max_power_kw", Sensor("charge.max_power_kw", "Last charge peak power", "kW", "power", None)),
)

#: Home Assistant accepts ``[a-zA-Z0-9_-]`` in the node and object ids of a discovery topic.
_ID_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")


def node_id(vehicle_id: str) -> str:
    return "evscreen_" + _ID_UNSAFE.sub("_", vehicle_id)


def device_block(vehicle_id: str) -> dict[str, Any]:
    return {
        "identifiers": [node_id(vehicle_id)],
        "name": f"EV {vehicle_id}",
        "manufacturer": "evscreen",
        "model": "EV infotainment screen",
        "sw_version": __version__,
    }


def discovery_messages(topics: Topics, vehicle_id: str, prefix: str = "homeassistant") -> list[tuple[str, bytes]]:
    """``(config topic, payload)`` for every entity of the car, to be published retained."""
    node = node_id(vehicle_id)
    common = {
        "availability_topic": topics.status,
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": device_block(vehicle_id),
        "origin": {"name": "evscreen", "sw_version": __version__},
    }
    out: list[tuple[str, bytes]] = []
    for sensor in SENSORS:
        object_id = _ID_UNSAFE.sub("_", sensor.path)
        config: dict[str, Any] = {
            "name": sensor.name,
            "unique_id": f"{node}_{object_id}",
            "state_topic": topics.state(sensor.path),
            "value_template": "{{ value_json }}",
            **common,
        }
        if sensor.unit is not None:
            config["unit_of_measurement"] = sensor.unit
        if sensor.device_class is not None:
            config["device_class"] = sensor.device_class
        if sensor.state_class is not None:
            config["state_class"] = sensor.state_class
        if sensor.options is not None:
            config["options"] = list(sensor.options)
        if sensor.icon is not None:
            config["icon"] = sensor.icon
        out.append((f"{prefix}/sensor/{node}/{object_id}/config", _encode(config)))
    for kind, name, sensor in RECORD_SENSORS:
        object_id = f"last_{kind}_{name}"
        config = {
            "name": sensor.name,
            "unique_id": f"{node}_{object_id}",
            "state_topic": topics.last_record(kind),
            "value_template": f"{{{{ value_json.{name} }}}}",
            "json_attributes_topic": topics.last_record(kind),
            **common,
        }
        for key, value in (("unit_of_measurement", sensor.unit), ("device_class", sensor.device_class),
                           ("icon", sensor.icon)):
            if value is not None:
                config[key] = value
        out.append((f"{prefix}/sensor/{node}/{object_id}/config", _encode(config)))
    tracker = {
        "name": "Location",
        "unique_id": f"{node}_location",
        # The telemetry carries the position; the template turns it into the attributes a
        # device tracker reads its location from.
        "json_attributes_topic": topics.telemetry,
        "json_attributes_template": (
            "{{ {'latitude': value_json.gps.latitude, 'longitude': value_json.gps.longitude,"
            " 'altitude': value_json.gps.altitude, 'speed': value_json.speed,"
            " 'course': value_json.gps.heading} | tojson }}"
        ),
        "source_type": "gps",
        "icon": "mdi:car-electric",
        **common,
    }
    out.append((f"{prefix}/device_tracker/{node}/location/config", _encode(tracker)))
    return out


def _encode(config: dict[str, Any]) -> bytes:
    return json.dumps(config, ensure_ascii=False, sort_keys=True).encode()
