"""Fan-out: N screens at 10 Hz. Server CPU (% of one core) and p99 delivery delay, for evscreen's
server (one snapshot serialized per tick, a latest-only slot per client) and, in the same run, a
naive baseline (serialize and send to each client in turn).

    python benchmarks/fanout.py [--clients 1,10,100,500] [--seconds 10]

Delay is measured from the tick's timestamp (when the snapshot was taken) to the message's arrival
at the client (same machine, same clock, millisecond resolution). The clients are spread over
several processes and read the timestamp by slicing, so the measuring side does not become the
bottleneck at 500 clients.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from datetime import datetime
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))
from benchlib import figure, free_port, measure_server, percentile

INTERVAL = 0.1


def run_server(port: int, naive: bool) -> None:
    """The server process: evscreen's runtime, with the fan-out swapped for the naive one if asked."""
    from evscreen.app import build_runtime
    from evscreen.config import load_config
    from evscreen.server.websocket import TelemetryServer, dumps

    if naive:
        from evscreen.state import build_telemetry

        async def naive_tick_forever(self: TelemetryServer) -> None:
            while True:
                await asyncio.sleep(self.config.telemetry_interval)
                tick = time.time()  # every client's copy carries the tick's time, as ours does
                for client in list(self.clients):  # serialize and send to each client in turn
                    try:
                        await client.ws.send(dumps(build_telemetry(self.state, self.settings.values, wall_time=tick)))
                    except Exception:
                        pass

        TelemetryServer._tick_forever = naive_tick_forever  # type: ignore[method-assign]

    async def main() -> None:
        flags = {"server.port": port, "server.telemetry_interval": INTERVAL, "simulation.mode": "on",
                 "server.max_connections": 10000}
        runtime = build_runtime(load_config(env={}, flags=flags))
        await runtime.start()
        await asyncio.Event().wait()

    asyncio.run(main())


STAMP_AT = len('{"type":"telemetry","timestamp":"')


def measure_worker(url: str, clients: int, start_measuring: float, seconds: float, out: Any) -> None:
    """One client process: ``clients`` screens; puts the list of delays on ``out``."""
    from websockets.asyncio.client import connect

    delays: list[float] = []

    async def screen() -> None:
        async with connect(url, max_size=2**22, open_timeout=30, compression=None) as ws:
            end = start_measuring + seconds
            while True:
                text = await ws.recv()
                now = time.time()
                if now > end:
                    return
                if now >= start_measuring:
                    delays.append((now, text[STAMP_AT:STAMP_AT + 24]))

    async def all_screens() -> None:
        await asyncio.gather(*(screen() for _ in range(clients)))

    asyncio.run(all_screens())
    out.put([now - datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() for now, stamp in delays])


def measure(url: str, clients: int, seconds: float) -> list[float]:
    import multiprocessing

    workers = min(4, clients)
    start_measuring = time.time() + 2.0  # after all connected and warmed up
    out: Any = multiprocessing.Queue()
    share = [clients // workers + (1 if i < clients % workers else 0) for i in range(workers)]
    procs = [multiprocessing.Process(target=measure_worker, args=(url, n, start_measuring, seconds, out))
             for n in share]
    for p in procs:
        p.start()
    delays = [d for _ in procs for d in out.get(timeout=seconds + 120)]
    for p in procs:
        p.join(10)
    return delays


def one_run(clients: int, seconds: float, naive: bool) -> tuple[float, float, int]:
    port = free_port()
    argv = [sys.executable, __file__, "--serve", str(port)] + (["--naive"] if naive else [])
    url = f"ws://127.0.0.1:{port}"
    delays, cpu = measure_server(argv, port, 2.0, seconds, lambda: measure(url, clients, seconds))
    return cpu, percentile(delays, 99) * 1000, len(delays)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="1,10,100,500")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--naive", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        run_server(args.serve, args.naive)
        return
    print(f"{'clients':>7} {'server':>8} {'CPU %':>7} {'p99 ms':>8} {'messages':>9}")
    results = {}
    for n in (int(x) for x in args.clients.split(",")):
        for naive in (False, True):
            cpu, p99, count = one_run(n, args.seconds, naive)
            results[(n, naive)] = (cpu, p99)
            print(f"{n:7d} {'naive' if naive else 'evscreen':>8} {cpu:7.1f} {p99:8.1f} {count:9d}", flush=True)
    for n in sorted({k[0] for k in results}):
        ours, naive = results[(n, False)], results[(n, True)]
        at_target = n == 100
        figure(f"fan-out {n} clients at 10 Hz: server CPU", ours[0], "% of a core", baseline=naive[0],
               baseline_name="naive: serialize and send per client", higher_is_better=False,
               target="<= 20%" if at_target else "", met=ours[0] <= 20 if at_target else None)
        figure(f"fan-out {n} clients at 10 Hz: p99 delivery delay", ours[1], "ms", baseline=naive[1],
               baseline_name="naive: serialize and send per client", higher_is_better=False,
               target="<= 20 ms" if at_target else "", met=ours[1] <= 20 if at_target else None)
        print(f"{n} clients: CPU {ours[0]:.1f}% vs naive {naive[0]:.1f}% (ratio {naive[0] / max(ours[0], 0.01):.2f}x), "
              f"p99 {ours[1]:.1f} ms vs naive {naive[1]:.1f} ms")


if __name__ == "__main__":
    main()
