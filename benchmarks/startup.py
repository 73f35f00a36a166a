"""Start-up: `evscreen serve` to the first telemetry message, `evscreen --help`, and a whole
`evscreen send` round trip, each as a fresh process; baseline: a bare `python -c pass` in the same run.

    python benchmarks/startup.py [--runs 7]

Prints medians of several runs.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from benchlib import figure, free_port, median

EVSCREEN = [sys.executable, "-m", "evscreen"]


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def serve_to_first_telemetry(env: dict[str, str], with_values: bool = False) -> float:
    """Seconds to the first telemetry message, or (``with_values``) to the first one carrying the
    simulated car's values, which come over its CAN bus (telemetry every 0.05 s, so that the
    figure is when they arrive, not when the next tick is due)."""
    from websockets.sync.client import connect

    port = free_port()
    start = time.perf_counter()
    extra = ["--telemetry-interval", "0.05"] if with_values else []
    proc = subprocess.Popen(EVSCREEN + ["serve", "--port", str(port), "--simulation", "on", *extra], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                    break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError("serve exited") from None
                time.sleep(0.002)
        with connect(f"ws://127.0.0.1:{port}") as ws:
            while True:
                message = json.loads(ws.recv(timeout=10))
                if not with_values or message.get("battery_soc") is not None:
                    break
        return time.perf_counter() - start
    finally:
        proc.terminate()
        proc.wait(10)


def send_round_trip(env: dict[str, str]) -> float:
    port = free_port()
    proc = subprocess.Popen(EVSCREEN + ["serve", "--port", str(port), "--simulation", "on"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        from benchlib import wait_for_port

        wait_for_port(port)
        return timed(EVSCREEN + ["send", "set_drive_mode", "eco", "--url", f"ws://127.0.0.1:{port}"], env)
    finally:
        proc.terminate()
        proc.wait(10)


def measure(runs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "XDG_DATA_HOME": home, "XDG_CONFIG_HOME": home, "XDG_STATE_HOME": home}
        figures = {
            "python -c pass (baseline)": [timed([sys.executable, "-c", "pass"], env) for _ in range(runs)],
            "evscreen --help": [timed(EVSCREEN + ["--help"], env) for _ in range(runs)],
            "serve -> first telemetry": [serve_to_first_telemetry(env) for _ in range(runs)],
            "serve -> the car's values": [serve_to_first_telemetry(env, True) for _ in range(runs)],
            "send round trip": [send_round_trip(env) for _ in range(runs)],
        }
    return {name: median(values) for name, values in figures.items()}


TARGETS = {"evscreen --help": 0.25, "serve -> first telemetry": 1.0, "send round trip": 0.5}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    results = measure(args.runs)
    base = results["python -c pass (baseline)"]
    print(f"{'figure':<28} {'median s':>9} {'x python':>9} {'target s':>9}  met")
    for name, value in results.items():
        if name in TARGETS:
            figure(f"start-up: {name}", value, "s", baseline=base, baseline_name="python -c pass",
                   higher_is_better=False, target=f"<= {TARGETS[name]:g} s", met=value <= TARGETS[name])
    for name, value in results.items():
        target = TARGETS.get(name)
        met = "" if target is None else ("yes" if value <= target else "NO")
        print(f"{name:<28} {value:9.3f} {value / base:9.1f} {'' if target is None else f'{target:9.2f}':>9}  {met}")


if __name__ == "__main__":
    main()
