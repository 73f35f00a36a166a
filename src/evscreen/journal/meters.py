"""Energy and distance between samples, and how each was measured (pure).

**Energy** comes from the BMS's cumulative counters when the car provides them (the Kona's
0x220101 ``battery_pack.energy_discharged_kwh`` / ``energy_charged_kwh``), else from the pack's
voltage x current averaged over each step. The counters are polled every few seconds and count in
0.1 kWh steps: sample by sample they stand still and then jump by what several samples used. So
:class:`EnergyMeter` measures with them from one *change* of a counter to the next (each such span
is whole counter steps, as the car counted them) and lets V x I fill in only until a counter next
moves: before the first change in a record and after the last. A counter that went backwards or
jumped further than :data:`MAX_POWER_KW` allows (reset, misread) is not believed: V x I measures
until the next change. The counters are cumulative, so an outage of the poller costs nothing once
they move again: the next change measures across it.

**Distance** comes from the odometer's advance, else from speed. A step longer than
:data:`MAX_STEP_S` (the server was stopped, a source went quiet, the machine stalled) is not
integrated at all: nothing is invented for time nobody saw. The counters and the odometer saw it:
their advance across such a step still counts, so energy and distance cover the same time.
"""

from __future__ import annotations

from dataclasses import dataclass

from evscreen.journal.records import combine_method
from evscreen.journal.sample import Sample

#: Longest gap between two samples that is still integrated.
MAX_STEP_S = 10.0
#: Beyond these a counter's or the odometer's step is a glitch, not a measurement.
MAX_POWER_KW = 500.0
MAX_SPEED_KMH = 300.0
#: The BMS counters' resolution (kWh): a span between two changes is whole steps of it.
COUNTER_STEP_KWH = 0.1
#: A record whose counters measured less than this share of it (V x I bridging the rest, before
#: their first and after their last change) says "mixed", not "bms_counters".
MAX_BRIDGED_SHARE = 0.25

BMS_COUNTERS = "bms_counters"
V_I_INTEGRAL = "v_i_integral"


def v_i_step(prev: Sample, cur: Sample) -> tuple[float, float] | None:
    """(kWh out of the battery, kWh into it) by V x I between two samples, or None if unknown."""
    dt = cur.t - prev.t
    p0, p1 = prev.power_kw, cur.power_kw
    if not 0.0 < dt <= MAX_STEP_S or p1 is None:
        return None
    power = p1 if p0 is None else (p0 + p1) / 2.0
    if abs(power) > MAX_POWER_KW:
        return None
    kwh = power * dt / 3600.0
    return (kwh, 0.0) if kwh >= 0 else (0.0, -kwh)


@dataclass(frozen=True)
class EnergyStep:
    """What one sample changes in a record's totals (a change may take back V x I the counters
    replaced, so it can be negative), and how it was measured: ``method`` is None for V x I that
    only bridges to the next counter change."""

    out_kwh: float = 0.0
    in_kwh: float = 0.0
    method: str | None = None
    #: This step's own flow (kWh in, seconds), for a charge curve; None if unknown.
    flow: tuple[float, float] | None = None


class EnergyMeter:
    """One record's energy, sample by sample: the counters between their changes, V x I elsewhere.

    Where V x I is unknown the counters are all there is: they measure from their first reading.
    """

    def __init__(self, method: str | None = None) -> None:
        """``method``: how the record was measured so far (one resumed after a restart)."""
        self._method = method  # how what was booked was measured
        self._seen: tuple[float, float] | None = None  # (discharged, charged) as last read
        self._anchor: tuple[float, float, float] | None = None  # (discharged, charged, t) measured from
        self._since: float | None = None  # when the counters first anchored in this record
        self._booked = (0.0, 0.0)  # what they measured (out, in)
        self._pending = (0.0, 0.0)  # V x I since the anchor (or, before one, since the counters appeared)
        self._measured = False  # the counters have measured a span in this record
        self._head_kwh = 0.0  # V x I that bridged to the counters' first change

    @property
    def method(self) -> str | None:
        """How the record's energy was measured (:data:`~evscreen.journal.records.ENERGY_METHODS`)."""
        if self._method is None and self._head_kwh + sum(self._pending) > 0:
            return V_I_INTEGRAL  # the counters never moved: V x I measured it all
        if self._method == BMS_COUNTERS and self.bridged_share > MAX_BRIDGED_SHARE:
            return "mixed"
        return self._method

    @property
    def bridged_share(self) -> float:
        """How much of what the counters and their bridges measured the bridges did (0 to 1): a
        poll every few seconds leaves a sliver; a poller that died mid-trip, or a simulation far
        faster than its polls, a large part."""
        bridged = self._head_kwh + sum(self._pending)
        total = bridged + sum(self._booked)
        return bridged / total if total > 0 else 0.0

    def _reset(self, counters: tuple[float, float] | None, t: float, vi_known: bool) -> None:
        self._seen = counters
        self._anchor = None if counters is None or vi_known else (*counters, t)
        if self._anchor is not None and self._since is None:
            self._since = t
        self._pending = (0.0, 0.0)

    def _plausible(self, d_out: float, d_in: float, since: float, t: float) -> bool:
        """Whether a rise of the counters since ``since``, and all they measured in this record with
        it, is one :data:`MAX_POWER_KW` could explain, give or take a step and a half of their
        resolution (the once-per-record budget keeps that slack from adding up change by change)."""
        assert self._since is not None
        span = MAX_POWER_KW * (t - since) / 3600.0 + 1.5 * COUNTER_STEP_KWH
        budget = MAX_POWER_KW * (t - self._since) / 3600.0 + 1.5 * COUNTER_STEP_KWH
        return (0.0 <= d_out <= span and 0.0 <= d_in <= span
                and self._booked[0] + d_out <= budget and self._booked[1] + d_in <= budget)

    def step(self, prev: Sample, cur: Sample) -> EnergyStep:
        step = self._step(prev, cur)
        if step.method is not None:
            self._method = combine_method(self._method, step.method)
        return step

    def _step(self, prev: Sample, cur: Sample) -> EnergyStep:
        vi = v_i_step(prev, cur)
        out, into = vi if vi is not None else (0.0, 0.0)
        flow = None if vi is None else (into - out, cur.t - prev.t)
        vi_method = V_I_INTEGRAL if vi is not None else None
        if self._seen is None:
            self._reset(_counters(prev), prev.t, vi is not None)
        counters = _counters(cur)
        if counters is None or self._seen is None:  # none (any more), or they appear only now
            bridged = self._pending != (0.0, 0.0)  # V x I that waited for a change: it measured
            self._reset(counters, cur.t, vi is not None)
            return EnergyStep(out, into, V_I_INTEGRAL if bridged else vi_method, flow)
        if counters == self._seen:  # standing still: V x I bridges to the next change
            self._pending = (self._pending[0] + out, self._pending[1] + into)
            return EnergyStep(out, into, None, flow)
        self._seen = counters
        anchor = self._anchor
        if anchor is None:
            # The first change: the counters measure from here. V x I before it bridged from the
            # record's start, unless the counters had measured already (and then glitched).
            head = self._pending[0] + self._pending[1] + out + into
            self._anchor, self._pending = (*counters, cur.t), (0.0, 0.0)
            if self._since is None:
                self._since = cur.t
            if self._measured:
                return EnergyStep(out, into, V_I_INTEGRAL if head > 0 else None, flow)
            self._head_kwh += head
            return EnergyStep(out, into, None, flow)
        d_out, d_in = counters[0] - anchor[0], counters[1] - anchor[1]
        if not self._plausible(d_out, d_in, anchor[2], cur.t):
            # A reset or a misread: V x I measured since the anchor; the next change anchors anew.
            bridged = self._pending != (0.0, 0.0)
            self._reset(counters, cur.t, vi is not None)
            return EnergyStep(out, into, V_I_INTEGRAL if bridged else vi_method, flow)
        pending, self._pending = self._pending, (0.0, 0.0)  # whole counter steps replace V x I
        self._anchor, self._measured = (*counters, cur.t), True
        self._booked = (self._booked[0] + d_out, self._booked[1] + d_in)
        return EnergyStep(d_out - pending[0], d_in - pending[1], BMS_COUNTERS,
                          flow if flow is not None else (d_in - d_out, cur.t - anchor[2]))


def _counters(s: Sample) -> tuple[float, float] | None:
    if s.energy_discharged_kwh is None or s.energy_charged_kwh is None:
        return None
    return s.energy_discharged_kwh, s.energy_charged_kwh


def distance_step(prev: Sample, cur: Sample) -> tuple[float, str] | None:
    """(km, method) travelled between two samples, or None if unknown.

    The odometer counts on its own, like the BMS's energy counters: its advance measures across a
    gap between samples too (so that distance and energy cover the same time); speed is only
    integrated over a step of :data:`MAX_STEP_S` at most.
    """
    dt = cur.t - prev.t
    if dt <= 0.0:
        return None
    if prev.odometer_km is not None and cur.odometer_km is not None:
        km = cur.odometer_km - prev.odometer_km
        if 0.0 <= km <= MAX_SPEED_KMH * dt / 3600.0 + 0.1:  # + the odometer's resolution
            return km, "odometer"
    if dt > MAX_STEP_S:
        return None
    v0, v1 = prev.speed_kmh, cur.speed_kmh
    if v1 is None or not 0.0 <= v1 <= MAX_SPEED_KMH:
        return None
    speed = v1 if v0 is None or not 0.0 <= v0 <= MAX_SPEED_KMH else (v0 + v1) / 2.0
    return speed * dt / 3600.0, "speed_integral"
