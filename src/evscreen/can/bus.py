"""Opening a python-can bus from evscreen's settings (shared by the CAN source and can-dump)."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from evscreen.errors import ConfigError

log = logging.getLogger(__name__)


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


async def open_bus_in_thread(interface: str, channel: str, bitrate: int, options: dict[str, Any]) -> Any:
    """:func:`open_bus` in a worker thread: importing python-can and an adapter's handshake take a
    while, and the event loop keeps serving meanwhile.

    Cancelled while the interface opens, the bus is shut down as soon as it is open, by the worker
    itself: a loop that is shutting down would never run a callback for it, and the bus would leak
    (a serial adapter's port stays open).
    """
    lock = threading.Lock()
    abandoned = False
    handed: list[Any] = []

    def open_or_drop() -> Any:
        bus = open_bus(interface, channel, bitrate, options)
        with lock:
            if not abandoned:
                handed.append(bus)
                return bus
        shutdown_bus(bus)
        return None

    try:
        return await asyncio.to_thread(open_or_drop)
    except asyncio.CancelledError:
        with lock:
            abandoned = True
            late = list(handed)  # opened just before the cancellation, never received
        for bus in late:
            threading.Thread(target=shutdown_bus, args=(bus,), name="can-shutdown", daemon=True).start()
        raise


def shutdown_bus(bus: Any) -> None:
    """Shut ``bus`` down, quietly: an unplugged adapter cannot be closed cleanly, and that is fine."""
    try:
        bus.shutdown()
    except Exception as exc:
        log.debug("can: shutting the bus down failed: %s", exc)
        # slcan's shutdown stops at the failed "close channel" write and never closes its serial
        # port; close it here, or every replug would leak a file descriptor.
        port = getattr(bus, "serialPortOrig", None)
        if port is not None:
            try:
                port.close()
            except Exception:
                pass
