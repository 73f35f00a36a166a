"""Frames from a python-can `virtual` bus into the VehicleState through the real CAN source.

A sender thread puts frames of evscreen's DBC (the mix a driving car sends, by cycle time) on a
virtual bus; the CAN source (its reader thread + the event loop) takes them into the state. Prints
frames/s, frames lost (sent - received by the source), CPU per 1000 frames, and the event loop's
worst lag while it ingests (a ticker task measures it), against a baseline in the same run: a bare
thread that only calls ``bus.recv()``. Target (issue 8): at least 45,000 frames/s, none lost.

    python benchmarks/can_ingest.py [--frames 300000] [--rate 45000]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import sys
import threading
import time
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))
from benchlib import figure


def frame_mix() -> list[Any]:
    """One second of evscreen's bus: each message as often as its GenMsgCycleTime says."""
    import can

    from evscreen.can.dbc.loader import load_database

    db, _ = load_database()
    frames = []
    for message in db.messages:
        signals = {s.name: s.offset for s in message.signals if s.multiplexer_ids in (None, [0])}
        data = message.encode(signals, strict=False)
        per_second = 1000 // (message.cycle_time or 1000)
        frames += [can.Message(arbitration_id=message.frame_id, is_extended_id=message.is_extended_frame,
                               data=data)] * per_second
    frames.sort(key=lambda m: m.arbitration_id)
    return frames


def sender(channel: str, total: int, rate: float | None, started: threading.Event) -> float:
    import can

    bus = can.Bus(interface="virtual", channel=channel)
    mix = itertools.cycle(frame_mix())
    started.wait()
    start = time.perf_counter()
    try:
        for i in range(total):
            bus.send(next(mix))
            if rate and i % 500 == 499:  # pace in small bursts
                ahead = (i + 1) / rate - (time.perf_counter() - start)
                if ahead > 0:
                    time.sleep(ahead)
    finally:
        bus.shutdown()
    return time.perf_counter() - start


def baseline(total: int, rate: float | None) -> tuple[float, float]:
    """A thread that only receives: what python-can's virtual bus costs on its own."""
    import can

    rx = can.Bus(interface="virtual", channel="baseline")
    started = threading.Event()
    result: dict[str, float] = {}
    t = threading.Thread(target=lambda: result.setdefault("send", sender("baseline", total, rate, started)))
    t.start()
    cpu0 = time.thread_time()
    started.set()
    start = time.perf_counter()
    got = 0
    while got < total:
        if rx.recv(2.0) is not None:
            got += 1
        elif not t.is_alive():
            break
    elapsed = time.perf_counter() - start
    cpu = time.thread_time() - cpu0
    t.join()
    rx.shutdown()
    return total / elapsed, cpu / total * 1e6


async def ingest(total: int, rate: float | None) -> dict[str, Any]:
    from evscreen.config import load_config
    from evscreen.drivers.can import CanSource
    from evscreen.state import VehicleState

    config = load_config(env={}, flags={"can.enabled": True, "can.interface": "virtual", "can.channel": "ingest"})
    state = VehicleState()
    source = CanSource(config.config, state)
    task = asyncio.create_task(source.run())
    while source.bus is None:
        await asyncio.sleep(0.01)
    worst_lag = 0.0
    stop = False

    async def ticker() -> None:
        nonlocal worst_lag
        while not stop:
            t0 = time.perf_counter()
            await asyncio.sleep(0.005)
            worst_lag = max(worst_lag, time.perf_counter() - t0 - 0.005)

    tick = asyncio.create_task(ticker())
    started = threading.Event()
    result: dict[str, float] = {}
    t = threading.Thread(target=lambda: result.setdefault("send", sender("ingest", total, rate, started)))
    t.start()
    await asyncio.sleep(0.1)
    reader_cpu0 = source.stats.reader_cpu_s
    loop_cpu0 = time.thread_time()
    started.set()
    start = time.perf_counter()
    last, last_change = 0, time.perf_counter()
    while source.stats.frames < total:
        await asyncio.sleep(0.01)
        if source.stats.frames != last:
            last, last_change = source.stats.frames, time.perf_counter()
        elif not t.is_alive() and time.perf_counter() - last_change > 2.0:
            break  # the sender is done and nothing more arrives: the rest is lost
    elapsed = (last_change if source.stats.frames < total else time.perf_counter()) - start
    await asyncio.sleep(0.05)  # the last hand-off
    loop_cpu = time.thread_time() - loop_cpu0
    t.join()
    stop = True
    await tick
    stats = source.stats
    out = {
        "received": stats.frames, "lost": total - stats.frames, "elapsed": elapsed,
        "rate": stats.frames / elapsed, "send_time": result.get("send", float("nan")),
        "reader_cpu_per_1000": (stats.reader_cpu_s - reader_cpu0) / max(stats.frames, 1) * 1e6,
        "loop_cpu_per_1000": loop_cpu / max(stats.frames, 1) * 1e6,
        "handoffs": stats.handoffs, "worst_lag_ms": worst_lag * 1000,
        "speed": state.get("speed"), "can_bus": state.get("connectivity.can_bus"),
    }
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await source.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300_000)
    parser.add_argument("--rate", type=float, default=45_000, help="paced run: frames/s offered (0: skip)")
    args = parser.parse_args()
    import logging

    logging.disable(logging.WARNING)

    base_rate, base_cpu = baseline(args.frames, None)
    print(f"baseline (bare bus.recv thread, sender flat out): {base_rate:,.0f} frames/s, "
          f"{base_cpu:.1f} ms CPU per 1000 frames")
    runs = [("flat out", None)] + ([(f"offered {args.rate:,.0f}/s", args.rate)] if args.rate else [])
    for label, rate in runs:
        r = asyncio.run(ingest(args.frames, rate))
        print(f"CAN source, {label}: {r['rate']:,.0f} frames/s into the state ({r['received']:,} of "
              f"{args.frames:,}), lost {r['lost']}, CPU per 1000 frames: reader {r['reader_cpu_per_1000']:.1f} ms"
              f" + event loop {r['loop_cpu_per_1000']:.2f} ms, {r['handoffs']:,} hand-offs, worst loop lag "
              f"{r['worst_lag_ms']:.1f} ms (can_bus={r['can_bus']}, speed={r['speed']})")
        if rate is None:
            print(f"  ratio to the bare-recv baseline: {r['rate'] / base_rate:.2f} "
                  f"(the sender shares the GIL in both runs)")
            figure("CAN ingest: virtual bus -> state, flat out", r["rate"], "frames/s", baseline=base_rate,
                   baseline_name="bare bus.recv() thread", target=">= 45,000 frames/s, 0 lost",
                   met=r["rate"] >= 45_000 and r["lost"] == 0)
            figure("CAN ingest: CPU per 1000 frames (reader + loop)",
                   r["reader_cpu_per_1000"] + r["loop_cpu_per_1000"], "ms", baseline=base_cpu,
                   baseline_name="bare bus.recv() thread", higher_is_better=False)
    print("target: >= 45,000 frames/s, 0 lost")


if __name__ == "__main__":
    main()
