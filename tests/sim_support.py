"""Helpers for the vehicle-model tests: drive one cycle in-process and keep what it did."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from evscreen.sim.drive_cycle import DriveCycle, load_cycle
from evscreen.sim.vehicle import STEP_S, VehicleModel, VehicleOutputs


@dataclass
class CycleRun:
    """One drive of one cycle: the model afterwards, its outputs at every step, energy integrals."""

    model: VehicleModel
    cycle: DriveCycle
    soc_start: float
    outputs: list[VehicleOutputs] = field(default_factory=list)
    battery_wh: float = 0.0  # ∫ V·I dt, + out of the battery
    heat_wh: float = 0.0  # ∫ I²R dt (recorded runs only)
    regen_wh: float = 0.0  # energy into the battery while it charged
    distance_km: float = 0.0

    @property
    def wh_per_km(self) -> float:
        return self.battery_wh / self.distance_km


def drive_cycle(cycle: DriveCycle, *, seed: int = 1, mode: str = "normal", regen: str = "standard",
                soc: float = 80.0, record: bool = True) -> CycleRun:
    """Drive ``cycle`` once from rest (no charging stops) and integrate the battery's energy."""
    model = VehicleModel(seed, cycles=[cycle], charge_every=0, soc=soc)
    model.set_drive_mode(mode)
    model.set_regen_level(regen)
    run = CycleRun(model, cycle, model.battery.soc)
    battery = model.battery
    odometer = model.odometer_m
    for _ in range(int(round(cycle.duration_s / STEP_S))):
        model.step(STEP_S)
        power = battery.voltage * battery.current
        run.battery_wh += power * STEP_S / 3600.0
        if power < 0:
            run.regen_wh -= power * STEP_S / 3600.0
        if record:
            out = model.outputs()
            run.heat_wh += out.battery_heat_w * STEP_S / 3600.0
            run.outputs.append(out)
    run.distance_km = (model.odometer_m - odometer) / 1000.0
    return run


def cached_run(cycle: str, mode: str = "normal", regen: str = "standard", seed: int = 1) -> CycleRun:
    """Shared between test modules: each configuration is driven once per test session.

    Runs at the standard regeneration level with seed 1 keep every step's outputs; the others
    only their energy integrals (they are compared with each other, not inspected).
    """
    return _cached_run(cycle, mode, regen, seed)


@cache
def _cached_run(cycle: str, mode: str, regen: str, seed: int) -> CycleRun:
    return drive_cycle(load_cycle(cycle), seed=seed, mode=mode, regen=regen, record=regen == "standard" and seed == 1)
