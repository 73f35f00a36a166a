"""The car's body on the road: mass, drag, rolling resistance, grade and the driveline (pure).

Figures are those of a compact electric crossover of the Hyundai Kona Electric / Kia Niro EV class
(64 kWh, 150 kW): published kerb weight, Cd x frontal area, tyre size and reduction ratio, with a
driver aboard.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

G = 9.80665  # m/s², standard gravity
AIR_GAS_CONSTANT = 287.05  # J/(kg·K), dry air


@dataclass(frozen=True)
class BodyParams:
    mass_kg: float = 1760.0  # kerb weight 1685 kg + a 75 kg driver
    rotating_mass_factor: float = 1.04  # wheels, driveline and rotor inertia as equivalent mass
    drag_area_m2: float = 0.29 * 2.31  # Cd x frontal area
    rolling_resistance: float = 0.0085  # low-rolling-resistance tyres on asphalt
    wheel_radius_m: float = 0.334  # 215/55 R17, dynamic radius
    gear_ratio: float = 7.981  # single reduction, motor to wheel
    gear_efficiency: float = 0.97

    @property
    def effective_mass_kg(self) -> float:
        return self.mass_kg * self.rotating_mass_factor


def air_density(temp_c: float, altitude_m: float) -> float:
    """Dry-air density (kg/m³) from the barometric formula of the standard atmosphere."""
    pressure_pa: float = 101_325.0 * (1.0 - 2.25577e-5 * altitude_m) ** 5.25588  # ** on floats is typed Any
    return pressure_pa / (AIR_GAS_CONSTANT * (temp_c + 273.15))


def atmospheric_pressure_psi(altitude_m: float) -> float:
    psi: float = 14.6959 * (1.0 - 2.25577e-5 * altitude_m) ** 5.25588
    return psi


@dataclass(frozen=True)
class RoadLoad:
    """Forces (N) resisting motion at one instant; positive against forward travel."""

    aero: float
    rolling: float
    grade: float

    @property
    def total(self) -> float:
        return self.aero + self.rolling + self.grade


def road_load(body: BodyParams, speed_ms: float, grade: float, rho: float) -> RoadLoad:
    """Aerodynamic drag, rolling resistance (only while rolling) and the slope's share of weight."""
    theta = math.atan(grade)
    weight = body.mass_kg * G
    aero = 0.5 * rho * body.drag_area_m2 * speed_ms * speed_ms
    rolling = body.rolling_resistance * weight * math.cos(theta) if speed_ms > 0.01 else 0.0
    return RoadLoad(aero, rolling, weight * math.sin(theta))


def motor_rpm_for(body: BodyParams, wheel_speed_ms: float) -> float:
    """Motor speed for a wheel (circumferential) speed: wheel rpm times the reduction ratio."""
    return wheel_speed_ms / body.wheel_radius_m * body.gear_ratio * 60.0 / (2.0 * math.pi)
