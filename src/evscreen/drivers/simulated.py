"""The simulated vehicle source: steps the vehicle and media models and writes their telemetry.

The models advance in fixed steps of simulated time (:data:`evscreen.sim.vehicle.STEP_S`), so a
seed gives the same drive whatever the event loop's timing; ``simulation.speed`` sets how many
simulated seconds pass per real second. The loop wakes at most every ``MAX_WAKE_S`` of real time
and runs the steps that are due, carrying the remainder, so a fast simulation costs few wake-ups.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from evscreen.drivers.base import MediaControl, Source
from evscreen.sim.media import PLAYLIST, MediaPlayerModel
from evscreen.sim.vehicle import STEP_S, VehicleModel

if TYPE_CHECKING:
    from evscreen.config import Config
    from evscreen.state import VehicleState

log = logging.getLogger(__name__)

MAX_WAKE_S = 0.1  # real seconds between wake-ups at most (one step at real time)
MIN_WAKE_S = 0.02  # ...and at least, however fast the simulation runs
#: Real seconds of simulated time one wake-up may catch up on; beyond that (a stalled or
#: overloaded machine) the backlog is dropped rather than run in one long burst.
MAX_BEHIND_S = 2.0
CONNECTIVITY = {"connectivity.wifi": True, "connectivity.bluetooth": True, "connectivity.can_bus": True}


class SimulatedMedia(MediaControl):
    """The simulated player's controls. ``on_change`` publishes the player's state at once, so the
    next telemetry after a command's response already shows its effect."""

    def __init__(self, model: MediaPlayerModel, on_change: Callable[[], None] = lambda: None) -> None:
        self.model = model
        self.on_change = on_change

    @property
    def volume(self) -> float:
        return self.model.volume

    async def play(self) -> None:
        self.model.play()
        self.on_change()

    async def pause(self) -> None:
        self.model.pause()
        self.on_change()

    async def next_track(self) -> None:
        self.model.next_track()
        self.on_change()

    async def previous_track(self) -> None:
        self.model.previous_track()
        self.on_change()

    async def set_volume(self, volume: float) -> None:
        self.model.set_volume(volume)


class SimulatedVehicle(Source):
    name = "simulation"
    simulated = True
    stale_after = 2.0

    def __init__(self, config: Config, state: VehicleState) -> None:
        super().__init__(config, state)
        sim = config.simulation
        self.model = VehicleModel(sim.seed, charge_every=sim.charge_every, cabin_set_point=sim.cabin_set_point)
        self.player = MediaPlayerModel(track=sim.seed % len(PLAYLIST))
        self.media = SimulatedMedia(self.player, lambda: self.state.update(self.name, self.player.telemetry()))
        self.speed_factor = sim.speed
        self._behind_logged = False

    def on_setting(self, name: str, value: Any) -> None:
        if name == "drive_mode":
            self.model.set_drive_mode(value)
        elif name == "regen_level":
            self.model.set_regen_level(value)
        elif name == "charge_limit":
            self.model.set_charge_limit(value)
        elif name == "volume":
            self.player.set_volume(value)

    def describe(self) -> str:
        factor = "" if self.speed_factor == 1.0 else f", {self.speed_factor:g}x real time"
        cycles = " + ".join(c.name.upper() for c in self.model.itinerary.cycles)
        return f"{self.name}: simulated vehicle on {cycles} (seed {self.config.simulation.seed}{factor})"

    def step(self, steps: int) -> None:
        """Advance the car and the player by ``steps`` fixed steps."""
        model, player = self.model, self.player
        for _ in range(steps):
            model.step(STEP_S)
            player.step(STEP_S)

    def publish(self) -> None:
        values = self.model.telemetry()
        values.update(self.player.telemetry())
        values.update(CONNECTIVITY)
        self.state.update(self.name, values)

    def wake_interval(self) -> float:
        return min(MAX_WAKE_S, max(MIN_WAKE_S, STEP_S / self.speed_factor))

    async def run(self) -> None:
        self.publish()
        interval = self.wake_interval()
        last = time.monotonic()
        pending = 0.0  # simulated seconds due but not yet stepped
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            pending += (now - last) * self.speed_factor
            last = now
            if pending > MAX_BEHIND_S * self.speed_factor:
                if not self._behind_logged:
                    log.warning("simulation cannot keep up with %gx real time; dropping %.0f s of simulated time",
                                self.speed_factor, pending - STEP_S)
                    self._behind_logged = True
                pending = STEP_S
            steps = int(pending / STEP_S + 1e-9)
            if steps:
                pending -= steps * STEP_S
                self.step(steps)
                self.publish()
            else:
                self.state.touch(self.name)
