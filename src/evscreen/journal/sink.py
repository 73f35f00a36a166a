"""The journal beside the server: samples the vehicle state, records trips and charges, predicts.

A sink like the WebSocket server and the MQTT bridge: it reads :class:`~evscreen.state.VehicleState`
and the settings, never a driver. Every ``sample_interval`` it takes a :class:`Sample`, feeds the
:class:`Recorder`, and:

- saves to the store **only** on events (a trip or session starts or ends) and every
  ``checkpoint_seconds`` while one is open — one small transaction each, in a worker thread —
  and once more at a clean stop, so a power cut loses at most the last ``checkpoint_seconds``;
- tells ``on_closed`` hooks (the MQTT bridge) about every closed trip and session;
- puts the predictions (:mod:`evscreen.journal.predict`) in ``state.predictions`` once a second,
  relearning from the journal whenever a trip or session closes.

When the state stops changing (the car is asleep, its bus quiet), blank samples keep the clock
running so a parked car's trip still ends, while nothing is integrated from values nobody saw.
The wall clock may jump (a Raspberry Pi has no real-time clock; NTP sets it after boot): a jump
moves the open records with it instead of cutting them in two.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evscreen.journal.detectors import (
    CHARGE_CLOSED,
    CHARGE_STARTED,
    TRIP_CLOSED,
    TRIP_STARTED,
    Event,
    Recorder,
)
from evscreen.journal.meters import MAX_STEP_S
from evscreen.journal.predict import Learned, predictions
from evscreen.journal.records import Charge, Trip
from evscreen.journal.sample import Sample, sample_from_values
from evscreen.journal.store import JournalStore

log = logging.getLogger(__name__)

#: A wall-clock step this much beyond the monotonic clock's is a jump, not time passing.
CLOCK_JUMP_S = 5.0
PREDICT_EVERY_S = 1.0
HISTORY_FOR_LEARNING = 30


class JournalSink:
    def __init__(
        self,
        state: Any,
        settings: Any,
        path: Path,
        *,
        checkpoint_seconds: float = 30.0,
        sample_interval: float = 1.0,
        clock: Callable[[], float] = time.time,
        clock_is_wall: bool = True,
        rated_capacity_kwh: float | None = None,
    ) -> None:
        self.state = state
        self.settings = settings
        self.path = path
        self.checkpoint_seconds = checkpoint_seconds
        self.sample_interval = sample_interval
        self.clock = clock
        self.clock_is_wall = clock_is_wall  # False for the simulated car's clock, which runs faster
        self.rated_capacity_kwh = rated_capacity_kwh
        self.recorder = Recorder()
        self.store: JournalStore | None = None
        self.learned = Learned(None, rated_capacity_kwh, {})
        self.latest: dict[str, Trip | Charge | None] = {"trip": None, "charge": None}
        self.on_closed: list[Callable[[str, dict[str, Any]], None]] = []
        self.checkpoints = 0
        self.closed = {"trip": 0, "charge": 0}
        self._task: asyncio.Task[None] | None = None
        self._version = -1
        self._last_change = 0.0
        self._last_checkpoint = 0.0
        self._last_predict = -PREDICT_EVERY_S
        self._last_wall: float | None = None
        self._last_mono = 0.0

    def describe(self) -> str:
        return f"journal: {self.path} (checkpoint every {self.checkpoint_seconds:g} s while a trip or charge is open)"

    async def start(self) -> None:
        self.store = await asyncio.to_thread(JournalStore.open_for_writing, self.path)
        trip, charge = await asyncio.to_thread(self.store.open_records)
        events = self.recorder.resume(trip, charge, self.clock())
        for kind, rec in (("trip", trip), ("charge", charge)):
            if rec is not None:
                resumed = rec.end is None
                log.info("journal: %s %d from the last run %s", kind, rec.id,
                         "carries on" if resumed else "was left open; closed at its last checkpoint")
        await self._handle(events)
        await self._relearn()
        for kind, rec in self.latest.items():  # retained topics stay right even if a publish was lost
            if rec is not None:
                self._tell(kind, rec.public())
        self._task = asyncio.create_task(self._run(), name="journal")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self.store is not None:
            try:
                await self._checkpoint()  # left open on purpose: the next start resumes or closes them
            except Exception:
                log.exception("journal: the last checkpoint failed")
            await asyncio.to_thread(self.store.close)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.sample_interval)
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:
                # A disk that fails now may work later; the records stay in memory meanwhile.
                log.exception("journal step failed")

    async def step(self) -> None:
        mono = time.monotonic()
        wall = self.clock()
        if self.clock_is_wall and self._last_wall is not None:
            jump = (wall - self._last_wall) - (mono - self._last_mono)
            if abs(jump) > CLOCK_JUMP_S:
                log.info("journal: the clock jumped %+.0f s; open records move with it", jump)
                self.recorder.shift_time(jump)
        self._last_wall, self._last_mono = wall, mono
        version = self.state.version
        if version != self._version:
            self._version, self._last_change = version, wall
            sample = sample_from_values(wall, self.state.get)
        elif wall - self._last_change > MAX_STEP_S:
            sample = Sample(t=wall)  # nothing new for a while: time passes, nothing is integrated
        else:
            return
        await self._handle(self.recorder.feed(sample))
        if self._open_records() and mono - self._last_checkpoint >= self.checkpoint_seconds:
            await self._checkpoint()
        if mono - self._last_predict >= PREDICT_EVERY_S:
            self._last_predict = mono
            self.state.predictions = self.predict(sample)

    def predict(self, sample: Sample) -> dict[str, float | None]:
        power = sample.power_kw
        charging = self.recorder.charge is not None and self.recorder.charge_announced
        return predictions(
            self.learned, soc=sample.soc, ambient_c=sample.ambient_c, charging=charging,
            charge_power_kw=None if power is None else -power,
            charge_limit=self.settings.values.get("charge_limit"),
            open_trip=self.recorder.trip if self.recorder.trip_announced else None,
            open_charge=self.recorder.charge if charging else None,
        )

    def _open_records(self) -> list[Trip | Charge]:
        rec = self.recorder
        out: list[Trip | Charge] = []
        if rec.trip is not None and rec.trip_announced:
            out.append(rec.trip)
        if rec.charge is not None and rec.charge_announced:
            out.append(rec.charge)
        return out

    async def _checkpoint(self, extra: list[Trip | Charge] | None = None) -> None:
        records = (extra or []) + self._open_records()
        self._last_checkpoint = time.monotonic()
        if records and self.store is not None:
            await asyncio.to_thread(self.store.save, records)
            self.checkpoints += 1

    async def _handle(self, events: list[Event]) -> None:
        if not events:
            return
        closed = [e.record for e in events if e.kind in (TRIP_CLOSED, CHARGE_CLOSED)]
        await self._checkpoint(closed)  # started, closed: saved at once
        for event in events:
            if event.kind in (TRIP_STARTED, CHARGE_STARTED):
                log.info("journal: %s %s", event.kind.replace("_", " "), event.record.id)
                continue
            kind = "trip" if event.kind == TRIP_CLOSED else "charge"
            self.closed[kind] += 1
            public = event.record.public()
            log.info("journal: %s %s closed: %s", kind, event.record.id, _summary(public))
            self._tell(kind, public)
        if closed:
            await self._relearn()

    def _tell(self, kind: str, public: dict[str, Any]) -> None:
        for hook in self.on_closed:
            try:
                hook(kind, public)
            except Exception:
                log.exception("journal: a hook for the closed %s failed", kind)

    async def _relearn(self) -> None:
        store = self.store
        assert store is not None
        trips = await asyncio.to_thread(store.trips, limit=HISTORY_FOR_LEARNING)
        charges = await asyncio.to_thread(store.charges, limit=HISTORY_FOR_LEARNING)
        closed_trips = [t for t in trips if t.end is not None]
        closed_charges = [c for c in charges if c.end is not None]
        self.learned = Learned.from_history(closed_trips, closed_charges, self.rated_capacity_kwh)
        self.latest = {"trip": closed_trips[0] if closed_trips else None,
                       "charge": closed_charges[0] if closed_charges else None}


def _summary(public: dict[str, Any]) -> str:
    if "distance_km" in public:
        return (f"{public['distance_km']} km, {public['energy_kwh']} kWh, {public['wh_per_km']} Wh/km "
                f"({public['energy_method']}, {public['distance_method']})")
    return (f"{public['energy_kwh']} kWh, SoC {public['soc_start']} -> {public['soc_end']} %, "
            f"max {public['max_power_kw']} kW")
