"""The traction motor and its inverter: torque limits, a loss model and temperature (pure).

A permanent-magnet synchronous machine: constant torque up to its base speed, constant power above
it. Losses, and so efficiency, depend on torque and speed:

- copper (and inverter conduction) losses grow with the square of torque, k_c·T²;
- inverter switching losses grow with the phase current, so with torque, k_s·|T|;
- iron losses grow with speed, k_i·ω^1.5, scaled by the controller's flux strategy: a
  loss-minimising field (eco) weakens the flux at part load, full flux (sport) keeps the
  torque response instant and pays for it;
- windage and bearing friction, k_w·ω², and a constant inverter/control draw while energised.

The resulting map (motor and inverter together) peaks about 96 % at medium torque and high speed,
falls below 70 % at high torque near standstill and below 80 % at light load at high speed, as
measured maps of such machines do.
Temperature: one thermal mass heated by the losses and cooled (first order) by the coolant loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class MotorParams:
    peak_torque_nm: float = 395.0
    peak_power_w: float = 150_000.0
    max_rpm: float = 10_500.0
    copper_loss_coeff: float = 0.06  # W/(N·m)²
    switching_loss_coeff: float = 10.0  # W/(N·m)
    iron_loss_coeff: float = 0.08  # W/(rad/s)^1.5 at full flux
    windage_coeff: float = 0.0003  # W/(rad/s)²
    inverter_idle_w: float = 150.0
    heat_capacity_j_per_k: float = 25_000.0
    cooling_w_per_k: float = 45.0
    derate_start_c: float = 140.0  # torque falls linearly from here...
    derate_end_c: float = 170.0  # ...to DERATE_FLOOR of peak here

    @property
    def max_omega(self) -> float:
        return self.max_rpm * 2.0 * math.pi / 60.0


DERATE_FLOOR = 0.3


def torque_limit(motor: MotorParams, omega: float, power_limit_w: float, temp_c: float) -> float:
    """Largest torque (N·m, positive) at ``omega`` rad/s under a mechanical power limit and heat."""
    if omega >= motor.max_omega:
        return 0.0
    limit = motor.peak_torque_nm
    power = min(power_limit_w, motor.peak_power_w)
    if omega > 1e-6:
        limit = min(limit, power / omega)
    if temp_c > motor.derate_start_c:
        span = motor.derate_end_c - motor.derate_start_c
        limit *= max(DERATE_FLOOR, 1.0 - (1.0 - DERATE_FLOOR) * (temp_c - motor.derate_start_c) / span)
    return max(0.0, limit)


def speed_losses(motor: MotorParams, omega: float, flux_factor: float) -> float:
    """Losses that depend on speed only (iron, windage, inverter idle), in W."""
    w = abs(omega)
    iron: float = motor.iron_loss_coeff * flux_factor * w**1.5  # float ** float is typed Any (could be complex)
    return iron + motor.windage_coeff * w * w + motor.inverter_idle_w


def losses(motor: MotorParams, torque: float, omega: float, flux_factor: float) -> float:
    """Total motor + inverter losses (W, always >= 0) at a torque and speed."""
    return (motor.copper_loss_coeff * torque * torque + motor.switching_loss_coeff * abs(torque)
            + speed_losses(motor, omega, flux_factor))


def electrical_power(motor: MotorParams, torque: float, omega: float, flux_factor: float) -> float:
    """DC power the inverter draws (W): mechanical power plus losses; negative when regenerating."""
    return torque * omega + losses(motor, torque, omega, flux_factor)


def efficiency(motor: MotorParams, torque: float, omega: float, flux_factor: float = 1.0) -> float:
    """Motoring efficiency (mechanical out / electrical in), or generating (electrical / mechanical)."""
    mech = torque * omega
    elec = electrical_power(motor, torque, omega, flux_factor)
    if mech > 0:
        return mech / elec
    if mech < 0 and elec < 0:
        return elec / mech
    return 0.0


def torque_for_electrical_limit(motor: MotorParams, omega: float, flux_factor: float, limit_w: float) -> float:
    """Largest motoring torque whose electrical power stays within ``limit_w`` (may be 0).

    Solves k_c·T² + (ω + k_s)·T + P_speed = P_limit for its positive root.
    """
    kc = motor.copper_loss_coeff
    c = speed_losses(motor, omega, flux_factor) - limit_w
    if c >= 0:
        return 0.0
    b = abs(omega) + motor.switching_loss_coeff
    return (-b + math.sqrt(b * b - 4.0 * kc * c)) / (2.0 * kc)


def regen_torque_for_charge_limit(motor: MotorParams, omega: float, flux_factor: float, limit_w: float) -> float:
    """Largest braking torque (a magnitude) whose electrical power stays >= -``limit_w``.

    For T < 0 the power is k_c·T² + (ω - k_s)·T + P_speed; its root nearest zero bounds the torque.
    With no real root the losses always exceed what the battery could take, so the battery does
    not limit the machine.
    """
    kc = motor.copper_loss_coeff
    b = abs(omega) - motor.switching_loss_coeff
    c = speed_losses(motor, omega, flux_factor) + limit_w
    disc = b * b - 4.0 * kc * c
    if disc < 0 or b <= 0:
        return math.inf
    root = (-b + math.sqrt(disc)) / (2.0 * kc)
    return max(0.0, -root)


@dataclass
class MotorThermal:
    """First-order thermal model: C·dT/dt = losses - h·(T - T_coolant)."""

    temp_c: float

    def step(self, motor: MotorParams, loss_w: float, coolant_c: float, dt: float) -> None:
        rate = (loss_w - motor.cooling_w_per_k * (self.temp_c - coolant_c)) / motor.heat_capacity_j_per_k
        self.temp_c += rate * dt
