"""Shared by the benchmarks: process figures from /proc (Linux), percentiles, free ports, and
:func:`figure`, the one line per headline figure that ``run_all.py`` collects into its table."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

# The real recordings vendored with the tests (see tests/data/realdata/README.md).
REALDATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "realdata"

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def cpu_percent_while(pid: int, warm_up: float, seconds: float, work: Callable[[], T]) -> tuple[T, float]:
    """Run ``work`` (which measures over the same window) and return its result with ``pid``'s CPU,
    in % of one core, from ``warm_up`` seconds after the start for ``seconds``."""
    marks: dict[str, float] = {}

    def sample() -> None:
        time.sleep(warm_up)
        marks["cpu0"], marks["t0"] = cpu_seconds(pid), time.monotonic()
        time.sleep(seconds)
        marks["cpu1"], marks["t1"] = cpu_seconds(pid), time.monotonic()

    sampler = threading.Thread(target=sample)
    sampler.start()
    result = work()
    sampler.join()
    return result, (marks["cpu1"] - marks["cpu0"]) / (marks["t1"] - marks["t0"]) * 100


def measure_server(argv: list[str], port: int, warm_up: float, seconds: float,
                   work: Callable[[], T]) -> tuple[T, float]:
    """Start ``argv`` (a server listening on ``port``) with a home of its own, run ``work`` against
    it and return its result with the server's CPU % over ``seconds`` after ``warm_up``."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "XDG_DATA_HOME": home, "XDG_CONFIG_HOME": home}
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_port(port)
            return cpu_percent_while(proc.pid, warm_up, seconds, work)
        finally:
            proc.terminate()
            proc.wait(10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listening on {port}")


def best_of(fn, repeats: int = 5) -> float:  # type: ignore[no-untyped-def]
    """Seconds per operation of ``fn`` (which returns how many it did): the best of ``repeats`` runs,
    the one least disturbed by other work on a shared machine."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        n = fn()
        best = min(best, (time.perf_counter() - start) / n)
    return best


def median(values: list[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


FIGURE_PREFIX = "FIGURE "


def figure(name: str, value: float, unit: str, *, baseline: float | None = None, baseline_name: str = "",
           target: str = "", met: bool | None = None, higher_is_better: bool = True) -> None:
    """Print one headline figure as a machine-readable line (and it reads well enough by eye).

    ``ratio`` is value/baseline when higher is better, baseline/value when lower is better, so a
    ratio above 1 always means evscreen is ahead of the baseline.
    """
    ratio = None
    if baseline:
        ratio = value / baseline if higher_is_better else (baseline / value if value else None)
    print(FIGURE_PREFIX + json.dumps({
        "figure": name, "value": value, "unit": unit, "baseline": baseline, "baseline_name": baseline_name,
        "ratio": ratio, "target": target, "met": met,
    }), flush=True)
