"""Facts about the machine we run on, for the start-up banner and the ``auto`` simulation mode."""

from __future__ import annotations

import platform
import sys
from pathlib import Path

_MODEL_FILES = (Path("/proc/device-tree/model"), Path("/sys/firmware/devicetree/base/model"))


def board_model() -> str | None:
    """The device-tree model string (``Raspberry Pi 4 Model B Rev 1.5``), or None."""
    for path in _MODEL_FILES:
        try:
            return path.read_bytes().rstrip(b"\x00").decode("ascii", "replace").strip() or None
        except OSError:
            continue
    return None


def is_raspberry_pi() -> bool:
    model = board_model()
    return model is not None and model.startswith("Raspberry Pi")


def describe_platform() -> str:
    return f"{platform.system()} {platform.release()} {platform.machine()}, Python {sys.version.split()[0]}"
