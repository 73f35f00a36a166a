"""The MQTT bridge: telemetry, retained state, remote commands and Home Assistant discovery.

``connection`` is the only module that touches paho-mqtt; everything else works with our own types.
"""

from __future__ import annotations

from evscreen.mqtt.bridge import MqttBridge

__all__ = ["MqttBridge"]
