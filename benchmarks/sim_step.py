"""How much CPU the simulated vehicle costs: model steps per second, against a baseline.

The baseline, measured in the same run on the same machine, is what the server already does for
every telemetry tick: build the telemetry message from the state and encode it as JSON. The model
runs 10 steps per simulated second, so its share of one core at real time (and the fastest
``--sim-speed`` this machine could sustain) follow from the step cost. What simulated mode adds
on top, the car's CAN frames through a virtual bus to the CAN source, is measured by
``benchmarks/sim_can.py``.

Run: python benchmarks/sim_step.py [--seconds N]   (N simulated seconds per measurement, default 600)
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from evscreen.config import load_config
from evscreen.drivers.simulated import MIN_WAKE_S, SimulatedVehicle
from evscreen.settings import DEFAULT_SETTINGS
from evscreen.sim.vehicle import STEP_S, VehicleModel
from evscreen.state import VehicleState, build_telemetry

sys.path.insert(0, os.path.dirname(__file__))
from benchlib import best_of, figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="simulated seconds per measurement")
    args = parser.parse_args()
    steps = max(10, int(args.seconds / STEP_S))

    model = VehicleModel(1)

    def run_steps() -> int:
        for _ in range(steps):
            model.step(STEP_S)
        return steps

    def run_telemetry() -> int:
        for _ in range(1000):
            model.telemetry()
        return 1000

    config = load_config(env={}, flags={"simulation.mode": "on"}).config
    source = SimulatedVehicle(config, VehicleState())
    source.step(100)

    def run_publish() -> int:  # what the source does after each batch of steps
        for _ in range(1000):
            source.publish()
        return 1000

    def run_baseline() -> int:  # the server's work per telemetry tick
        for _ in range(1000):
            json.dumps(build_telemetry(source.state, DEFAULT_SETTINGS), separators=(",", ":"))
        return 1000

    step = best_of(run_steps)
    telemetry = best_of(run_telemetry)
    publish = best_of(run_publish)
    baseline = best_of(run_baseline)
    per_sim_second = step / STEP_S + publish / STEP_S  # at 1x: one step and one publish per 0.1 s
    print(f"model step             {step * 1e6:8.1f} µs   {1 / step:10,.0f} steps/s   "
          f"{step / baseline:5.2f}x baseline")
    print(f"model telemetry()      {telemetry * 1e6:8.1f} µs   {telemetry / baseline:5.2f}x baseline")
    print(f"source publish()       {publish * 1e6:8.1f} µs   {publish / baseline:5.2f}x baseline")
    print(f"baseline: telemetry message built + JSON-encoded {baseline * 1e6:8.1f} µs")
    figure("simulated vehicle: model step", step * 1e6, "µs", baseline=baseline * 1e6,
           baseline_name="one telemetry message built + encoded", higher_is_better=False)
    print(f"share of one core at --sim-speed 1: {per_sim_second * 100:.3f} %   "
          f"(= {per_sim_second / baseline:.1f} baseline messages per simulated second)")
    # At high speed the source wakes 50 times a second (MIN_WAKE_S) and publishes once per wake.
    spare = 1.0 - publish / MIN_WAKE_S
    print(f"fastest --sim-speed one core of this machine could sustain: {spare / (step / STEP_S):,.0f}x")


if __name__ == "__main__":
    main()
