"""What the screen's settings change in the car: drive modes and regeneration levels (pure).

A drive mode changes more than one thing, as in production EVs:

- the motor power and the acceleration the accelerator pedal map lets the driver ask for;
- how briskly the driver closes a gap to the speed they want (in eco, the softer pedal map makes
  the car lag the cycle on its hardest accelerations, so it reaches lower peak speeds);
- the motor controller's field strategy: eco runs loss-minimising flux at part load, sport keeps
  full flux for instant torque and pays for it in iron losses;
- thermal management: sport runs the coolant pumps and radiator fan harder to keep the motor,
  inverter and pack cool for sustained power, eco at their minimum;
- climate: eco caps the heat pump's power and relaxes the cabin set point by a degree.

On the same cycle, these make sport use a few percent more energy than normal and eco a few
percent less (see tests/test_sim_physics.py for the figures the tests hold the model to).

A regeneration level sets the deceleration the motor gives when the driver lifts off or brakes;
braking beyond it (or when the battery cannot take the power) goes to the friction brakes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DriveMode:
    power_w: float
    max_accel: float  # m/s²
    response_s: float  # time constant of the driver's speed correction
    flux_factor: float  # iron-loss scale of the motor controller's field strategy
    thermal_aux_w: float  # coolant pumps and radiator fan
    climate_max_w: float  # thermal power the heat pump may use
    set_point_relax_c: float  # set point moved this far toward the outside temperature


DRIVE_MODES: dict[str, DriveMode] = {
    "eco": DriveMode(60_000.0, 1.0, 2.0, 0.8, 60.0, 2_000.0, 1.0),
    "normal": DriveMode(120_000.0, 2.2, 1.2, 0.9, 120.0, 5_000.0, 0.0),
    "sport": DriveMode(150_000.0, 4.0, 0.6, 1.0, 280.0, 5_000.0, 0.0),
}

#: Deceleration (m/s²) the motor may give by regenerating, per ``regen_level``.
REGEN_DECEL: dict[str, float] = {"off": 0.0, "low": 0.7, "standard": 1.3, "high": 2.2}

#: Below this speed regeneration fades out (the machine's back-EMF is too low to charge well),
#: and the friction brakes bring the car to rest.
REGEN_FADE_MS = 8.0 / 3.6
