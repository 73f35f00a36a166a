"""A DC fast-charging session while the car is parked at a charger (pure).

The session plugs in, ramps the charger up, and delivers what the battery can accept (the pack's
own limits make the power taper as the cells near their maximum voltage) until the state of
charge reaches the ``charge_limit`` setting, read afresh every step so a change on the screen
takes effect at once. Then it unplugs. A car already at or above its limit does not charge.
"""

from __future__ import annotations

from dataclasses import dataclass

PLUG_S = 45.0  # parking, plugging in and the charger's handshake; the same to unplug
CHARGER_W = 50_000.0  # a common CCS DC charger
RAMP_W_PER_S = 10_000.0


@dataclass
class ChargingSession:
    phase: str = "plugging"  # plugging -> charging -> unplugging -> done
    elapsed_s: float = 0.0
    power_w: float = 0.0  # what the charger delivers now
    delivered_wh: float = 0.0

    @property
    def done(self) -> bool:
        return self.phase == "done"

    def step(self, soc: float, charge_limit: float, acceptance_w: float, aux_w: float, dt: float) -> float:
        """Advance ``dt`` s; returns the charger's output power (W) into the car now."""
        self.elapsed_s += dt
        if self.phase == "plugging":
            if self.elapsed_s >= PLUG_S:
                self._enter("charging")
        elif self.phase == "charging":
            if soc >= charge_limit:
                self._enter("unplugging")
            else:
                wanted = min(CHARGER_W, acceptance_w + aux_w)
                self.power_w = min(wanted, self.power_w + RAMP_W_PER_S * dt)
        elif self.phase == "unplugging" and self.elapsed_s >= PLUG_S:
            self._enter("done")
        self.delivered_wh += self.power_w * dt / 3600.0
        return self.power_w

    def _enter(self, phase: str) -> None:
        self.phase = phase
        self.elapsed_s = 0.0
        self.power_w = 0.0
