"""The simulated vehicle source: steps the vehicle and media models and writes their telemetry."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from evscreen.drivers.base import MediaControl, Source
from evscreen.sim.media import MediaPlayerModel
from evscreen.sim.simple import SimpleVehicleModel

if TYPE_CHECKING:
    from evscreen.config import Config
    from evscreen.state import VehicleState

STEP_S = 0.05  # model step in simulated seconds


class SimulatedMedia(MediaControl):
    def __init__(self, model: MediaPlayerModel) -> None:
        self.model = model
        self.volume = 0.5

    async def play(self) -> None:
        self.model.play()

    async def pause(self) -> None:
        self.model.pause()

    async def next_track(self) -> None:
        self.model.next_track()

    async def previous_track(self) -> None:
        self.model.previous_track()

    async def set_volume(self, volume: float) -> None:
        self.volume = volume


class SimulatedVehicle(Source):
    name = "simulation"
    simulated = True
    stale_after = 2.0

    def __init__(self, config: Config, state: VehicleState) -> None:
        super().__init__(config, state)
        self.model = SimpleVehicleModel(seed=config.simulation.seed)
        self.player = MediaPlayerModel()
        self.media = SimulatedMedia(self.player)
        self.speed_factor = config.simulation.speed

    def on_setting(self, name: str, value: Any) -> None:
        if name in ("drive_mode", "regen_level"):
            setattr(self.model, name, value)
        elif name == "volume":
            self.media.volume = value

    def describe(self) -> str:
        factor = "" if self.speed_factor == 1.0 else f", {self.speed_factor:g}x real time"
        return f"{self.name}: simulated vehicle (seed {self.config.simulation.seed}{factor})"

    def publish(self) -> None:
        values = self.model.telemetry()
        values.update(self.player.telemetry())
        values.update({"connectivity.wifi": True, "connectivity.bluetooth": True, "connectivity.can_bus": True})
        self.state.update(self.name, values)

    async def run(self) -> None:
        self.publish()
        last = time.monotonic()
        while True:
            await asyncio.sleep(STEP_S / self.speed_factor if self.speed_factor > 1 else STEP_S)
            now = time.monotonic()
            elapsed = (now - last) * self.speed_factor
            last = now
            # Fixed-size model steps keep the model deterministic whatever the loop's jitter.
            steps = max(1, round(elapsed / STEP_S))
            for _ in range(min(steps, 2000)):
                self.model.step(STEP_S)
                self.player.step(STEP_S)
            self.publish()
