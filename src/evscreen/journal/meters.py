"""Energy and distance between two samples, and how each was measured (pure).

Energy comes from the pack's voltage x current, averaged over the step, and from the BMS's
cumulative counters where that is unknown, when both samples carry them and they moved plausibly
(a counter that went backwards or jumped was reset or misread: that step counts nothing). Distance comes from the
odometer's advance on the same terms, else from speed. A step longer than :data:`MAX_STEP_S`
(the server was stopped, a source went quiet) is not integrated at all: nothing is invented for
time nobody saw.
"""

from __future__ import annotations

from evscreen.journal.sample import Sample

#: Longest gap between two samples that is still integrated.
MAX_STEP_S = 10.0
#: Beyond these a counter's or the odometer's step is a glitch, not a measurement.
MAX_POWER_KW = 500.0
MAX_SPEED_KMH = 300.0


def energy_step(prev: Sample, cur: Sample) -> tuple[float, float, str] | None:
    """(kWh out of the battery, kWh into it, method) between two samples, or None if unknown.

    The pack's voltage x current comes first while it is known: the BMS's counters are read by the
    diagnostics poller every few seconds and move in 0.1 kWh steps, so between two samples they
    mostly stand still and then jump by what several steps used; differenced sample by sample they
    undercount. They serve where V x I is unknown.
    """
    dt = cur.t - prev.t
    if not 0.0 < dt <= MAX_STEP_S:
        return None
    p0, p1 = prev.power_kw, cur.power_kw
    if p1 is not None:
        power = p1 if p0 is None else (p0 + p1) / 2.0
        if abs(power) > MAX_POWER_KW:
            return None
        kwh = power * dt / 3600.0
        return (kwh, 0.0, "v_i_integral") if kwh >= 0 else (0.0, -kwh, "v_i_integral")
    limit = MAX_POWER_KW * dt / 3600.0 + 0.05  # + the counters' resolution
    if (prev.energy_discharged_kwh is not None and cur.energy_discharged_kwh is not None
            and prev.energy_charged_kwh is not None and cur.energy_charged_kwh is not None):
        out = cur.energy_discharged_kwh - prev.energy_discharged_kwh
        into = cur.energy_charged_kwh - prev.energy_charged_kwh
        if 0.0 <= out <= limit and 0.0 <= into <= limit:
            return out, into, "bms_counters"
    return None


def distance_step(prev: Sample, cur: Sample) -> tuple[float, str] | None:
    """(km, method) travelled between two samples, or None if unknown."""
    dt = cur.t - prev.t
    if not 0.0 < dt <= MAX_STEP_S:
        return None
    if prev.odometer_km is not None and cur.odometer_km is not None:
        km = cur.odometer_km - prev.odometer_km
        if 0.0 <= km <= MAX_SPEED_KMH * dt / 3600.0 + 0.1:  # + the odometer's resolution
            return km, "odometer"
    v0, v1 = prev.speed_kmh, cur.speed_kmh
    if v1 is None or not 0.0 <= v1 <= MAX_SPEED_KMH:
        return None
    speed = v1 if v0 is None or not 0.0 <= v0 <= MAX_SPEED_KMH else (v0 + v1) / 2.0
    return speed * dt / 3600.0, "speed_integral"
