"""Soak: `evscreen serve` at 20 Hz with clients connecting and disconnecting; memory and file
descriptors over time must not grow.

    python benchmarks/soak.py --minutes 10

Prints one row per sample (elapsed, RSS MB, open fds, connected clients, connections made) and a
verdict comparing the last third of the run with the first third after warm-up. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time

from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import connect

sys.path.insert(0, os.path.dirname(__file__))
from benchlib import figure, free_port, median, open_fds, rss_mb, wait_for_port


def churn(url: str, stop: threading.Event, seed: int, stats: dict[str, int]) -> None:
    """One client slot: connect, read for a while (sometimes send a command), disconnect, repeat."""
    rng = random.Random(seed)
    while not stop.is_set():
        try:
            with connect(url, open_timeout=5) as ws:
                stats["connections"] += 1
                until = time.monotonic() + rng.uniform(0.5, 8.0)
                while time.monotonic() < until and not stop.is_set():
                    ws.recv(timeout=5)
                    if rng.random() < 0.02:
                        ws.send(f'{{"action": "set_brightness", "value": {rng.randrange(101)}}}')
        except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError):
            stats["failures"] += 1
            time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=2.0, help="how long to run (default 2)")
    parser.add_argument("--clients", type=int, default=10, help="concurrent client slots (default 10)")
    parser.add_argument("--interval", type=float, default=0.05, help="telemetry interval (default 0.05 = 20 Hz)")
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between samples (default 10)")
    args = parser.parse_args()

    port = free_port()
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "XDG_DATA_HOME": f"{home}/data", "XDG_CONFIG_HOME": f"{home}/config",
               "XDG_STATE_HOME": f"{home}/state"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "evscreen", "serve", "--port", str(port), "--telemetry-interval",
             str(args.interval), "--simulation", "on", "--log-level", "warning"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(port)
            stop = threading.Event()
            stats = {"connections": 0, "failures": 0}
            threads = [threading.Thread(target=churn, args=(f"ws://127.0.0.1:{port}", stop, i, stats), daemon=True)
                       for i in range(args.clients)]
            for t in threads:
                t.start()
            samples: list[tuple[float, float, int]] = []
            start = time.monotonic()
            print(f"{'elapsed s':>9} {'RSS MB':>8} {'fds':>5} {'connections':>12} {'failures':>9}")
            while time.monotonic() - start < args.minutes * 60:
                time.sleep(args.sample)
                elapsed = time.monotonic() - start
                rss, fds = rss_mb(proc.pid), open_fds(proc.pid)
                samples.append((elapsed, rss, fds))
                print(f"{elapsed:9.0f} {rss:8.1f} {fds:5d} {stats['connections']:12d} {stats['failures']:9d}",
                      flush=True)
            stop.set()
            for t in threads:
                t.join(10)
        finally:
            proc.terminate()
            proc.wait(15)
    # The first minute is warm-up (caches, the allocator's arenas) when the run is long enough.
    settled = [s for s in samples if s[0] > 60] if args.minutes >= 3 else samples
    third = max(1, len(settled) // 3)
    early, late = settled[:third], settled[-third:]
    rss_growth = median([s[1] for s in late]) - median([s[1] for s in early])
    # Clients come and go all the time, so the count of open sockets moves by one or two.
    fd_growth = round(median([s[2] for s in late]) - median([s[2] for s in early]))
    print(f"\nsoak {args.minutes:g} min, {args.clients} clients churning at {1 / args.interval:g} Hz: "
          f"{stats['connections']} connections, {stats['failures']} failures")
    print(f"after warm-up: RSS first third median {median([s[1] for s in early]):.1f} MB, "
          f"last third {median([s[1] for s in late]):.1f} MB"
          f" (growth {rss_growth:+.1f} MB); open fds growth {fd_growth:+d}")
    verdict = "no growth" if rss_growth < 2.0 and fd_growth <= 1 else "GROWTH"
    print(f"verdict: {verdict}")
    after_a_minute = next((s[1] for s in samples if s[0] >= 60), samples[-1][1])
    bare = bare_python_rss()
    figure(f"memory: serve RSS after {min(60, samples[-1][0]):.0f} s ({args.clients} clients, "
           f"{1 / args.interval:g} Hz)", after_a_minute, "MB", baseline=bare, baseline_name="bare python",
           higher_is_better=False, target="<= 60 MB", met=after_a_minute <= 60)
    figure(f"memory: RSS growth over {args.minutes:g} min (last third vs first third)", rss_growth, "MB",
           target="no growth (< 2 MB), fds flat", met=verdict == "no growth")


def bare_python_rss() -> float:
    """Resident memory of an interpreter doing nothing: the floor any Python service starts from."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3)"])
    try:
        time.sleep(1.0)
        return rss_mb(proc.pid)
    finally:
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    main()
