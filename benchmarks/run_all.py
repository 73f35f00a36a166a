"""Run every benchmark and print one table: figure, value, baseline, ratio, target, met.

    python benchmarks/run_all.py            # the full suite (about 8 minutes)
    python benchmarks/run_all.py --quick    # shorter runs, for a smoke check (about 3 minutes)
    python benchmarks/run_all.py --markdown # the table as Markdown, for docs/performance.md

Each benchmark runs as its own process (so one cannot warm or load the next) and prints its
headline figures as ``FIGURE {json}`` lines; everything else it prints is shown as it runs.
Linux only (the memory and CPU figures read /proc).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from benchlib import FIGURE_PREFIX

HERE = os.path.dirname(os.path.abspath(__file__))

#: (script, full arguments, quick arguments)
SUITE: list[tuple[str, list[str], list[str]]] = [
    ("can_decode.py", [], ["--repeat", "3"]),
    ("can_dump.py", [], ["--repeat", "2", "--times", "5"]),
    ("can_ingest.py", [], ["--frames", "150000", "--rate", "0"]),
    ("sensor_to_screen.py", [], ["--changes", "150"]),
    ("fanout.py", ["--seconds", "10"], ["--clients", "10,100", "--seconds", "4"]),
    ("viss_fanout.py", ["--seconds", "10"], ["--seconds", "4"]),
    ("startup.py", [], ["--runs", "3"]),
    ("soak.py", ["--minutes", "1.5", "--sample", "10"], ["--minutes", "1.05", "--sample", "15"]),
    ("sim_step.py", [], ["--seconds", "120"]),
    ("nmea_throughput.py", [], []),
    ("mqtt_writes.py", ["--seconds", "60", "--outage", "30"], ["--seconds", "15", "--outage", "10"]),
    ("journal_writes.py", ["--seconds", "120"], ["--seconds", "45"]),
    ("journal_predictions.py", [], ["--seeds", "1"]),
    ("replay_record.py", [], ["--minutes", "5", "--repeat", "2"]),
    ("diagnostics.py", [], ["--seconds", "4", "--repeat", "2"]),
]


def run(script: str, args: list[str], verbose: bool) -> list[dict]:
    rows = []
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, script), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(FIGURE_PREFIX):
            rows.append(json.loads(line[len(FIGURE_PREFIX):]))
        elif verbose:
            print(f"  {line}", end="", file=sys.stderr)
    if proc.wait() != 0:
        rows.append({"figure": f"{script} FAILED (exit {proc.returncode})", "value": float("nan"), "unit": "",
                     "baseline": None, "baseline_name": "", "ratio": None, "target": "", "met": False})
    return rows


def fmt(x: float | None) -> str:
    if x is None:
        return ""
    if x != x:  # NaN
        return "n/a"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.3g}" if abs(x) < 10 else f"{x:.1f}"


def table(rows: list[dict], markdown: bool) -> str:
    head = ["figure", "value", "baseline", "ratio", "target", "met"]
    body = []
    for r in rows:
        met = "" if r["met"] is None else ("yes" if r["met"] else "NO")
        baseline = f"{fmt(r['baseline'])} ({r['baseline_name']})" if r["baseline"] is not None else ""
        body.append([r["figure"], f"{fmt(r['value'])} {r['unit']}", baseline,
                     f"{r['ratio']:.2f}x" if r["ratio"] else "", r["target"], met])
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        return "\n".join(lines)
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    out += ["  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) for cells in body]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--quiet", action="store_true", help="do not echo each benchmark's own output")
    parser.add_argument("--only", help="comma-separated script names to run")
    args = parser.parse_args()
    rows: list[dict] = []
    started = time.monotonic()
    for script, full, quick in SUITE:
        if args.only and script.removesuffix(".py") not in args.only.split(",") and script not in args.only:
            continue
        print(f"running {script} ...", file=sys.stderr, flush=True)
        rows += run(script, quick if args.quick else full, not args.quiet)
    print(f"\n{platform.node()}: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.system()} {platform.release()}; {time.monotonic() - started:.0f} s\n")
    print(table(rows, args.markdown))
    missed = [r["figure"] for r in rows if r["met"] is False]
    print(f"\ntargets met: {sum(1 for r in rows if r['met'])} of {sum(1 for r in rows if r['met'] is not None)}"
          + (f"; missed: {'; '.join(missed)}" if missed else ""))


if __name__ == "__main__":
    main()
