"""Driving the stand-in DHT library in tests/dht_standin/: frames the "sensor" sends, and the
failures its import and construction produce."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

STANDIN_DIR = Path(__file__).resolve().parent / "dht_standin"
STANDIN_MODULES = ("adafruit_dht", "board", "dht_standin_script")


def dht11_frame(temperature: int, humidity: int, *, bad_checksum: bool = False) -> list[int]:
    data = [humidity, 0, temperature, 0]
    checksum = sum(data) & 0xFF
    return data + [(checksum + 1) & 0xFF if bad_checksum else checksum]


def dht22_frame(temperature: float, humidity: float) -> list[int]:
    h = round(humidity * 10)
    t = round(abs(temperature) * 10)
    data = [h >> 8, h & 0xFF, (t >> 8) | (0x80 if temperature < 0 else 0), t & 0xFF]
    return data + [sum(data) & 0xFF]


def write_script(path: Path, **script: Any) -> dict[str, str]:
    """Write the script; returns the environment that points the stand-in at it."""
    path.write_text(json.dumps(script), encoding="utf-8")
    return {"DHT_STANDIN_SCRIPT": str(path)}
