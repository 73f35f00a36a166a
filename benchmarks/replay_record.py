"""Replay throughput through the full CAN path, and what recording every frame costs.

The log: the simulated car's bus (`evscreen simulate`, evscreen's DBC, every telemetry field
mapped), --minutes of driving, as a candump file.

- **Replay**: ``serve --replay LOG --replay-speed 0`` in-process: the replay bus, the CAN source's
  reader thread (decode, mapping, latest values), the hand-off to the event loop, the vehicle
  state. Frames/s from the first frame to the last in the state, against the baseline of the
  same run: ``evscreen can-dump --file LOG --format line`` as a whole process (reading the same
  log and decoding every frame, printing to /dev/null), the plain tool's rate.
- **Recording**: the same replay with ``[recording] dir`` set, against one without: CPU time of
  the reader thread (formatting each frame into the buffer) and of the writer thread
  (compressing, writing, fsync) per 1,000 frames, and the bytes and writes per minute of the
  simulated car's traffic that reach the disk.

    python benchmarks/replay_record.py [--minutes 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))
from benchlib import figure


def make_log(folder: Path, minutes: float) -> tuple[Path, int]:
    path = folder / "drive.log"
    subprocess.run([sys.executable, "-m", "evscreen", "simulate", "--duration", str(minutes * 60), "--output",
                    str(path)], check=True, capture_output=True)
    with path.open() as f:
        frames = sum(1 for _ in f)
    return path, frames


def can_dump_rate(log: Path, frames: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "evscreen", "can-dump", "--file", str(log), "--format", "line"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - start)
    return frames / best


async def replay(log: Path, frames: int, record: Path | None) -> dict[str, Any]:
    from evscreen.cli import _replay_flags
    from evscreen.config import load_config
    from evscreen.drivers.can import CanSource
    from evscreen.state import VehicleState

    flags = _replay_flags(log, 0.0, None, False, None)
    if record is not None:
        flags["recording.dir"] = str(record)
    source = CanSource(load_config(env={}, flags=flags).config, VehicleState())
    loop_cpu0 = time.thread_time()
    start = time.perf_counter()
    task = asyncio.create_task(source.run())
    while source.stats.frames < frames:
        await asyncio.sleep(0.005)
    while source._scheduled:  # the last hand-off reaches the state
        await asyncio.sleep(0.001)
    elapsed = time.perf_counter() - start
    loop_cpu = time.thread_time() - loop_cpu0
    reader_cpu = source.stats.reader_cpu_s
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await source.close()  # the recorder writes what is left
    out = {"elapsed": elapsed, "rate": frames / elapsed, "reader_cpu": reader_cpu, "loop_cpu": loop_cpu,
           "speed": source.state.get("speed")}
    if source.recorder is not None:
        stats = source.recorder.stats
        out.update(writer_cpu=stats.writer_cpu_s, written=stats.bytes_written, writes=stats.writes,
                   recorded=stats.frames, dropped=stats.dropped)
    return out


def best(runs: list[dict[str, Any]], key: str, lowest: bool = True) -> dict[str, Any]:
    return (min if lowest else max)(runs, key=lambda r: r[key])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="simulated minutes of driving in the log")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import logging

    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        log, frames = make_log(folder, args.minutes)
        per_minute = frames / args.minutes  # the simulated car's traffic
        print(f"log: {frames:,} frames, {args.minutes:g} simulated minutes ({per_minute / 60:,.0f} frames/s)")
        baseline = can_dump_rate(log, frames, args.repeat)
        print(f"baseline: can-dump --format line, whole process: {baseline:,.0f} frames/s")
        plain = [asyncio.run(replay(log, frames, None)) for _ in range(args.repeat)]
        recorded = []
        for i in range(args.repeat):
            recorded.append(asyncio.run(replay(log, frames, folder / f"rec{i}")))
        fast = best(plain, "rate", lowest=False)
        print(f"replay --replay-speed 0 into the state: {fast['rate']:,.0f} frames/s (best of {args.repeat}: "
              + ", ".join(f"{r['rate']:,.0f}" for r in plain) + f"), speed at the end {fast['speed']}")
        figure("Replay at --replay-speed 0: log -> CAN source -> state", fast["rate"], "frames/s",
               baseline=baseline, baseline_name="can-dump --format line, whole process")

        base_cpu = min(r["reader_cpu"] for r in plain) / frames * 1e6
        rec = best(recorded, "reader_cpu")
        reader_extra = rec["reader_cpu"] / frames * 1e6 - base_cpu
        writer = min(r["writer_cpu"] for r in recorded) / frames * 1e6
        cost = reader_extra + writer
        print(f"CAN source reader thread per 1000 frames: {base_cpu:.2f} ms without recording, "
              f"{rec['reader_cpu'] / frames * 1e6:.2f} ms with (+{reader_extra:.2f} ms formatting), "
              f"writer thread {writer:.2f} ms (compress + write + fsync); recorded {rec['recorded']:,}, "
              f"dropped {rec['dropped']}")
        figure("Recording: CPU per 1,000 frames (buffering + compressing + writing)", cost, "ms",
               baseline=base_cpu, baseline_name="the CAN source's own reader CPU", higher_is_better=False)
        from evscreen.can.recording import BUFFER_FRAMES
        from evscreen.config import RecordingConfig

        bytes_per_frame = rec["written"] / rec["recorded"]
        flush_s = RecordingConfig().flush_seconds
        writes_per_minute = max(per_minute / BUFFER_FRAMES, 60.0 / flush_s)  # at the car's own pace
        per_write = bytes_per_frame * per_minute / writes_per_minute
        print(f"disk: {bytes_per_frame:.1f} bytes per frame compressed; at the car's {per_minute / 60:,.0f} frames/s:"
              f" {writes_per_minute:.0f} writes per minute of {per_write / 1024:.1f} kB each (one gzip member + fsync)")
        figure("Recording: bytes written per minute of the simulated car's bus", bytes_per_frame * per_minute / 1e6,
               "MB/min", target=f"{writes_per_minute:.0f} sequential writes/min (every {flush_s:g} s)")


if __name__ == "__main__":
    main()
