"""What Home Assistant requires of an MQTT discovery message, as JSON Schema.

Written from Home Assistant's MQTT integration (``components/mqtt``: ``schemas.py``,
``sensor.py``, ``device_tracker.py``) and its sensor constants (``DEVICE_CLASS_UNITS``,
``DEVICE_CLASS_STATE_CLASSES``), restricted to the device classes evscreen uses:

- the discovery topic is ``<prefix>/<component>/[<node_id>/]<object_id>/config`` with ids of
  ``[a-zA-Z0-9_-]``;
- a sensor needs ``state_topic``; ``options`` only with device class ``enum`` and then neither
  ``state_class`` nor ``unit_of_measurement``; a device class allows only its units and state classes;
- a device tracker needs ``state_topic`` or ``json_attributes_topic``; ``source_type`` is one of
  gps, router, bluetooth, bluetooth_le;
- ``device`` needs at least one of ``identifiers`` / ``connections``, and an entity tied to a device
  needs a ``unique_id`` to be registered with it.
"""

from __future__ import annotations

import re
from typing import Any

import jsonschema

DISCOVERY_TOPIC = re.compile(r"(?P<prefix>.+?)/(?P<component>\w+)/(?:(?P<node_id>[a-zA-Z0-9_-]+)/)?"
                             r"(?P<object_id>[a-zA-Z0-9_-]+)/config")

# A topic one may subscribe to: non-empty, no NUL, '#' only as a whole last level, '+' only as a whole level.
SUBSCRIBE_TOPIC = {"type": "string", "minLength": 1,
                   "pattern": r"^(?!.*\x00)(?!.*[^/]#)(?!.*#.)(?!.*[^/]\+)(?!.*\+[^/])"}

UNITS = {
    "battery": ["%"],
    "humidity": ["%"],
    "distance": ["km", "m", "cm", "mm", "mi", "nmi", "yd", "in", "ft"],
    "speed": ["km/h", "m/s", "mph", "ft/s", "kn", "Beaufort", "mm/d", "in/d", "mm/h", "in/h", "mm/s", "in/s"],
    "power": ["mW", "W", "kW", "MW", "GW", "TW"],
    "voltage": ["µV", "mV", "V", "kV", "MV"],
    "current": ["mA", "A"],
    "temperature": ["°C", "°F", "K"],
    "pressure": ["Pa", "hPa", "kPa", "bar", "cbar", "mbar", "mmHg", "inHg", "psi", "mPa"],
    "energy": ["J", "kJ", "MJ", "GJ", "mWh", "Wh", "kWh", "MWh", "GWh", "TWh", "cal", "kcal", "Mcal", "Gcal"],
}
ANY_STATE_CLASS = ["measurement", "measurement_angle", "total", "total_increasing"]
STATE_CLASSES = {
    "battery": ["measurement"], "humidity": ["measurement"], "speed": ["measurement"], "power": ["measurement"],
    "voltage": ["measurement"], "current": ["measurement"], "temperature": ["measurement"],
    "pressure": ["measurement"], "distance": ANY_STATE_CLASS, "enum": [], "energy": ["total", "total_increasing"],
}

DEVICE = {
    "type": "object",
    "properties": {
        "identifiers": {"type": "array", "items": {"type": "string"}},
        "connections": {"type": "array", "items": {"type": "array", "minItems": 2, "maxItems": 2,
                                                   "items": {"type": "string"}}},
        "manufacturer": {"type": "string"}, "model": {"type": "string"}, "name": {"type": "string"},
        "sw_version": {"type": "string"}, "hw_version": {"type": "string"},
    },
    "anyOf": [{"required": ["identifiers"], "properties": {"identifiers": {"minItems": 1}}},
              {"required": ["connections"], "properties": {"connections": {"minItems": 1}}}],
}

COMMON = {
    "name": {"type": ["string", "null"]},
    "unique_id": {"type": "string", "minLength": 1},
    "device": DEVICE,
    "origin": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
    "availability_topic": SUBSCRIBE_TOPIC,
    "payload_available": {"type": "string"},
    "payload_not_available": {"type": "string"},
    "icon": {"type": "string", "pattern": r"^[a-z0-9-]+:[a-z0-9-]+$"},
    "json_attributes_topic": SUBSCRIBE_TOPIC,
    "json_attributes_template": {"type": "string"},
    "value_template": {"type": "string"},
}


def _unit_rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for device_class, units in UNITS.items():
        rules.append({
            "if": {"required": ["device_class"], "properties": {"device_class": {"const": device_class}}},
            "then": {"properties": {"unit_of_measurement": {"enum": units}}},
        })
    for device_class, classes in STATE_CLASSES.items():
        rule: dict[str, Any] = {"not": {"required": ["state_class"]}} if not classes else \
            {"properties": {"state_class": {"enum": classes}}}
        rules.append({"if": {"required": ["device_class"], "properties": {"device_class": {"const": device_class}}},
                      "then": rule})
    return rules


SENSOR = {
    "type": "object",
    "required": ["state_topic", "unique_id", "device"],
    "properties": {
        **COMMON,
        "state_topic": SUBSCRIBE_TOPIC,
        "device_class": {"enum": [*UNITS, "enum"]},
        "state_class": {"enum": ANY_STATE_CLASS},
        "unit_of_measurement": {"type": ["string", "null"]},
        "options": {"type": "array", "minItems": 1, "items": {"type": "string"}},
        "suggested_display_precision": {"type": "integer", "minimum": 0},
        "expire_after": {"type": "integer", "minimum": 0},
    },
    "allOf": [
        {"if": {"required": ["options"]},
         "then": {"properties": {"device_class": {"const": "enum"}}, "required": ["device_class"],
                  "not": {"anyOf": [{"required": ["state_class"]}, {"required": ["unit_of_measurement"]}]}}},
        {"if": {"required": ["device_class"], "properties": {"device_class": {"const": "enum"}}},
         "then": {"not": {"required": ["unit_of_measurement"]}}},
        *_unit_rules(),
    ],
}

DEVICE_TRACKER = {
    "type": "object",
    "required": ["unique_id", "device"],
    "anyOf": [{"required": ["state_topic"]}, {"required": ["json_attributes_topic"]}],
    "properties": {
        **COMMON,
        "state_topic": SUBSCRIBE_TOPIC,
        "source_type": {"enum": ["gps", "router", "bluetooth", "bluetooth_le"]},
        "payload_home": {"type": "string"},
        "payload_not_home": {"type": "string"},
        "payload_reset": {"type": "string"},
    },
}

SCHEMAS = {"sensor": SENSOR, "device_tracker": DEVICE_TRACKER}


def validate(component: str, config: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError unless ``config`` is what Home Assistant accepts."""
    _VALIDATORS[component].validate(config)


_VALIDATORS = {name: jsonschema.Draft202012Validator(schema) for name, schema in SCHEMAS.items()}
