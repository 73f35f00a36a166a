"""The interfaces every source and media controller implements."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from evscreen.config import Config
    from evscreen.state import VehicleState


class Source(abc.ABC):
    """A producer of telemetry values.

    ``run`` writes into the :class:`VehicleState` until it is cancelled, and handles its own
    faults: a real source that loses its hardware marks itself offline, logs one line, and retries
    with backoff. It never writes invented values in place of real ones.
    """

    #: The name under which the source appears in telemetry ``sources``.
    name: ClassVar[str]
    # simulated and stale_after are class defaults that an instance may override (the CAN source
    # reading the simulated bus; a configured timeout), so they are not ClassVars.
    #: True for the simulated vehicle; shown as "simulated" instead of "live".
    simulated: bool = False
    #: Seconds without data after which the source is reported stale.
    stale_after: float = 5.0

    def __init__(self, config: Config, state: VehicleState, *, simulated: bool | None = None) -> None:
        """``simulated`` overrides the class's default: the CAN source reading the simulated car's
        bus is the ordinary CAN source, reporting itself simulated."""
        self.config = config
        self.state = state
        if simulated is not None:
            self.simulated = simulated
        state.register_source(self.name, simulated=self.simulated, stale_after=self.stale_after)

    @abc.abstractmethod
    async def run(self) -> None:
        """Produce values until cancelled."""

    async def close(self) -> None:  # noqa: B027 - optional: most sources have nothing to release
        """Release the hardware. Called once on shutdown, after ``run`` was cancelled."""

    def on_setting(self, name: str, value: object) -> None:  # noqa: B027 - optional: only some sources care
        """A screen setting changed (drive mode, regen level...). Sources that care override this."""

    def describe(self) -> str:
        """One line for the start-up banner, e.g. ``can: socketcan can0 (real)``."""
        return f"{self.name}: {'simulated' if self.simulated else 'real'}"


class MediaControl(abc.ABC):
    """Something that plays media: the simulated player, or a phone over Bluetooth.

    Methods raise :class:`evscreen.errors.CommandFailed` when they cannot be carried out.
    """

    @abc.abstractmethod
    async def play(self) -> None: ...

    @abc.abstractmethod
    async def pause(self) -> None: ...

    @abc.abstractmethod
    async def next_track(self) -> None: ...

    @abc.abstractmethod
    async def previous_track(self) -> None: ...

    @abc.abstractmethod
    async def set_volume(self, volume: float) -> None:
        """``volume`` from 0.0 to 1.0."""


class BluetoothControl(abc.ABC):
    @abc.abstractmethod
    async def connect(self, address: str) -> None:
        """Connect the device with this MAC address."""
