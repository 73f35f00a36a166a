"""The digital twin's predictions, learned from the journal (pure: records in, numbers out).

- **Consumption** (Wh/km at the battery): the mean of recent trips, each weighted by its distance
  and by how recent it is (the weight halves every :data:`HALF_LIFE_TRIPS` trips), so the figure
  follows how the car is driven now. When the trips show a dependence on the ambient temperature
  (at least :data:`MIN_TRIPS_FOR_TEMPERATURE` trips spanning :data:`MIN_TEMPERATURE_SPAN_C`, and a
  weighted regression slope more than twice its standard error), the figure is moved along that
  slope to today's temperature.
- **Usable capacity** (kWh per 100 % SoC): energy over SoC used by recent trips (else charges), or
  the vehicle profile's ``usable_capacity_kwh``; it turns the SoC into energy. Charging takes more
  energy per percent than driving gets out of it (the pack's losses), so the charge time uses the
  figure learned from charge sessions when there is one.
- **Range**: the energy left (SoC x capacity) over the consumption.
- **Minutes to the charge limit**: the energy still to go, at the power the car takes now, capped by
  the charge curve learned from past sessions (per SoC percent, the most any recent session drew
  there) and scaled up to the power seen now if that is higher; without history, a typical lithium
  taper (:data:`TYPICAL_TAPER`) shapes the power from the current value on.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from evscreen.journal.records import Charge, Trip

HALF_LIFE_TRIPS = 5.0
MAX_TRIPS = 30
MAX_CHARGES = 10
MIN_LEARN_KM = 2.0
MIN_LEARN_SOC = 3.0  # % of SoC a record must span to say something about the capacity
MIN_TRIPS_FOR_TEMPERATURE = 4
MIN_TEMPERATURE_SPAN_C = 5.0
MIN_CHARGE_KW = 0.5
#: Relative power a lithium-ion pack accepts against SoC on a DC charger, when nothing is learned yet.
TYPICAL_TAPER: tuple[tuple[float, float], ...] = (
    (0.0, 1.0), (50.0, 1.0), (60.0, 0.9), (70.0, 0.75), (80.0, 0.55), (90.0, 0.35), (100.0, 0.1),
)
_TAPER_SOC = [p[0] for p in TYPICAL_TAPER]



@dataclass(frozen=True)
class ConsumptionModel:
    wh_per_km: float  # the weighted mean, at temperature ``mean_temp_c``
    mean_temp_c: float | None
    slope_wh_per_km_per_c: float  # 0 unless the data shows a dependence
    trips: int

    def at(self, ambient_c: float | None) -> float:
        if ambient_c is None or self.mean_temp_c is None or self.slope_wh_per_km_per_c == 0.0:
            return self.wh_per_km
        adjusted = self.wh_per_km + self.slope_wh_per_km_per_c * (ambient_c - self.mean_temp_c)
        return min(2.0 * self.wh_per_km, max(0.5 * self.wh_per_km, adjusted))


def learn_consumption(trips: Sequence[Trip]) -> ConsumptionModel | None:
    """From trips (the latest first; the open one may lead), or None with nothing to learn from."""
    points: list[tuple[float, float, float | None]] = []  # (weight, Wh/km, ambient)
    for trip in trips:
        rate = trip.wh_per_km
        if trip.distance_km < MIN_LEARN_KM or rate is None or not 20.0 <= rate <= 1000.0:
            continue
        weight = trip.distance_km * 0.5 ** (len(points) / HALF_LIFE_TRIPS)
        points.append((weight, rate, trip.ambient_temp_avg))
        if len(points) >= MAX_TRIPS:
            break
    if not points:
        return None
    total = sum(w for w, _, _ in points)
    mean = sum(w * y for w, y, _ in points) / total
    with_temp = [(w, y, x) for w, y, x in points if x is not None]
    slope, mean_temp = _temperature_slope(with_temp)
    if mean_temp is not None:
        # The regression's own centre: at mean_temp the adjusted figure is the temperature-weighted mean.
        tw = sum(w for w, _, _ in with_temp)
        mean = sum(w * y for w, y, _ in with_temp) / tw
    return ConsumptionModel(mean, mean_temp, slope, len(points))


def _temperature_slope(points: Sequence[tuple[float, float, float]]) -> tuple[float, float | None]:
    """(slope, weighted mean temperature) when the data shows a dependence, else (0, None)."""
    if len(points) < MIN_TRIPS_FOR_TEMPERATURE:
        return 0.0, None
    temps = [x for _, _, x in points]
    if max(temps) - min(temps) < MIN_TEMPERATURE_SPAN_C:
        return 0.0, None
    sw = sum(w for w, _, _ in points)
    sw2 = sum(w * w for w, _, _ in points)
    xm = sum(w * x for w, _, x in points) / sw
    ym = sum(w * y for w, y, _ in points) / sw
    sxx = sum(w * (x - xm) ** 2 for w, _, x in points)
    if sxx <= 0:
        return 0.0, None
    slope = sum(w * (x - xm) * (y - ym) for w, y, x in points) / sxx
    n_eff = sw * sw / sw2
    if n_eff <= 2.5:
        return 0.0, None
    residual = sum(w * (y - ym - slope * (x - xm)) ** 2 for w, y, x in points) / sw
    se = math.sqrt(residual / (sxx / sw) / (n_eff - 2.0))
    if abs(slope) <= 2.0 * se:
        return 0.0, None
    return slope, xm


def learn_capacity(trips: Sequence[Trip], charges: Sequence[Charge]) -> float | None:
    """kWh per 100 % of SoC from what recent records used (trips) or took in (charges)."""
    for records in (trips[:MAX_TRIPS], charges[:MAX_CHARGES]):
        kwh = span = 0.0
        for rec in records:
            if rec.soc_start is None or rec.soc_end is None:
                continue
            used = abs(rec.soc_start - rec.soc_end)
            if used >= MIN_LEARN_SOC and rec.energy_kwh > 0:
                kwh += rec.energy_kwh
                span += used
        if span >= MIN_LEARN_SOC:
            capacity = kwh / span * 100.0
            if 5.0 <= capacity <= 300.0:
                return capacity
    return None


def learn_charge_curve(charges: Sequence[Charge]) -> dict[int, float]:
    """SoC percent -> the most power (kW) any recent session drew there: the car's acceptance."""
    curve: dict[int, float] = {}
    for charge in charges[:MAX_CHARGES]:
        for soc, kw in charge.curve_points():
            key = int(soc)
            if kw > curve.get(key, 0.0):
                curve[key] = kw
    return curve


def typical_taper(soc: float) -> float:
    s = min(max(soc, 0.0), 100.0)
    i = min(bisect.bisect_right(_TAPER_SOC, s), len(TYPICAL_TAPER) - 1)
    (s0, v0), (s1, v1) = TYPICAL_TAPER[i - 1], TYPICAL_TAPER[i]
    return v0 + (v1 - v0) * (s - s0) / (s1 - s0)


def _acceptance(curve: Mapping[int, float], soc: float) -> float | None:
    """The learned curve at ``soc``: interpolated, and tapered typically beyond what was seen."""
    if not curve:
        return None
    keys = sorted(curve)
    s = soc
    if s <= keys[0]:
        return curve[keys[0]]
    if s >= keys[-1]:
        last = keys[-1]
        return curve[last] * typical_taper(s) / typical_taper(last)
    i = bisect.bisect_right(keys, s)
    k0, k1 = keys[i - 1], keys[i]
    return curve[k0] + (curve[k1] - curve[k0]) * (s - k0) / (k1 - k0)


def minutes_to_limit(soc: float, limit: float, power_kw: float, capacity_kwh: float,
                     curve: Mapping[int, float] | None = None) -> float | None:
    """Minutes from ``soc`` to ``limit`` % taking ``power_kw`` now; None if no power flows."""
    if soc >= limit:
        return 0.0
    if power_kw < MIN_CHARGE_KW or capacity_kwh <= 0:
        return None
    learned = _acceptance(curve or {}, soc)
    scale = max(1.0, power_kw / learned) if learned else 1.0
    minutes = 0.0
    step = 0.5
    s = soc
    while s < limit:
        ds = min(step, limit - s)
        mid = s + ds / 2.0
        accept = _acceptance(curve or {}, mid)
        if accept is not None:
            power = min(power_kw, scale * accept)
        else:
            power = min(power_kw, power_kw * typical_taper(mid) / typical_taper(soc))
        minutes += capacity_kwh * ds / 100.0 / max(power, MIN_CHARGE_KW) * 60.0
        s += ds
    return minutes


@dataclass(frozen=True)
class Learned:
    """Everything the journal has learned, refreshed whenever a trip or session closes."""

    consumption: ConsumptionModel | None
    capacity_kwh: float | None
    charge_curve: dict[int, float]
    #: kWh per 100 % SoC going in: more than coming out (the pack's losses), so learned from charges.
    charge_capacity_kwh: float | None = None

    @classmethod
    def from_history(cls, trips: Sequence[Trip], charges: Sequence[Charge],
                     rated_capacity_kwh: float | None = None) -> Learned:
        capacity = learn_capacity(trips, charges) or rated_capacity_kwh
        charge_capacity = learn_capacity([], charges) or capacity
        return cls(learn_consumption(trips), capacity, learn_charge_curve(charges), charge_capacity)


def predictions(learned: Learned, *, soc: float | None, ambient_c: float | None, charging: bool,
                charge_power_kw: float | None, charge_limit: Any, open_trip: Trip | None = None,
                open_charge: Charge | None = None) -> dict[str, float | None]:
    """The telemetry's ``predictions`` object for this instant (values None when not known)."""
    model = learned.consumption
    if open_trip is not None and open_trip.distance_km >= MIN_LEARN_KM:
        # The drive under way is the most recent evidence of all.
        model = learn_consumption([open_trip]) if model is None else _with_open(model, open_trip)
    capacity = learned.capacity_kwh
    charge_capacity = learned.charge_capacity_kwh or capacity
    if charge_capacity is None and open_charge is not None:
        charge_capacity = learn_capacity([], [open_charge])
    consumption = None if model is None else model.at(ambient_c)
    range_km = None
    if consumption is not None and capacity is not None and soc is not None:
        range_km = max(0.0, soc) / 100.0 * capacity * 1000.0 / max(consumption, 50.0)
    minutes = None
    if (charging and soc is not None and charge_capacity is not None and charge_power_kw is not None
            and isinstance(charge_limit, int) and not isinstance(charge_limit, bool)):
        minutes = minutes_to_limit(soc, float(charge_limit), charge_power_kw, charge_capacity, learned.charge_curve)
    return {
        "range_km": None if range_km is None else round(range_km, 1),
        "consumption_wh_per_km": None if consumption is None else round(consumption, 1),
        "minutes_to_charge_limit": None if minutes is None else round(minutes, 1),
    }


def _with_open(model: ConsumptionModel, trip: Trip) -> ConsumptionModel:
    """Blend the open trip in as the latest trip: weighted by its distance against the history's."""
    rate = trip.wh_per_km
    if rate is None or not 20.0 <= rate <= 1000.0:
        return model
    history_weight = 25.0  # km: the history counts as much as a 25 km drive
    w = trip.distance_km / (trip.distance_km + history_weight)
    return ConsumptionModel(model.wh_per_km * (1 - w) + rate * w, model.mean_temp_c, model.slope_wh_per_km_per_c,
                            model.trips + 1)
