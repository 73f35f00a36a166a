"""How much CPU the simulated vehicle costs: model steps, CAN frames, the bus; against a baseline.

The baseline, measured in the same run on the same machine, is what the server already does for
every telemetry tick: build the telemetry message from the state and encode it as JSON. The model
runs 10 steps per simulated second, so its share of one core at real time (and the fastest
``--sim-speed`` this machine could sustain) follow from the step cost.

Simulated mode puts the car on a CAN bus (issue 4): each wake-up encodes every message of the DBC
once (``CarBus.update``), builds the frames that are due (386 per simulated second) and sends them
on a python-can ``virtual`` bus, where the CAN source's reader thread decodes them. The last
figures measure that whole path: the cost per simulated second computed from its parts, then a
real simulator and CAN source running for a few seconds at 1x (process CPU, reader thread
included), and ``evscreen simulate``'s speed writing a candump log.

Run: python benchmarks/sim_step.py [--seconds N] [--live S]
     (N simulated seconds per measurement, default 600; S real seconds of the live run, default 5)
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import asyncio
import io
import logging

from evscreen.config import load_config
from evscreen.drivers.registry import simulated_bus_config
from evscreen.drivers.simulated import MIN_WAKE_S, SimulatedVehicle
from evscreen.settings import DEFAULT_SETTINGS
from evscreen.sim.can_frames import drive_frames
from evscreen.sim.vehicle import STEP_S, VehicleModel
from evscreen.state import VehicleState, build_telemetry

REPEATS = 5


def best_of(fn: Callable[[], int]) -> float:
    """Seconds per operation: the best of REPEATS runs (the least disturbed by other work)."""
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        n = fn()
        best = min(best, (time.perf_counter() - start) / n)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="simulated seconds per measurement")
    parser.add_argument("--live", type=float, default=5.0, help="real seconds of the live simulator + CAN run")
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

    out = source.model.outputs()

    def run_publish() -> int:  # what the source writes itself after each batch of steps (outputs shared)
        for _ in range(1000):
            source.publish(out)
        return 1000

    def run_baseline() -> int:  # the server's work per telemetry tick
        for _ in range(1000):
            json.dumps(build_telemetry(source.state, DEFAULT_SETTINGS), separators=(",", ":"))
        return 1000

    step = best_of(run_steps)
    telemetry = best_of(run_telemetry)
    publish = best_of(run_publish)
    baseline = best_of(run_baseline)
    print(f"model step             {step * 1e6:8.1f} µs   {1 / step:10,.0f} steps/s   "
          f"{step / baseline:5.2f}x baseline")
    print(f"model telemetry()      {telemetry * 1e6:8.1f} µs   {telemetry / baseline:5.2f}x baseline")
    print(f"source publish()       {publish * 1e6:8.1f} µs   {publish / baseline:5.2f}x baseline"
          "   (GPS, media, Wi-Fi/Bluetooth: what is not on CAN)")
    print(f"baseline: telemetry message built + JSON-encoded {baseline * 1e6:8.1f} µs")

    # -- the CAN path ---------------------------------------------------------------------------
    car_bus = source.car_bus
    per_sim_s = car_bus.frames_per_second

    def run_update() -> int:  # once per wake-up: outputs() and every message variant encoded
        for _ in range(1000):
            car_bus.update(source.model.outputs())
        return 1000

    clock = [source.model.time_s]

    def run_frames() -> int:  # the frames of one simulated second, counters and checksums included
        for _ in range(20):
            clock[0] += 1.0
            car_bus.frames_until(clock[0])
        return 20

    import can

    channel = "bench-sim-step"
    tx = can.Bus(interface="virtual", channel=channel, preserve_timestamps=True)
    rx = can.Bus(interface="virtual", channel=channel)
    frames = car_bus.frames_until(clock[0] + 1.0)
    clock[0] += 1.0

    def run_send() -> int:  # what the source does per frame: a python-can Message, VirtualBus.send
        for f in frames:
            tx.send(can.Message(timestamp=f.timestamp, arbitration_id=f.arbitration_id,
                                is_extended_id=f.is_extended, data=f.data))
        while rx.recv(0) is not None:
            pass
        return len(frames)

    update = best_of(run_update)
    frames_s = best_of(run_frames)
    send = best_of(run_send)
    tx.shutdown()
    rx.shutdown()
    wakes = 1.0 / source.wake_interval()  # at 1x: one step, one update and one publish per wake-up
    sim_cost = (step + update + publish) / STEP_S + frames_s + per_sim_s * send
    print(f"CarBus.update()        {update * 1e6:8.1f} µs   {update / baseline:5.2f}x baseline"
          "   (outputs + every message variant encoded, once per wake-up)")
    print(f"frames of 1 sim. s     {frames_s * 1e6:8.1f} µs   {frames_s / baseline:5.2f}x baseline"
          f"   ({per_sim_s:.0f} frames: counters, CRC-8)")
    print(f"virtual bus send       {send * 1e6:8.1f} µs per frame   {send / baseline:5.2f}x baseline")
    print(f"simulator per simulated second at --sim-speed 1 ({wakes:.0f} wake-ups, {per_sim_s:.0f} frames): "
          f"{sim_cost * 1e3:.2f} ms = {sim_cost * 100:.2f} % of one core "
          f"(= {sim_cost / baseline:.1f} baseline messages)")
    # Above MAX_LIVE_FRAMES_PER_S the bus carries the latest frame of each message per wake-up.
    latest = sum(len(s.templates) for s in car_bus.schedules)  # one frame per message and multiplexer value
    per_wake = (update + publish + latest * send) / MIN_WAKE_S
    spare = 1.0 - per_wake
    print(f"fastest --sim-speed one core of this machine could sustain: {spare / (step / STEP_S):,.0f}x")

    for speed in (1.0, 20.0):
        live = asyncio.run(live_run(args.live, speed))
        print(f"live, {args.live:g} s at --sim-speed {speed:g} (simulator + CAN source, reader thread included): "
              f"{live['sent'] / live['wall']:,.0f} frames/s sent, {live['received'] / live['wall']:,.0f} decoded, "
              f"{live['unknown']} unknown; process CPU {live['cpu'] / live['wall'] * 100:.2f} % of one core "
              f"(= {live['cpu'] / live['wall'] / baseline:.1f} baseline messages per second)")

    model = VehicleModel(1)
    out = io.StringIO()
    from evscreen.tools.simulate import candump_lines

    start = time.perf_counter()
    n = 0
    for chunk in drive_frames(model, car_bus_for_file(), args.seconds):
        out.write(candump_lines(chunk))
        n += len(chunk)
    elapsed = time.perf_counter() - start
    print(f"evscreen simulate: {args.seconds:g} simulated s ({n:,} frames) in {elapsed:.2f} s = "
          f"{args.seconds / elapsed:,.0f}x real time, {len(out.getvalue()) / args.seconds / 1024:.1f} KiB of log"
          " per simulated second")


def car_bus_for_file():  # type: ignore[no-untyped-def]
    from evscreen.tools.simulate import build_car

    return build_car(1, "normal", "standard", 80, 2, 21.0)[1]


async def live_run(seconds: float, speed: float) -> dict[str, float]:
    """A real SimulatedVehicle and CanSource on one private virtual channel, as ``serve`` runs them."""
    from evscreen.drivers.can import CanSource

    logging.disable(logging.WARNING)
    flags = {"simulation.mode": "on", "simulation.speed": speed}
    config = simulated_bus_config(load_config(env={}, flags=flags).config)
    state = VehicleState()
    sim = SimulatedVehicle(config, state)
    can_source = CanSource(config, state, simulated=True)
    tasks = [asyncio.create_task(can_source.run())]
    while can_source.bus is None:
        await asyncio.sleep(0.01)
    tasks.append(asyncio.create_task(sim.run()))
    await asyncio.sleep(1.0)  # settle
    sent0, got0 = sim.frames_sent, can_source.stats.frames
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    sent, got = sim.frames_sent - sent0, can_source.stats.frames - got0
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await can_source.close()
    return {"sent": sent, "received": got, "unknown": can_source.stats.unknown, "cpu": cpu, "wall": wall}


if __name__ == "__main__":
    main()
