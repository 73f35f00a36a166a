"""``evscreen trips`` and ``evscreen charges``: the journal as a table, JSON or CSV.

They read the journal file directly (read-only), so they work with or without a running server.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from evscreen.errors import UsageError
from evscreen.journal.export import (
    DEFAULT_LIMIT,
    charge_totals,
    local_time,
    parse_limit,
    parse_since,
    to_csv,
    to_json,
    trip_totals,
)
from evscreen.journal.records import Charge, Trip
from evscreen.journal.store import JOURNAL_FILE, JournalStore


def journal_path(given: Path | None) -> Path:
    from evscreen.config import data_dir

    return given if given is not None else data_dir() / JOURNAL_FILE


def run_history(kind: str, *, as_json: bool, as_csv: bool, since: str | None, limit: str | None,
                journal: Path | None) -> int:
    if as_json and as_csv:
        raise UsageError("--json and --csv: choose one")
    try:
        since_t = None if since is None else parse_since(since)
    except ValueError as exc:
        raise UsageError(f"--since: {exc}") from None
    try:
        count = DEFAULT_LIMIT if limit is None else parse_limit(limit)
    except ValueError as exc:
        raise UsageError(f"--limit: {exc}") from None
    store = JournalStore(journal_path(journal), readonly=True)  # JournalError: one red line, exit 1
    try:
        records: list[Any] = (store.trips(since=since_t, limit=count) if kind == "trips"
                              else store.charges(since=since_t, limit=count))
    finally:
        store.close()
    if as_json:
        sys.stdout.write(to_json(records) + "\n")
    elif as_csv:
        sys.stdout.write(to_csv(kind, records))
    else:
        _print_table(kind, records, store.path)
    return 0


def _num(value: float | None, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def _soc(start: float | None, end: float | None) -> str:
    return f"{_num(start, '.0f')} → {_num(end, '.0f')}"


def _print_table(kind: str, records: list[Any], path: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not records:
        console.print(f"no {kind} in {path}" + (" yet" if kind == "trips" else ""))
        return
    table = Table(title=f"{kind} in {path} (latest first)", title_justify="left", show_footer=True)
    if kind == "trips":
        trips: list[Trip] = records
        t = trip_totals(trips)
        columns = [("start", f"{t['count']} trips"), ("min", f"{t['duration_min']:.0f}"),
                   ("km", f"{t['distance_km']:.1f}"), ("kWh", f"{t['energy_kwh']:.2f}"),
                   ("Wh/km", _num(t["wh_per_km"], ".0f")), ("SoC %", ""), ("km/h", ""), ("°C", ""),
                   ("measured by", "")]
        for name, footer in columns:
            table.add_column(name, footer, justify="left" if name in ("start", "SoC %", "measured by") else "right")
        for trip in trips:
            row = trip.public()
            table.add_row(local_time(trip.start) + ("" if trip.end is not None else " (open)"),
                          f"{row['duration_min']:.0f}", f"{row['distance_km']:.1f}", f"{row['energy_kwh']:.2f}",
                          _num(row["wh_per_km"], ".0f"), _soc(row["soc_start"], row["soc_end"]),
                          _num(row["avg_speed_kmh"], ".0f"), _num(row["ambient_temp_avg"], ".0f"),
                          f"{row['energy_method'] or '—'}, {row['distance_method'] or '—'}")
    else:
        charges: list[Charge] = records
        c = charge_totals(charges)
        columns = [("start", f"{c['count']} charges"), ("min", f"{c['duration_min']:.0f}"),
                   ("kWh", f"{c['energy_kwh']:.2f}"), ("SoC %", ""), ("max kW", ""), ("avg kW", ""),
                   ("measured by", "")]
        for name, footer in columns:
            table.add_column(name, footer, justify="left" if name in ("start", "SoC %", "measured by") else "right")
        for charge in charges:
            row = charge.public(with_curve=False)
            table.add_row(local_time(charge.start) + ("" if charge.end is not None else " (open)"),
                          f"{row['duration_min']:.0f}", f"{row['energy_kwh']:.2f}",
                          _soc(row["soc_start"], row["soc_end"]), _num(row["max_power_kw"], ".1f"),
                          _num(row["avg_power_kw"], ".1f"), row["energy_method"] or "—")
    console.print(table)
