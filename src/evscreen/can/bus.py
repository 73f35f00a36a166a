"""Opening a python-can bus from evscreen's settings (shared by the CAN source and can-dump)."""

from __future__ import annotations

from typing import Any

from evscreen.errors import ConfigError


def parse_options(options: dict[str, str]) -> dict[str, Any]:
    """``[can] options`` / ``--option`` values are strings; give python-can ints, floats and booleans."""
    out: dict[str, Any] = {}
    for k, v in options.items():
        text = v.strip()
        low = text.lower()
        if low in ("true", "false"):
            out[k] = low == "true"
            continue
        for convert in (int, float):
            try:
                out[k] = convert(text)
                break
            except ValueError:
                pass
        else:
            out[k] = text
    return out


#: evscreen's own interface beside python-can's: a recorded log played as a bus (can/replay.py).
REPLAY = "replay"


def check_interface(name: str, key: str = "can.interface") -> None:
    """ConfigError unless python-can knows an interface called ``name`` (or it is ``replay``)."""
    from can.interfaces import VALID_INTERFACES

    if name not in VALID_INTERFACES and name != REPLAY:
        known = ", ".join(sorted({*VALID_INTERFACES, REPLAY}))
        raise ConfigError(f"{key}: unknown python-can interface {name!r} (known: {known})")


def open_bus(interface: str, channel: str, bitrate: int, options: dict[str, Any]) -> Any:
    """A python-can bus; python-can's exceptions (and OSError) propagate to the caller.

    ``replay`` plays the log file ``channel`` names (options: speed, bus, loop, log_format).
    """
    if interface == REPLAY:
        from evscreen.can.replay import ReplayBus

        return ReplayBus(channel, **options)
    import can

    return can.Bus(interface=interface, channel=channel, bitrate=bitrate, **options)
