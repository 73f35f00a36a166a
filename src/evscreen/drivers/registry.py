"""Sources by name, as lazy ``module:Class`` strings (python-can's interface registry model).

A module is imported only when its source is chosen, so a missing Raspberry Pi package matters
only to the person who enabled that source.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from typing import TYPE_CHECKING

from evscreen.errors import SourceUnavailable
from evscreen.importing import import_string

if TYPE_CHECKING:
    from evscreen.config import Config
    from evscreen.drivers.base import Source

SOURCES: dict[str, str] = {
    "simulation": "evscreen.drivers.simulated:SimulatedVehicle",
    "can": "evscreen.drivers.can:CanSource",
    "obd": "evscreen.drivers.obd:ObdSource",
    "gps": "evscreen.drivers.gps:GpsSource",
    "dht11": "evscreen.drivers.dht11:Dht11Source",
    "connectivity": "evscreen.drivers.connectivity:ConnectivitySource",
    "bluetooth": "evscreen.drivers.bluetooth.source:BluetoothSource",
}

#: Real sources, in start order, each enabled by ``[<name>] enabled = true``.
REAL_SOURCES: tuple[str, ...] = tuple(name for name in SOURCES if name != "simulation")


def load_source_class(name: str) -> type[Source]:
    try:
        target = SOURCES[name]
    except KeyError:
        raise SourceUnavailable(f"no source named {name!r} (known: {', '.join(SOURCES)})") from None
    try:
        source_class: type[Source] = import_string(target)
    except ImportError as exc:
        raise SourceUnavailable(f"{name} unavailable: {exc}") from None
    return source_class


def simulating(config: Config, on_pi: bool) -> bool:
    """Whether this run uses the simulated vehicle (``simulation.mode``: auto, on, off)."""
    mode = config.simulation.mode
    return mode == "on" or (mode == "auto" and not on_pi)


def chosen_sources(config: Config, on_pi: bool) -> list[str]:
    """Names of the sources to start: the simulated vehicle, the CAN source that decodes its bus
    and the poller that asks its ECUs (see :func:`simulated_bus_config`), or the enabled real ones."""
    if simulating(config, on_pi):
        return ["simulation", "can", "obd"]
    # A source without a config section (connectivity) has nothing to wire: it always runs.
    return [name for name in REAL_SOURCES if getattr(getattr(config, name, None), "enabled", True)]


_bus_numbers = itertools.count(1)


def simulated_bus_config(config: Config) -> Config:
    """The config the sources of a simulated run get: ``[can]`` describes the simulated car's own bus.

    That is python-can's in-process ``virtual`` interface on a channel no other runtime uses,
    evscreen's DBC and its default mapping (the ``evscreen`` vehicle profile), so the simulated
    vehicle sends onto it and the ordinary CAN source decodes it. The user's ``[can]`` section and
    ``[vehicle]`` describe the real car and are left out.
    The bus is quiet for ``timeout`` after 2 simulated seconds without a frame (2 real seconds
    at 1x and faster).
    """
    from evscreen.config import CanConfig, VehicleConfig

    default = CanConfig()
    timeout = min(600.0, default.timeout * max(1.0, 1.0 / config.simulation.speed))
    can = dataclasses.replace(
        default, enabled=True, interface="virtual", channel=f"evscreen-sim-{os.getpid()}-{next(_bus_numbers)}",
        dbc=None, signals={}, options={}, timeout=timeout,
    )
    # The poller asks the simulated car's BMS what evscreen's own profile lists, with the user's
    # limits (requests/s, listen_only...) but never the real car's profile.
    obd = dataclasses.replace(config.obd, enabled=True, profile="evscreen")
    return dataclasses.replace(config, can=can, vehicle=VehicleConfig(), obd=obd)
