"""Consumption, range and the efficiency score, as a car's trip computer works them out (pure).

Energy at the battery is booked against the distance it took: energy used while standing (climate,
12 V systems) counts toward the next stretch driven. Two distance-weighted moving averages follow
it: a long one (about 25 km) for the range estimate, which must not jump at every traffic light,
and a short one (about 2 km) for the efficiency score, which should answer to how one drives now.
Both start at the car's rated consumption, as a new car's trip computer starts from a default.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The reference the score is measured against: this car's rated consumption at the battery
#: (a compact EV of this class is rated about 147 Wh/km WLTP from the wall, ~92 % of which reaches
#: the cells). Driving at the reference scores 5 of 10.
REFERENCE_WH_PER_KM = 135.0
RANGE_WINDOW_KM = 25.0
SCORE_WINDOW_KM = 2.0
BOOK_EVERY_KM = 0.05


@dataclass
class ConsumptionMeter:
    long_wh_per_km: float = REFERENCE_WH_PER_KM
    short_wh_per_km: float = REFERENCE_WH_PER_KM
    pending_wh: float = 0.0
    pending_km: float = 0.0

    def add(self, energy_wh: float, distance_km: float) -> None:
        self.pending_wh += energy_wh
        self.pending_km += distance_km
        if self.pending_km >= BOOK_EVERY_KM:
            rate = self.pending_wh / self.pending_km
            self.long_wh_per_km += (rate - self.long_wh_per_km) * min(1.0, self.pending_km / RANGE_WINDOW_KM)
            self.short_wh_per_km += (rate - self.short_wh_per_km) * min(1.0, self.pending_km / SCORE_WINDOW_KM)
            self.pending_wh = 0.0
            self.pending_km = 0.0

    def range_km(self, usable_wh: float) -> float:
        # A car regenerating down a long hill must not promise infinite range.
        return max(0.0, usable_wh) / max(self.long_wh_per_km, 60.0)

    @property
    def efficiency_score(self) -> float:
        return efficiency_score(self.short_wh_per_km)


def efficiency_score(wh_per_km: float) -> float:
    """0-10: 5 at the reference, 10 at 60 % of it or less, 0 at 140 % or more (linear between)."""
    score = 5.0 + 12.5 * (1.0 - wh_per_km / REFERENCE_WH_PER_KM)
    return min(10.0, max(0.0, score))
