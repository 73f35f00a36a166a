"""Weather outside and climate inside the car (pure; randomness only from the caller's seeded RNG).

Ambient temperature and dew point drift slowly as mean-reverting random walks (Ornstein-Uhlenbeck
processes, relaxing over an hour); relative humidity follows from the two by the Magnus formula,
so it falls as the air warms, as it does outdoors. The cabin is one thermal mass exchanging heat
with the outside through its shell and conditioned by a heat pump toward a set point by a PI
controller (the integral removes the steady error a plain proportional one would leave).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

WEATHER_RELAX_S = 3600.0
TEMP_SIGMA_C = 1.5  # spread of ambient temperature around its mean
DEW_SIGMA_C = 1.0


def relative_humidity(temp_c: float, dew_point_c: float) -> float:
    """RH (%) from temperature and dew point (Magnus formula, Alduchov & Eskridge coefficients)."""
    a, b = 17.625, 243.04
    rh = 100.0 * math.exp(a * dew_point_c / (b + dew_point_c) - a * temp_c / (b + temp_c))
    return min(100.0, max(0.0, rh))


@dataclass
class Weather:
    mean_temp_c: float
    temp_c: float
    mean_dew_point_c: float
    dew_point_c: float

    @classmethod
    def from_rng(cls, rng: random.Random) -> Weather:
        mean = rng.uniform(6.0, 26.0)
        dew = mean - rng.uniform(3.0, 12.0)
        return cls(mean, mean + rng.gauss(0.0, 1.0), dew, dew + rng.gauss(0.0, 0.5))

    def step(self, rng: random.Random, dt: float) -> None:
        self.temp_c = _ou(self.temp_c, self.mean_temp_c, TEMP_SIGMA_C, rng, dt)
        self.dew_point_c = _ou(self.dew_point_c, self.mean_dew_point_c, DEW_SIGMA_C, rng, dt)
        self.dew_point_c = min(self.dew_point_c, self.temp_c)  # condensation caps it at saturation

    @property
    def humidity(self) -> float:
        return relative_humidity(self.temp_c, self.dew_point_c)


def _ou(x: float, mean: float, sigma: float, rng: random.Random, dt: float) -> float:
    """One exact step of an Ornstein-Uhlenbeck process with stationary deviation ``sigma``."""
    decay = math.exp(-dt / WEATHER_RELAX_S)
    return mean + (x - mean) * decay + sigma * math.sqrt(1.0 - decay * decay) * rng.gauss(0.0, 1.0)


@dataclass(frozen=True)
class CabinParams:
    heat_capacity_j_per_k: float = 90_000.0  # air, seats and trim that follow the air
    shell_w_per_k: float = 55.0  # conduction and ventilation to outside
    hvac_gain_w_per_k: float = 700.0  # heat the controller asks for per kelvin of error...
    hvac_integral_w_per_k_s: float = 3.0  # ...and per kelvin-second of error accumulated
    hvac_max_w: float = 5_000.0  # thermal
    cop_heating: float = 2.6  # heat pump
    cop_cooling: float = 3.0
    blower_w: float = 90.0


@dataclass
class Cabin:
    params: CabinParams
    temp_c: float
    hvac_electric_w: float = 0.0
    integral_w: float = 0.0  # the controller's integral term, in watts of heat

    def step(self, ambient_c: float, set_point_c: float, max_thermal_w: float, dt: float) -> float:
        """Advance ``dt`` seconds; returns the electrical power the HVAC drew (W)."""
        p = self.params
        limit = min(p.hvac_max_w, max_thermal_w)
        error = set_point_c - self.temp_c
        # Anti-windup: the integral only covers what the proportional part leaves inside the limit.
        self.integral_w += p.hvac_integral_w_per_k_s * error * dt
        self.integral_w = min(limit, max(-limit, self.integral_w))
        heat = min(limit, max(-limit, p.hvac_gain_w_per_k * error + self.integral_w))
        if heat >= 0:
            electric = heat / p.cop_heating
        else:
            electric = -heat / p.cop_cooling
        electric += p.blower_w
        flow = heat - p.shell_w_per_k * (self.temp_c - ambient_c)
        self.temp_c += flow / p.heat_capacity_j_per_k * dt
        self.hvac_electric_w = electric
        return electric
