"""How good are the journal's predictions? Checked against simulated drives with known truth.

    python benchmarks/journal_predictions.py --seeds 1,2,3

For each seed, the simulated car (the pure model, as fast as it runs) first lives a history of
ordinary days (drives, errands, a charging stop) that the journal records from 1 Hz samples,
exactly as the server's journal does. Then:

- **range**: at the start of a long drive (loop after loop, parked between them, no charging),
  evscreen's ``predictions.range_km`` at that moment is turned into the distance to 20 % SoC
  (range x (SoC - 20) / SoC) and compared with the distance actually driven until the SoC reached
  20 %. The simulator's own trip-computer range (the seed's ``range_km``) is scored the same way,
  as the baseline.
- **charge time**: the car then charges from 20 % to a 90 % limit; one minute into the session,
  ``predictions.minutes_to_charge_limit`` is compared with the minutes it actually took, with the
  curve learned from the history's sessions and with the typical taper alone (no history).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from benchlib import figure
from evscreen.journal.detectors import CHARGE_CLOSED, TRIP_CLOSED, Recorder
from evscreen.journal.predict import Learned, predictions
from evscreen.journal.sample import Sample
from evscreen.sim.vehicle import STEP_S, VehicleModel, VehicleOutputs

T0 = 1_700_000_000.0
TARGET_SOC = 20.0
LIMIT = 90


def sample(out: VehicleOutputs) -> Sample:
    return Sample(t=T0 + out.time_s, speed_kmh=out.speed_ms * 3.6, voltage=out.battery_voltage,
                  current=out.battery_current, soc=out.battery_soc, ambient_c=out.ambient_temp_c,
                  latitude=out.latitude, longitude=out.longitude)


class Run:
    """The model, a journal recorder fed at 1 Hz, and what it closed."""

    def __init__(self, seed: int) -> None:
        self.model = VehicleModel(seed, charge_every=2)
        self.recorder = Recorder()
        self.trips: list = []
        self.charges: list = []
        self._next_sample = 0.0

    def step(self) -> VehicleOutputs | None:
        model = self.model
        # Parked and switched off nothing happens worth 0.1 s steps: 10 s steps keep it quick.
        model.step(10.0 if model.parked_s_left is not None and model.parked_s_left > 10.0 else STEP_S)
        if model.time_s < self._next_sample:
            return None
        self._next_sample = model.time_s + 1.0
        out = model.outputs()
        for event in self.recorder.feed(sample(out)):
            if event.kind == TRIP_CLOSED:
                self.trips.insert(0, event.record)
            elif event.kind == CHARGE_CLOSED:
                self.charges.insert(0, event.record)
        return out

    def learned(self) -> Learned:
        return Learned.from_history(self.trips, self.charges)


def validate(seed: int) -> dict[str, float]:
    run = Run(seed)
    # History: until the journal has at least four trips and one charging stop.
    while len(run.trips) < 4 or not run.charges:
        run.step()
    # The long drive: no more charging stops; begin at the start of the next drive.
    run.model.itinerary.charge_every = 0
    while run.model.parked_s_left is not None or run.model.session is not None:
        run.step()
    out = run.model.outputs()
    learned = run.learned()
    pred = predictions(learned, soc=out.battery_soc, ambient_c=out.ambient_temp_c, charging=False,
                       charge_power_kw=None, charge_limit=LIMIT)
    soc0, odo0 = out.battery_soc, out.odometer_m
    predicted_km = pred["range_km"] * (soc0 - TARGET_SOC) / soc0
    seed_km = out.range_km * (soc0 - TARGET_SOC) / soc0
    while run.model.battery.soc > TARGET_SOC:
        run.step()
    actual_km = (run.model.odometer_m - odo0) / 1000.0
    # The charge: 20 % -> 90 %, predicted one minute into charging.
    run.model.set_charge_limit(LIMIT)
    run.model.start_charging()
    learned = run.learned()
    started = None
    predicted_min = fallback_min = 0.0
    while run.model.session is not None:
        o = run.step()
        if o is None or o.charging_phase != "charging":
            continue
        if started is None:
            started = o.time_s
        elif predicted_min == 0.0 and o.time_s - started >= 60.0:
            t_pred = o.time_s
            power = -o.battery_voltage * o.battery_current / 1000.0
            for target, with_history in ((0, True), (1, False)):
                use = learned if with_history else Learned(None, learned.capacity_kwh, {}, learned.charge_capacity_kwh)
                p = predictions(use, soc=o.battery_soc, ambient_c=o.ambient_temp_c, charging=True,
                                charge_power_kw=power, charge_limit=LIMIT)
                if target == 0:
                    predicted_min = p["minutes_to_charge_limit"]
                else:
                    fallback_min = p["minutes_to_charge_limit"]
        if o.battery_soc >= LIMIT:
            break
    actual_min = (run.model.time_s - t_pred) / 60.0
    result = {
        "soc0": soc0, "actual_km": actual_km, "predicted_km": predicted_km, "seed_km": seed_km,
        "consumption": pred["consumption_wh_per_km"], "capacity": learned.capacity_kwh,
        "actual_min": actual_min, "predicted_min": predicted_min, "fallback_min": fallback_min,
    }
    print(f"seed {seed}: range from {soc0:.1f} % to {TARGET_SOC:.0f} %: drove {actual_km:.1f} km, predicted "
          f"{predicted_km:.1f} km ({pred['consumption_wh_per_km']} Wh/km, {learned.capacity_kwh:.1f} kWh), "
          f"the simulator's own range said {seed_km:.1f} km; charge to {LIMIT} %: took {actual_min:.1f} min, "
          f"predicted {predicted_min:.1f} min (typical taper alone: {fallback_min:.1f} min)", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated simulator seeds")
    args = parser.parse_args()
    results = [validate(int(s)) for s in args.seeds.split(",")]

    def mean_abs(key: str, truth: str) -> float:
        return sum(abs(r[key] - r[truth]) / r[truth] for r in results) / len(results) * 100.0

    range_err, seed_err = mean_abs("predicted_km", "actual_km"), mean_abs("seed_km", "actual_km")
    charge_err, fallback_err = mean_abs("predicted_min", "actual_min"), mean_abs("fallback_min", "actual_min")
    figure(f"Predictions: range to 20 % SoC, mean abs error over {len(results)} simulated long drives "
           "(`journal_predictions.py`)", round(range_err, 1), "%", baseline=round(seed_err, 1),
           baseline_name="% (the simulator's own trip-computer range)", target="<= 10 %", met=range_err <= 10.0,
           higher_is_better=False)
    figure("Predictions: minutes to a 90 % charge limit, 1 min into a 20 % -> 90 % DC session, mean abs error",
           round(charge_err, 1), "%", baseline=round(fallback_err, 1),
           baseline_name="% (typical taper, no history)", target="<= 10 %", met=charge_err <= 10.0,
           higher_is_better=False)


if __name__ == "__main__":
    main()
