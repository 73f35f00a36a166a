"""The journal's disk writes while driving: bytes per minute from /proc/<pid>/io.

    python benchmarks/journal_writes.py --seconds 120

Runs `evscreen serve` on the simulated car at real time (it drives from the first second: the
first loop is 36 minutes of UDDS + HWFET) twice in the same run, with the journal off (the
baseline: what serve writes anyway) and on with its default 30 s checkpoints, each in a fresh
data folder on the same disk, and reports ``write_bytes`` (what the process sent to the block
layer) per minute of each, after a warm-up. The `sync` before each reading makes the kernel
write back what was dirtied, so it is counted. Linux only.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from benchlib import figure, free_port, wait_for_port

WARM_UP_S = 15.0


def io_counters(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        name, _, value = line.partition(":")
        out[name] = int(value)
    return out


def measure(journal: bool, seconds: float, root: Path) -> tuple[float, float, int]:
    """(write_bytes per minute, wchar per minute, journal transactions) of one serve run."""
    home = root / ("on" if journal else "off")
    env = {**os.environ, "XDG_DATA_HOME": str(home / "data"), "XDG_CONFIG_HOME": str(home / "config"),
           "XDG_STATE_HOME": str(home / "state"), "EVSCREEN_JOURNAL__ENABLED": "true" if journal else "false"}
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "evscreen", "serve", "--simulation", "on", "--port", str(port),
                             "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        time.sleep(WARM_UP_S)  # start-up writes (creating the journal, settings) are not the steady state
        os.sync()
        before = io_counters(proc.pid)
        start = time.monotonic()
        time.sleep(seconds)
        os.sync()
        after = io_counters(proc.pid)
        minutes = (time.monotonic() - start) / 60.0
    finally:
        proc.terminate()
        proc.wait(10)
    transactions = 0
    path = home / "data" / "evscreen" / "journal.sqlite3"
    if journal and path.exists():
        import sqlite3

        with sqlite3.connect(path) as conn:
            row = conn.execute("SELECT distance_km, (updated - start) FROM trips ORDER BY id DESC").fetchone()
        print(f"  journal: the trip so far {row[0]:.2f} km over {row[1]:.0f} s")
    return ((after["write_bytes"] - before["write_bytes"]) / minutes,
            (after["wchar"] - before["wchar"]) / minutes, transactions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=120.0, help="measured seconds per run (after warm-up)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="journal-writes-", dir=os.path.expanduser("~")) as tmp:
        off, off_w, _ = measure(False, args.seconds, Path(tmp))
        on, on_w, _ = measure(True, args.seconds, Path(tmp))
    print(f"journal off: {off / 1024:.1f} KiB/min written to disk ({off_w / 1024:.1f} KiB/min of write calls)")
    print(f"journal on:  {on / 1024:.1f} KiB/min written to disk ({on_w / 1024:.1f} KiB/min of write calls)")
    extra = max(0.0, on - off)
    figure("Journal: disk writes while driving, 30 s checkpoints (`journal_writes.py`)", round(extra / 1024, 1),
           "KiB/min more than serve without the journal", baseline=round(off / 1024, 1),
           baseline_name="KiB/min of serve without the journal", target="<= 64 KiB/min", met=extra <= 64 * 1024,
           higher_is_better=False)


if __name__ == "__main__":
    main()
