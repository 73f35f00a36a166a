"""The journal in a running `evscreen serve`: a simulated history, SIGKILL mid-trip, the CLI reading it."""

from __future__ import annotations

import csv
import io
import json
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import evscreen_cmd
from evscreen.config import data_dir
from evscreen.journal.records import CHARGE_FIELDS, ENERGY_METHODS, TRIP_FIELDS
from evscreen.journal.store import JOURNAL_FILE, JournalError, JournalStore


def wait_for_journal(condition: Callable[[JournalStore], Any], proc: subprocess.Popen[str],
                     timeout: float = 300.0) -> Any:
    """Poll the journal (read-only, as the CLI reads it) until ``condition`` returns something truthy.

    ``timeout`` only guards against a hang: the simulation's progress, not the clock, decides.
    """
    path = data_dir() / JOURNAL_FILE
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, f"serve exited: {proc.stderr.read() if proc.stderr else ''}"
        if path.exists():
            try:
                store = JournalStore(path, readonly=True)
            except JournalError:
                store = None  # created a moment ago: tables not there yet
            if store is not None:
                try:
                    result = condition(store)
                finally:
                    store.close()
                if result:
                    return result
        assert time.monotonic() < deadline, "the journal never got there"
        time.sleep(0.2)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(evscreen_cmd(*args), check=False, capture_output=True, text=True, timeout=60)


def test_a_simulated_run_at_200x_leaves_a_complete_trip_and_charge(serve_process: Any) -> None:
    sp = serve_process("--simulation", "on", "--sim-speed", "200")

    def complete(store: JournalStore) -> bool:
        return (any(t.end is not None for t in store.trips())
                and any(c.end is not None for c in store.charges()))

    wait_for_journal(complete, sp.proc)
    code, err = sp.stop()
    assert code == 0, err
    assert "journal: trip" in err and "closed" in err
    trips = json.loads(cli("trips", "--json").stdout)
    charges = json.loads(cli("charges", "--json").stdout)
    done = [t for t in trips if t["end"] is not None]
    assert done and list(done[0]) == list(TRIP_FIELDS)
    for trip in done:
        assert 100.0 <= trip["wh_per_km"] <= 250.0, trip
        assert trip["distance_km"] > 5.0 and trip["soc_end"] < trip["soc_start"]
        # The evscreen profile maps the simulated car's odometer: distance comes from it. It maps the
        # BMS counters too, but at 200x the poller's 5 s are 17 simulated minutes, so how many of its
        # readings fall within a trip (and the method) depends on the machine's load: the meters are
        # tested in test_journal_core.
        assert trip["energy_method"] in ENERGY_METHODS and trip["distance_method"] == "odometer"
        assert trip["duration_min"] > 10.0  # on the simulated car's clock: as long as it was driven
        assert trip["start_latitude"] is not None and trip["end_longitude"] is not None
    charge = next(c for c in charges if c["end"] is not None)
    assert list(charge)[:-1] == list(CHARGE_FIELDS) and charge["curve"]
    assert charge["soc_end"] > charge["soc_start"] and charge["energy_kwh"] > 1.0
    assert 20.0 <= charge["max_power_kw"] <= 60.0  # the simulated 50 kW DC charger
    # The other forms and the table give the same records.
    rows = list(csv.DictReader(io.StringIO(cli("trips", "--csv").stdout)))
    assert [int(r["id"]) for r in rows] == [t["id"] for t in trips]
    table = cli("charges")
    assert table.returncode == 0 and f"{len(charges)} charges" in table.stdout
    assert cli("trips", "--since", "2999-01-01", "--json").stdout.strip() == "[]"


def test_sigkill_mid_trip_keeps_the_trip_so_far_and_the_next_start_closes_it(serve_process: Any) -> None:
    env = {"EVSCREEN_JOURNAL__CHECKPOINT_SECONDS": "1"}
    sp = serve_process("--simulation", "on", "--sim-speed", "20", env=env)

    def open_trip_moving(store: JournalStore) -> Any:
        open_trips = store.trips(open_only=True)
        return open_trips[0] if open_trips and open_trips[0].distance_km > 0.5 else None

    seen = wait_for_journal(open_trip_moving, sp.proc)
    sp.proc.send_signal(signal.SIGKILL)
    sp.proc.wait(10)
    path = data_dir() / JOURNAL_FILE
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    store = JournalStore(path, readonly=True)
    (kept,) = store.trips()
    store.close()
    assert kept.id == seen.id and kept.end is None
    assert kept.distance_km >= seen.distance_km  # nothing checkpointed was lost
    # The next start: the simulated car's clock begins again at now, before the trip's last
    # checkpoint, so the trip cannot be resumed: it is closed where the checkpoint left it.
    sp2 = serve_process("--simulation", "on", "--sim-speed", "20", env=env)
    closed = wait_for_journal(lambda s: [t for t in s.trips() if t.id == kept.id and t.end is not None],
                              sp2.proc)[0]
    assert closed.end == kept.updated and closed.distance_km == kept.distance_km
    code, err = sp2.stop()
    assert code == 0 and "was left open; closed at its last checkpoint" in err


def test_the_cli_explains_a_missing_journal_and_bad_arguments(tmp_path: Path) -> None:
    absent = cli("trips", "--journal", str(tmp_path / "none.sqlite3"))
    assert absent.returncode == 1 and "no journal at" in absent.stderr and "--journal FILE" in absent.stderr
    bad_date = cli("charges", "--since", "yesterday")
    assert bad_date.returncode == 2 and "--since: 'yesterday' is not a date" in bad_date.stderr
    bad_limit = cli("trips", "--limit", "ten")
    assert bad_limit.returncode == 2 and "--limit: 'ten' is not a whole number" in bad_limit.stderr
    both = cli("trips", "--json", "--csv")
    assert both.returncode == 2 and "choose one" in both.stderr
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not a journal at all" * 50)
    broken = cli("trips", "--journal", str(junk))
    assert broken.returncode == 1 and "is not a readable journal" in broken.stderr
    assert "Traceback" not in broken.stderr
