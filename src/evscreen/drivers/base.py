"""The interfaces every source and media controller implements."""

from __future__ import annotations

import abc
import logging
from typing import TYPE_CHECKING, ClassVar, final

from evscreen.drivers.backoff import Backoff
from evscreen.drivers.supervisor import Availability, supervise

if TYPE_CHECKING:
    from evscreen.config import Config
    from evscreen.state import VehicleState


class Source(abc.ABC):
    """A producer of telemetry values.

    A source implements ``open`` (reach the hardware), ``read`` (write values into the
    :class:`VehicleState` until the hardware fails) and ``close`` (release it); ``run`` hands it to
    the supervisor (:func:`evscreen.drivers.supervisor.supervise`), which owns the rest: retries with
    backoff, offline/online marking, one log line per outage and per recovery. ``open`` and ``read``
    raise :class:`~evscreen.errors.SourceUnavailable` saying why the hardware is not there; a
    source never writes invented values in place of real ones.
    """

    #: The name under which the source appears in telemetry ``sources``.
    name: ClassVar[str]
    #: True for the simulated vehicle; shown as "simulated" instead of "live".
    simulated: bool = False
    #: True for a source playing a recording (``serve --replay``); shown as "replay".
    replay: bool = False
    #: Seconds without data after which the source is reported stale.
    stale_after: float = 5.0
    #: How long to wait before opening it again after a failure.
    backoff: ClassVar[Backoff] = Backoff()
    #: The media player this source controls (``play_music``...), if it has one.
    media: MediaControl | None = None
    #: What connects Bluetooth devices (``connect_bluetooth``), if this source can.
    bluetooth: BluetoothControl | None = None

    def __init__(self, config: Config, state: VehicleState, *, simulated: bool | None = None,
                 stale_after: float | None = None) -> None:
        """``simulated`` overrides the class's default: the CAN source reading the simulated car's
        bus is the ordinary CAN source, reporting itself simulated. ``stale_after`` too, for a
        source whose configuration sets it."""
        self.config = config
        self.state = state
        if simulated is not None:
            self.simulated = simulated
        if stale_after is not None:
            self.stale_after = stale_after
        state.register_source(self.name, simulated=self.simulated, stale_after=self.stale_after, replay=self.replay)
        #: Up or down, in the state and in the log (through the driver's own logger).
        self.availability = Availability(self.name, state, logging.getLogger(type(self).__module__))

    @final
    async def run(self) -> None:
        """Open, read and reopen the source under the supervisor until cancelled; closed at the end."""
        await supervise(self)

    async def open(self) -> None:
        """Reach the hardware, or raise :class:`~evscreen.errors.SourceUnavailable` saying why not.

        A source that is live as soon as it is open says so with ``self.availability.up()``; one
        whose data decides (a GPS fix) says so when the data comes. The default has nothing to open.
        """
        self.availability.up()

    @abc.abstractmethod
    async def read(self) -> None:
        """Produce values until the hardware fails (raise) or the source has nothing more (return)."""

    async def close(self) -> None:
        """Release what ``open`` took. Called after every ``read`` and on shutdown: safe to call twice."""

    def on_failure(self, error: Exception) -> None:
        """``open`` or ``read`` failed with ``error``; called before the source is marked offline.

        A source drops here what must not outlive its hardware (the GPS its position); by default
        every value is kept, shown stale.
        """

    def on_setting(self, name: str, value: object) -> None:
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
