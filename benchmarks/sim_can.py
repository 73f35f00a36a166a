"""What the simulated car's CAN bus costs (issue 4), against a baseline measured in the same run.

Simulated mode puts the car on a CAN bus: each wake-up of the simulator encodes every message
of evscreen's DBC once (``CarBus.update``), builds the frames that are due (386 per simulated
second) and sends them on a python-can ``virtual`` bus, where the ordinary CAN source's reader
thread decodes them. Printed: each part, the whole simulator per simulated second computed from
them, then a real simulator and CAN source running for a few seconds at 1x and 20x (process CPU,
reader thread included; frames per real second), and ``evscreen simulate``'s speed writing a
candump log. ``benchmarks/sim_step.py`` measures the model itself.

The baseline is what the server already does for every telemetry tick: build the telemetry
message from the state and encode it as JSON.

Run: python benchmarks/sim_can.py [--seconds N] [--live S]
     (N simulated seconds of `simulate`, default 600; S real seconds per live run, default 5)
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import os
import sys
import time
from typing import Any

from evscreen.config import load_config
from evscreen.drivers.registry import simulated_bus_config
from evscreen.drivers.simulated import MIN_WAKE_S, SimulatedVehicle
from evscreen.settings import DEFAULT_SETTINGS
from evscreen.sim.can_frames import drive_frames
from evscreen.sim.vehicle import STEP_S
from evscreen.state import VehicleState, build_telemetry

sys.path.insert(0, os.path.dirname(__file__))
from benchlib import best_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="simulated seconds of `simulate`")
    parser.add_argument("--live", type=float, default=5.0, help="real seconds of each live run")
    args = parser.parse_args()

    config = load_config(env={}, flags={"simulation.mode": "on"}).config
    source = SimulatedVehicle(config, VehicleState())
    source.step(100)
    car_bus = source.car_bus
    per_sim_s = car_bus.frames_per_second

    def run_baseline() -> int:  # the server's work per telemetry tick
        for _ in range(1000):
            json.dumps(build_telemetry(source.state, DEFAULT_SETTINGS), separators=(",", ":"))
        return 1000

    def run_step() -> int:
        for _ in range(1000):
            source.model.step(STEP_S)
        return 1000

    def run_update() -> int:  # once per wake-up: outputs() and every message variant encoded
        for _ in range(1000):
            car_bus.update(source.model.outputs())
        return 1000

    out = source.model.outputs()

    def run_publish() -> int:  # what the simulator still writes itself: GPS, media, Wi-Fi/Bluetooth
        for _ in range(1000):
            source.publish(out)
        return 1000

    clock = [source.model.time_s]

    def run_frames() -> int:  # the frames of one simulated second, counters and checksums included
        for _ in range(20):
            clock[0] += 1.0
            car_bus.frames_until(clock[0])
        return 20

    import can

    channel = "bench-sim-can"
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

    baseline = best_of(run_baseline)
    step = best_of(run_step)
    update = best_of(run_update)
    publish = best_of(run_publish)
    frames_s = best_of(run_frames)
    send = best_of(run_send)
    tx.shutdown()
    rx.shutdown()
    print(f"baseline: telemetry message built + JSON-encoded {baseline * 1e6:8.1f} µs")
    print(f"model step             {step * 1e6:8.1f} µs   {step / baseline:5.2f}x baseline")
    print(f"CarBus.update()        {update * 1e6:8.1f} µs   {update / baseline:5.2f}x baseline"
          "   (outputs + every message variant encoded, once per wake-up)")
    print(f"source publish()       {publish * 1e6:8.1f} µs   {publish / baseline:5.2f}x baseline"
          "   (GPS, media, Wi-Fi/Bluetooth: what is not on CAN)")
    print(f"frames of 1 sim. s     {frames_s * 1e6:8.1f} µs   {frames_s / baseline:5.2f}x baseline"
          f"   ({per_sim_s:.0f} frames: counters, CRC-8)")
    print(f"virtual bus send       {send * 1e6:8.1f} µs per frame   {send / baseline:5.2f}x baseline")
    wakes = 1.0 / source.wake_interval()  # at 1x: one step, one update and one publish per wake-up
    sim_cost = (step + update + publish) / STEP_S + frames_s + per_sim_s * send
    print(f"simulator per simulated second at --sim-speed 1 ({wakes:.0f} wake-ups, {per_sim_s:.0f} frames): "
          f"{sim_cost * 1e3:.2f} ms = {sim_cost * 100:.2f} % of one core "
          f"(= {sim_cost / baseline:.1f} baseline messages)")
    # Above MAX_LIVE_FRAMES_PER_S the bus carries the latest frame of each message per wake-up.
    latest = sum(len(s.templates) for s in car_bus.schedules)  # one frame per message and multiplexer value
    spare = 1.0 - (update + publish + latest * send) / MIN_WAKE_S
    print(f"fastest --sim-speed one core of this machine could sustain: {spare / (step / STEP_S):,.0f}x")

    for speed in (1.0, 20.0):
        live = asyncio.run(live_run(args.live, speed))
        print(f"live, {args.live:g} s at --sim-speed {speed:g} (simulator + CAN source, reader thread included): "
              f"{live['sent'] / live['wall']:,.0f} frames/s sent, {live['received'] / live['wall']:,.0f} decoded, "
              f"{live['unknown']} unknown; process CPU {live['cpu'] / live['wall'] * 100:.2f} % of one core "
              f"(= {live['cpu'] / live['wall'] / baseline:.1f} baseline messages per second)")

    from evscreen.tools.simulate import build_car, candump_lines

    model, file_bus = build_car(1, "normal", "standard", 80, 2, 21.0)
    log = io.StringIO()
    start = time.perf_counter()
    n = 0
    for chunk in drive_frames(model, file_bus, args.seconds):
        log.write(candump_lines(chunk))
        n += len(chunk)
    elapsed = time.perf_counter() - start
    print(f"evscreen simulate: {args.seconds:g} simulated s ({n:,} frames) in {elapsed:.2f} s = "
          f"{args.seconds / elapsed:,.0f}x real time, {len(log.getvalue()) / args.seconds / 1024:.1f} KiB of log"
          " per simulated second")


async def live_run(seconds: float, speed: float) -> dict[str, Any]:
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
