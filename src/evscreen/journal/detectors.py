"""Trip and charge-session detection: a state machine fed with samples, emitting events (pure).

**Charging** is the car's own charging state when its profile maps one (``vehicle.charging``),
else inferred: power flowing into the battery (at least :data:`CHARGE_MIN_KW`) with the car at a
standstill, sustained for :data:`CHARGE_CONFIRM_S` (a session is only announced then, and starts
at its first such sample). An inferred session ends once no charging has been seen for
:data:`CHARGE_END_S` (chargers pause; the session ends at its last charging sample) or at once
when the car moves.

**A trip** follows the car's ready (or ignition) state when the profile maps it: from switched on
to switched off. Without it, a trip starts when the car moves and ends at its last motion once it
has stood still for ``park_gap_s`` (5 minutes). Either way a charge session ends the trip (at its
last motion), and a trip is only announced (and kept) once it has covered :data:`MIN_TRIP_KM`:
switching the car on to sit in it, or shunting in a car park, is not a trip.

:meth:`Recorder.feed` returns what happened (:class:`Event`); the records themselves are updated
in place, so whoever keeps them (the sink) saves the open ones whenever it checkpoints.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

from evscreen.journal.meters import MAX_STEP_S, EnergyMeter, distance_step
from evscreen.journal.records import Charge, Trip, combine_method
from evscreen.journal.sample import Sample

MOVING_KMH = 2.0
PARK_GAP_S = 300.0
MIN_TRIP_KM = 0.1
CHARGE_MIN_KW = 0.5
CHARGE_CONFIRM_S = 30.0
CHARGE_END_S = 120.0

TRIP_STARTED = "trip_started"
TRIP_CLOSED = "trip_closed"
CHARGE_STARTED = "charge_started"
CHARGE_CLOSED = "charge_closed"


@dataclass(frozen=True)
class Event:
    kind: str  # one of TRIP_STARTED, TRIP_CLOSED, CHARGE_STARTED, CHARGE_CLOSED
    record: Trip | Charge


class Recorder:
    """Turns a stream of samples into trips and charge sessions."""

    def __init__(self, park_gap_s: float = PARK_GAP_S) -> None:
        self.park_gap_s = park_gap_s
        self.trip: Trip | None = None
        self.trip_announced = False
        self._trip_at_motion: Trip | None = None
        self._last_motion_t = 0.0
        self.charge: Charge | None = None
        self.charge_announced = False
        self._charge_at_last: Charge | None = None
        self._last_charging_t = 0.0
        self.prev: Sample | None = None
        # Each open record's energy meter (a resumed record starts a new one: its counters anchor anew).
        self._trip_meter = EnergyMeter()
        self._charge_meter = EnergyMeter()

    # -- start-up and clock -----------------------------------------------------------------------

    def resume(self, trip: Trip | None, charge: Charge | None, now: float) -> list[Event]:
        """Take over the records left open by the last run (a power cut, a restart).

        A record last checkpointed within ``park_gap_s`` of ``now`` carries on (the car was
        switched off and on again, or the server restarted, mid-trip); an older one is closed
        where its last checkpoint left it.
        """
        events: list[Event] = []
        if trip is not None:
            if 0.0 <= now - trip.updated <= self.park_gap_s:
                self.trip, self.trip_announced, self._trip_meter = trip, True, EnergyMeter(trip.energy_method)
                self._trip_at_motion, self._last_motion_t = copy.copy(trip), trip.updated
            else:
                trip.end = trip.updated
                events.append(Event(TRIP_CLOSED, trip))
        if charge is not None:
            if 0.0 <= now - charge.updated <= self.park_gap_s:
                self.charge, self.charge_announced = charge, True
                self._charge_meter = EnergyMeter(charge.energy_method)
                self._charge_at_last, self._last_charging_t = _copy_charge(charge), charge.updated
            else:
                charge.end = charge.updated
                events.append(Event(CHARGE_CLOSED, charge))
        return events

    def shift_time(self, seconds: float) -> None:
        """The wall clock jumped (NTP set it after boot): move the open records with it."""
        for rec in (self.trip, self._trip_at_motion, self.charge, self._charge_at_last):
            if rec is not None:
                rec.start += seconds
                rec.updated += seconds
        self._last_motion_t += seconds
        self._last_charging_t += seconds
        if self.prev is not None:
            self.prev = replace(self.prev, t=self.prev.t + seconds)

    # -- the state machine ------------------------------------------------------------------------

    def feed(self, s: Sample) -> list[Event]:
        events: list[Event] = []
        prev = self.prev
        if prev is not None and s.t <= prev.t:
            return events  # a repeated or out-of-order sample carries nothing new
        self.prev = s
        moving = s.speed_kmh is not None and s.speed_kmh >= MOVING_KMH
        if self._charging(s, moving):
            if self.charge is None:
                self.charge = _open_charge(s)
                self.charge_announced, self._charge_meter = False, EnergyMeter()
            elif prev is not None:
                _add_to_charge(self.charge, self._charge_meter, prev, s)
            self._charge_at_last, self._last_charging_t = _copy_charge(self.charge), s.t
            if not self.charge_announced and (s.charging is True or s.t - self.charge.start >= CHARGE_CONFIRM_S):
                self.charge_announced = True
                if self.trip is not None:  # only a confirmed session ends the trip
                    events += self._close_trip(at_motion=True)
                events.append(Event(CHARGE_STARTED, self.charge))
            return events
        if self.charge is not None:
            explicit = s.charging is False
            if explicit or moving or s.t - self._last_charging_t >= CHARGE_END_S or not self.charge_announced:
                events += self._close_charge()
            else:
                if prev is not None:
                    _add_to_charge(self.charge, self._charge_meter, prev, s)  # a pause: counted if charging resumes
                return events
        events += self._trip_step(prev, s, moving)
        return events

    def _charging(self, s: Sample, moving: bool) -> bool:
        if s.charging is not None:
            return s.charging
        power = s.power_kw
        return not moving and power is not None and power <= -CHARGE_MIN_KW

    def _trip_step(self, prev: Sample | None, s: Sample, moving: bool) -> list[Event]:
        events: list[Event] = []
        by_ready = s.ready is not None
        if self.trip is None:
            if (s.ready if by_ready else moving):
                self.trip = _open_trip(s)
                self.trip_announced, self._trip_meter = False, EnergyMeter()
                self._trip_at_motion, self._last_motion_t = copy.copy(self.trip), s.t
            return events
        trip = self.trip
        if by_ready and not s.ready:
            if prev is not None:
                _add_to_trip(trip, self._trip_meter, prev, s)
            return self._close_trip(at_motion=False)
        if prev is not None:
            _add_to_trip(trip, self._trip_meter, prev, s)
        if moving:
            self._trip_at_motion, self._last_motion_t = copy.copy(trip), s.t
        elif not by_ready and s.t - self._last_motion_t >= self.park_gap_s:
            return self._close_trip(at_motion=True)
        if not self.trip_announced and trip.distance_km >= MIN_TRIP_KM:
            self.trip_announced = True
            events.append(Event(TRIP_STARTED, trip))
        return events

    def _close_trip(self, *, at_motion: bool) -> list[Event]:
        trip = self.trip
        assert trip is not None
        if at_motion and self._trip_at_motion is not None:
            # Standing at the charger or in the car park is not part of the drive.
            final = self._trip_at_motion
            final.id = trip.id
        else:
            final = trip
        final.end = final.updated
        announced = self.trip_announced or final.distance_km >= MIN_TRIP_KM
        self.trip, self._trip_at_motion, self.trip_announced = None, None, False
        if not announced:
            return []
        return [Event(TRIP_CLOSED, final)]

    def _close_charge(self) -> list[Event]:
        charge = self.charge
        assert charge is not None
        final = self._charge_at_last or charge
        final.id = charge.id
        final.end = final.updated
        announced = self.charge_announced
        self.charge, self._charge_at_last, self.charge_announced = None, None, False
        return [Event(CHARGE_CLOSED, final)] if announced else []


def _copy_charge(charge: Charge) -> Charge:
    return replace(charge, curve=dict(charge.curve))


def _open_trip(s: Sample) -> Trip:
    return Trip(start=s.t, updated=s.t, soc_start=s.soc, soc_end=s.soc, start_latitude=s.latitude,
                start_longitude=s.longitude, end_latitude=s.latitude, end_longitude=s.longitude)


def _open_charge(s: Sample) -> Charge:
    power = s.power_kw
    return Charge(start=s.t, updated=s.t, soc_start=s.soc, soc_end=s.soc, latitude=s.latitude,
                  longitude=s.longitude, max_power_kw=None if power is None else max(0.0, -power))


def _add_to_trip(trip: Trip, meter: EnergyMeter, prev: Sample, s: Sample) -> None:
    energy = meter.step(prev, s)
    trip.energy_kwh += energy.out_kwh - energy.in_kwh
    trip.regen_kwh += energy.in_kwh
    trip.energy_method = meter.method
    distance = distance_step(prev, s)
    if distance is not None:
        km, method = distance
        trip.distance_km += km
        trip.distance_method = combine_method(trip.distance_method, method)
    dt = s.t - prev.t
    if s.ambient_c is not None and 0.0 < dt <= MAX_STEP_S:  # a gap is not integrated: no weight either
        trip.ambient_c_s += s.ambient_c * dt
        trip.ambient_s += dt
    power = s.power_kw
    if power is not None:
        trip.max_power_kw = power if trip.max_power_kw is None else max(trip.max_power_kw, power)
    if s.soc is not None:
        trip.soc_end = s.soc
        if trip.soc_start is None:
            trip.soc_start = s.soc
    if s.latitude is not None:
        trip.end_latitude, trip.end_longitude = s.latitude, s.longitude
        if trip.start_latitude is None:
            trip.start_latitude, trip.start_longitude = s.latitude, s.longitude
    trip.updated = s.t


def _add_to_charge(charge: Charge, meter: EnergyMeter, prev: Sample, s: Sample) -> None:
    energy = meter.step(prev, s)
    charge.energy_kwh += energy.in_kwh - energy.out_kwh
    charge.energy_method = meter.method
    soc = prev.soc if prev.soc is not None else s.soc
    if energy.flow is not None and soc is not None and energy.flow[0] > 0:
        kwh_in, secs = energy.flow
        key = min(100, max(0, int(soc)))
        kwh, total_s = charge.curve.get(key, (0.0, 0.0))
        charge.curve[key] = (kwh + kwh_in, total_s + secs)
    power = s.power_kw
    if power is not None:
        into_kw = max(0.0, -power)
        charge.max_power_kw = into_kw if charge.max_power_kw is None else max(charge.max_power_kw, into_kw)
    if s.soc is not None:
        charge.soc_end = s.soc
        if charge.soc_start is None:
            charge.soc_start = s.soc
    if charge.latitude is None and s.latitude is not None:
        charge.latitude, charge.longitude = s.latitude, s.longitude
    charge.updated = s.t
