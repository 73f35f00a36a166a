"""`evscreen can-dump --format line` vs `cantools decode --single-line`, whole processes, one run.

Both decode the real Kona EV log, converted to candump format (what `cantools decode` reads), with
the Kona P-CAN DBC. cantools' strict parser rejects pcan.dbc as published (no BS_:/BU_: lines), so
cantools gets a copy with those two lines added; evscreen reads the original. Each command runs
--repeat times; the best wall time counts. Reported twice: on the log as recorded (14,294 frames,
so start-up weighs heavily) and on the same log repeated --times times (a longer drive), where
the per-frame cost dominates. evscreen's DBC cache is warm (the first run fills it).
Target: evscreen at least 5x faster.

    python benchmarks/can_dump.py [--repeat 3] [--times 20]
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from benchlib import figure

REAL = Path(__file__).resolve().parent.parent.parent / "shared" / "realdata" / "can" / "kona-ev"


def to_candump(gvret: Path, out: Path, times: int) -> int:
    lines = []
    with gvret.open(newline="") as f:
        for rec in csv.DictReader(f):
            n = int(rec["LEN"])
            data = "".join(rec[f"D{i + 1}"] for i in range(n))
            ident = int(rec["ID"], 16)
            width = 8 if rec["Extended"].strip().lower() == "true" else 3
            lines.append(f"({int(rec['Time Stamp']) / 1e6:.6f}) can{rec['Bus']} {ident:0{width}X}#{data}\n")
    span = 60.0
    with out.open("w") as f:
        for k in range(times):
            for line in lines:
                if k:  # later copies: later in time, so the log stays a plausible recording
                    stamp, rest = line.split(")", 1)
                    line = f"({float(stamp[1:]) + k * span:.6f}){rest}"
                f.write(line)
    return len(lines) * times


def best_of(cmd: list[str], repeat: int, stdin: Path | None = None) -> float:
    best = float("inf")
    for _ in range(repeat):
        with (stdin.open() if stdin else open("/dev/null")) as inp:
            start = time.perf_counter()
            proc = subprocess.run(cmd, stdin=inp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.decode()[-500:]}")
        best = min(best, elapsed)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--times", type=int, default=20, help="copies of the log in the long run")
    args = parser.parse_args()

    evscreen = shutil.which("evscreen") or str(Path(sys.executable).with_name("evscreen"))
    cantools = shutil.which("cantools") or str(Path(sys.executable).with_name("cantools"))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        dbc_text = (REAL / "pcan.dbc").read_text(encoding="utf-8")
        cut = dbc_text.index("\nBO_ ")
        fixed = work / "pcan-with-bs-bu.dbc"
        fixed.write_text(dbc_text[:cut] + "\nBS_:\n\nBU_:\n" + dbc_text[cut:], encoding="utf-8")
        for times in (1, args.times):
            log = work / f"kona-x{times}.log"
            frames = to_candump(REAL / "221217-1-2021-pcan-bcan-no-key.csv", log, times)
            ours_cmd = [evscreen, "can-dump", "--file", str(log), "--dbc", str(REAL / "pcan.dbc"), "--format", "line"]
            theirs_cmd = [cantools, "decode", "--single-line", str(fixed)]
            subprocess.run(ours_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fill the DBC cache
            ours = best_of(ours_cmd, args.repeat)
            theirs = best_of(theirs_cmd, args.repeat, stdin=log)
            label = "the recorded log" if times == 1 else f"the log x{times}"
            print(f"{label}: {frames:,} frames")
            print(f"  evscreen can-dump --format line : {ours:6.3f} s  ({frames / ours:10,.0f} frames/s)")
            print(f"  cantools decode --single-line   : {theirs:6.3f} s  ({frames / theirs:10,.0f} frames/s)")
            print(f"  ratio: evscreen is {theirs / ours:.1f}x faster (target >= 5x)")
            figure(f"can-dump --format line, whole process, {label}", ours, "s", baseline=theirs,
                   baseline_name="cantools decode --single-line", higher_is_better=False,
                   target=">= 5x" if times == 1 else "", met=(theirs / ours >= 5) if times == 1 else None)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        print(f"(python start-up alone: {time.perf_counter() - start:.3f} s)")


if __name__ == "__main__":
    main()
