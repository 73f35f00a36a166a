"""How fast the NMEA reader turns receiver bytes into fixes, against bare pynmea2 on the same lines.

Baseline: ``pynmea2.parse(line)`` for every line (no framing, no validation, no fixes), the least
any pynmea2-based reader does. Ours frames the byte stream, checks every checksum, decodes and
validates the fields and builds one fix per epoch. Both run on the three real receiver logs in
shared/realdata/nmea, repeated; the figures are sentences per second and the ratio ours/baseline.
A receiver at 115200 baud sends at most ~11 kB/s, so anything above that is headroom.

    python benchmarks/nmea_throughput.py
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pynmea2

from evscreen.gps.nmea import NmeaReader

sys.path.insert(0, os.path.dirname(__file__))
from benchlib import figure

NMEA = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "nmea"
REPEAT = 20


def corpus() -> bytes:
    lines = []
    for log in sorted(NMEA.glob("*.log")):
        lines += [line for line in log.read_bytes().splitlines() if line.strip() and not line.startswith(b"#")]
    return b"".join(line + b"\r\n" for line in lines) * REPEAT


def best_of(runs: int, fn) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    data = corpus()
    text_lines = data.decode("ascii").splitlines()

    def baseline() -> None:
        for line in text_lines:
            try:
                pynmea2.parse(line)
            except pynmea2.ParseError:
                pass

    fixes = []

    def ours() -> None:
        reader = NmeaReader()
        for start in range(0, len(data), 4096):  # serial reads arrive in chunks
            fixes.extend(reader.feed(data[start:start + 4096]))
        reader.close()

    t_base = best_of(3, baseline)
    t_ours = best_of(3, ours)
    n = len(text_lines)
    print(f"corpus: {n} sentences, {len(data) / 1e6:.2f} MB (3 real logs x {REPEAT})")
    print(f"baseline pynmea2.parse per line: {n / t_base:,.0f} sentences/s")
    print(f"evscreen NmeaReader (framing + checks + fixes): {n / t_ours:,.0f} sentences/s, "
          f"{len(data) / t_ours / 1e6:.2f} MB/s")
    print(f"ratio ours/baseline: {t_base / t_ours:.2f}x")
    figure("NMEA: framing + checks + fixes", n / t_ours, "sentences/s", baseline=n / t_base,
           baseline_name="bare pynmea2.parse")
    print(f"headroom over a 115200-baud receiver (11.5 kB/s): {len(data) / t_ours / 11520:,.0f}x")


if __name__ == "__main__":
    main()
