"""The test's instructions to the stand-in DHT library: a JSON file named by $DHT_STANDIN_SCRIPT."""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def script() -> dict[str, Any]:
    path = os.environ.get("DHT_STANDIN_SCRIPT")
    if not path:
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def log(key: str, line: str) -> None:
    path = script().get(key)
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


def noise(where: str) -> None:
    """What Blinka and the DHT library do: talk on stdout, from Python and from C."""
    if script().get("noise"):
        print(f"stand-in {where}: Python-level chatter on stdout")
        sys.stdout.flush()
        os.write(1, f"stand-in {where}: C-level chatter on fd 1\n".encode())
