"""The simulated driver: what speed they aim for on the cycle, and what acceleration they ask for.

The driver follows the cycle's trace like a dynamometer driver: feed-forward of the trace's own
acceleration plus a first-order correction of the speed error, within what the drive mode's pedal
map allows. Braking is limited by what a driver does in traffic, not by the tyres.
"""

from __future__ import annotations

from evscreen.sim.drive_cycle import DriveCycle
from evscreen.sim.modes import DriveMode

MAX_BRAKE = 3.5  # m/s², the firmest braking a driver uses in traffic
STOPPED_MS = 0.3  # below this with a zero target, the driver holds the car on the brake


def target(cycle: DriveCycle, t: float) -> tuple[float, float]:
    """(speed in m/s, its slope in m/s²) that the driver aims for at ``t`` s into the cycle."""
    return cycle.speed_at(t), cycle.accel_at(t)


def demand(speed: float, target_speed: float, target_accel: float, mode: DriveMode) -> float:
    """Acceleration (m/s²) the driver asks of the car."""
    wanted = target_accel + (target_speed - speed) / mode.response_s
    return min(mode.max_accel, max(-MAX_BRAKE, wanted))


def holding(speed: float, target_speed: float, target_accel: float) -> bool:
    """True while the car is (about to be) at rest and the driver keeps it there."""
    return target_speed < 0.01 and target_accel <= 0.0 and speed < STOPPED_MS
