"""The journal's SQLite store: round trips, queries, damaged and hostile files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from evscreen.journal.records import Charge, Trip
from evscreen.journal.store import JournalError, JournalStore

T0 = 1_700_000_000.0


def test_records_round_trip_and_come_back_latest_first(tmp_path: Path) -> None:
    store = JournalStore(tmp_path / "j.sqlite3")
    trips = [Trip(start=T0 + i * 3600, updated=T0 + i * 3600 + 600, end=T0 + i * 3600 + 600, distance_km=10.0 + i,
                  energy_kwh=1.5, regen_kwh=0.2, soc_start=80.0, soc_end=77.0, ambient_c_s=6000.0, ambient_s=600.0,
                  start_latitude=48.1, start_longitude=11.5, energy_method="v_i_integral",
                  distance_method="odometer") for i in range(3)]
    charge = Charge(start=T0, updated=T0 + 900, energy_kwh=12.0, curve={55: (0.5, 40.0), 56: (0.6, 45.0)})
    store.save([*trips, charge])
    assert [t.id for t in trips] == [1, 2, 3] and charge.id == 1
    trips[2].distance_km = 20.0
    store.save([trips[2]])  # an update, not a new row
    got = store.trips()
    assert [t.id for t in got] == [3, 2, 1]
    assert got[0] == trips[2]
    assert store.trips(since=T0 + 3600, limit=1)[0].id == 3
    assert [t.id for t in store.trips(since=T0 + 3600)] == [3, 2]
    (back,) = store.charges()
    assert back == charge and back.curve_points() == [[55.0, 45.0], [56.0, 48.0]]
    assert store.open_records() == (None, charge)  # charge has no end: still open
    store.close()


def test_a_reader_sees_what_a_writer_committed(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    writer = JournalStore(path)
    trip = Trip(start=T0, updated=T0 + 1)
    writer.save([trip])
    reader = JournalStore(path, readonly=True)
    assert reader.trips()[0].end is None
    trip.end = T0 + 1
    writer.save([trip])
    assert reader.trips()[0].end == T0 + 1
    with pytest.raises(sqlite3.OperationalError):
        reader._conn.execute("DELETE FROM trips")


def test_a_missing_journal_is_a_clear_error_for_readers(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="no journal at .*nothing has been recorded yet"):
        JournalStore(tmp_path / "absent.sqlite3", readonly=True)
    assert not (tmp_path / "absent.sqlite3").exists()


@pytest.mark.parametrize("content", [b"this is not a database" * 100, b"SQLite format 3\x00" + b"\xff" * 4000])
def test_a_corrupt_journal_is_an_error_for_readers_and_moved_aside_by_the_server(tmp_path: Path,
                                                                                   content: bytes) -> None:
    path = tmp_path / "j.sqlite3"
    path.write_bytes(content)
    with pytest.raises(JournalError, match="is not a readable journal"):
        JournalStore(path, readonly=True)
    store = JournalStore.open_for_writing(path)
    store.save([Trip(start=T0, updated=T0)])
    (aside,) = tmp_path.glob("j.sqlite3.corrupt-*")
    assert aside.read_bytes() == content  # kept for whoever wants to look at it
    assert len(store.trips()) == 1


def test_a_foreign_sqlite_file_is_not_a_journal(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite3"
    sqlite3.connect(path).execute("CREATE TABLE x (y)").connection.commit()
    with pytest.raises(JournalError, match="no trips and charges tables"):
        JournalStore(path, readonly=True)


def test_hostile_rows_are_skipped_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    store = JournalStore(path)
    store.save([Trip(start=T0, updated=T0, distance_km=3.0), Charge(start=T0, updated=T0)])
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO trips (start, updated, distance_km) VALUES ('yesterday', 1, 2)")
    conn.execute("INSERT INTO trips (start, updated, distance_km) VALUES (?, ?, ?)", (T0 + 5, T0 + 5, 1e400))
    conn.execute("INSERT INTO trips (start, updated, energy_method) VALUES (?, ?, ?)", (T0 + 6, T0 + 6, 42))
    conn.execute("INSERT INTO charges (start, updated, curve) VALUES (?, ?, ?)", (T0 + 1, T0 + 1, "[[1, 2]]"))
    conn.execute("INSERT INTO charges (start, updated) VALUES (NULL, 3)")
    conn.commit()
    assert [t.distance_km for t in store.trips()] == [3.0]
    assert len(store.charges()) == 1
