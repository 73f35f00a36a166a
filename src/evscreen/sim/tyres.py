"""Tyre temperatures and the pressures that follow them (pure).

Each tyre is a thermal mass heated by its share of the rolling-resistance work (most of which turns
into heat in the rubber) and cooled by the air, faster at speed. The air inside is a fixed amount
of gas: its absolute pressure is proportional to its absolute temperature (Gay-Lussac), and the
gauge reads that minus the atmosphere, so pressures also rise a little with altitude.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TYRES: tuple[str, ...] = ("front_left", "front_right", "rear_left", "rear_right")
#: Share of the car's weight on each tyre (front-heavy: the motor is in front).
LOAD_SHARE: tuple[float, ...] = (0.28, 0.28, 0.22, 0.22)
HEAT_CAPACITY_J_PER_K = 9_000.0  # rubber, steel belts and the air inside
COOLING_STILL_W_PER_K = 6.0
COOLING_PER_MS_W_PER_K = 0.9  # forced convection grows with speed
HEAT_SHARE = 0.9  # of rolling-resistance work that heats the tyre (the rest heats the road)


@dataclass
class Tyres:
    cold_gauge_psi: tuple[float, ...]  # set at the fitter's, at cold_temp_c and sea level
    cold_temp_c: float
    temps_c: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.temps_c:
            self.temps_c = [self.cold_temp_c] * 4

    def step(self, rolling_power_w: float, speed_ms: float, ambient_c: float, dt: float) -> None:
        cooling = COOLING_STILL_W_PER_K + COOLING_PER_MS_W_PER_K * speed_ms
        for i, share in enumerate(LOAD_SHARE):
            heat = HEAT_SHARE * rolling_power_w * share
            self.temps_c[i] += (heat - cooling * (self.temps_c[i] - ambient_c)) / HEAT_CAPACITY_J_PER_K * dt

    def pressures_psi(self, atmosphere_psi: float) -> list[float]:
        """Gauge pressures now: the gas law from the cold setting, minus today's atmosphere."""
        out = []
        for cold, temp in zip(self.cold_gauge_psi, self.temps_c, strict=True):
            absolute = (cold + 14.6959) * (temp + 273.15) / (self.cold_temp_c + 273.15)
            out.append(absolute - atmosphere_psi)
        return out
