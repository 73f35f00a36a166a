"""VISS fan-out: 50 subscriptions at 10 Hz against the screen protocol's broadcast to 50 screens at
10 Hz, in the same run. Server CPU (% of one core) and p99 delivery delay.

    python benchmarks/viss_fanout.py [--subscriptions 50] [--seconds 10]

Three runs of `evscreen serve` on the simulated car:

- ``screens``: N screens on the seed protocol, telemetry every 0.1 s (the baseline: one snapshot
  serialized per tick, written to every screen);
- ``viss-branch``: N VISS connections, each subscribed to the whole ``Vehicle`` branch every
  100 ms (the same content as a telemetry message, in VISS form);
- ``viss-leaves``: one VISS connection holding N subscriptions, each to one signal every 100 ms
  (how VISS clients usually subscribe).

In the VISS runs the screen's ticker is slowed to once a minute, so the figure is the VISS
endpoint's own cost. Delay is from the message's timestamp (the snapshot's time) to its arrival
at the client (same machine, same clock, millisecond resolution).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from datetime import datetime
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))
from benchlib import figure, free_port, measure_server, percentile

PERIOD_MS = 100
WARM_UP_S = 2.0
STAMP_AT = len('{"type":"telemetry","timestamp":"')
MODES = ("screens", "viss-branch", "viss-leaves")


def run_server(port: int, mode: str) -> None:
    from evscreen.app import build_runtime
    from evscreen.config import load_config

    async def main() -> None:
        flags = {"server.port": port, "simulation.mode": "on", "server.max_connections": 10000,
                 "server.telemetry_interval": PERIOD_MS / 1000 if mode == "screens" else 60.0,
                 "viss.max_subscriptions": 10000, "viss.min_period": PERIOD_MS}
        runtime = build_runtime(load_config(env={}, flags=flags))
        await runtime.start()
        await asyncio.Event().wait()

    asyncio.run(main())


def stamp_of(text: str) -> str:
    if text.startswith('{"type":"telemetry"'):
        return text[STAMP_AT:STAMP_AT + 24]
    return text[-26:-2]  # a VISS event ends with "ts":"YYYY-MM-DDTHH:MM:SS.sssZ"}


async def leaf_paths(url: str, count: int) -> list[str]:
    """``count`` signals that have values now (the simulated car's), for one-signal subscriptions."""
    from websockets.asyncio.client import connect

    async with connect(url + "/viss", subprotocols=["VISSv2"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"action": "get", "path": "Vehicle", "requestId": "all"}))
        paths = [item["path"] for item in json.loads(await ws.recv())["data"]]
    return [paths[i % len(paths)] for i in range(count)]


def measure(url: str, mode: str, n: int, seconds: float) -> list[float]:
    from websockets.asyncio.client import connect

    delays: list[tuple[float, str]] = []
    start = time.time() + WARM_UP_S
    end = start + seconds

    async def consume(ws: Any) -> None:
        while True:
            text = await ws.recv()
            now = time.time()
            if now > end:
                return
            if now >= start and text.startswith(('{"type":"telemetry"', '{"action":"subscription"')):
                delays.append((now, stamp_of(text)))

    async def screen() -> None:
        async with connect(url, max_size=2**22, compression=None) as ws:
            await consume(ws)

    async def viss_client(paths: list[str]) -> None:
        async with connect(url + "/viss", subprotocols=["VISSv2"], max_size=2**22,  # type: ignore[list-item]
                           compression=None) as ws:
            for i, path in enumerate(paths):
                await ws.send(json.dumps({"action": "subscribe", "path": path, "requestId": str(i), "filter": {
                    "type": "timebased", "parameter": {"period": str(PERIOD_MS)}}}))
            await consume(ws)

    async def main() -> None:
        if mode == "screens":
            await asyncio.gather(*(screen() for _ in range(n)))
        elif mode == "viss-branch":
            await asyncio.gather(*(viss_client(["Vehicle"]) for _ in range(n)))
        else:
            await viss_client(await leaf_paths(url, n))

    asyncio.run(main())
    return [now - datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() for now, stamp in delays]


def one_run(mode: str, n: int, seconds: float) -> tuple[float, float, int]:
    port = free_port()
    argv = [sys.executable, __file__, "--serve", str(port), "--mode", mode]
    url = f"ws://127.0.0.1:{port}"
    delays, cpu = measure_server(argv, port, WARM_UP_S, seconds, lambda: measure(url, mode, n, seconds))
    return cpu, percentile(delays, 99) * 1000, len(delays)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscriptions", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=MODES, default="screens", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        run_server(args.serve, args.mode)
        return
    n = args.subscriptions
    print(f"{'run':>12} {'CPU %':>7} {'p99 ms':>8} {'messages':>9}")
    results = {}
    for mode in MODES:
        cpu, p99, count = one_run(mode, n, args.seconds)
        results[mode] = (cpu, p99)
        print(f"{mode:>12} {cpu:7.1f} {p99:8.1f} {count:9d}", flush=True)
    screens = results["screens"]
    for mode, what in (("viss-branch", f"{n} VISS connections x the Vehicle branch"),
                       ("viss-leaves", f"1 VISS connection x {n} one-signal subscriptions")):
        cpu, p99 = results[mode]
        figure(f"VISS fan-out, {what}, 10 Hz: server CPU", cpu, "% of a core", baseline=screens[0],
               baseline_name=f"{n} screens at 10 Hz", higher_is_better=False)
        figure(f"VISS fan-out, {what}, 10 Hz: p99 delivery delay", p99, "ms", baseline=screens[1],
               baseline_name=f"{n} screens at 10 Hz", higher_is_better=False)


if __name__ == "__main__":
    main()
