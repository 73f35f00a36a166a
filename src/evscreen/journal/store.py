"""The journal on disk: one SQLite file of trips and charge sessions in the data directory.

Safe against power cuts and SIGKILL: SQLite's write-ahead log with ``synchronous=FULL``, so
every checkpoint is one atomic, fsynced transaction — a kill at any instant leaves the file as of
the last committed checkpoint. Gentle on an SD card: the journal keeps the open trip and session
in memory and the sink saves them only every few tens of seconds and on events (a trip or session
starting or ending), each save one small transaction (a page or two of the WAL).

Readers (``evscreen trips``, the HTTP API) open the same file; WAL lets them read while the server
writes. Rows are checked as they are read back: a row someone edited into nonsense is skipped with
a warning, never a crash.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any

from evscreen.errors import EvscreenError
from evscreen.journal.records import DISTANCE_METHODS, ENERGY_METHODS, Charge, Trip

log = logging.getLogger(__name__)

JOURNAL_FILE = "journal.sqlite3"
SCHEMA_VERSION = 1

_TRIP_COLUMNS = tuple(f.name for f in fields(Trip) if f.name != "id")
_CHARGE_COLUMNS = tuple(f.name for f in fields(Charge) if f.name != "id")
_TEXT_COLUMNS = frozenset({"energy_method", "distance_method", "curve"})


class JournalError(EvscreenError):
    """The journal file is missing, unreadable or not a journal."""


def _create_sql(table: str, columns: Sequence[str]) -> str:
    cols = ", ".join(f'"{c}" {"TEXT" if c in _TEXT_COLUMNS else "REAL"}' for c in columns)
    return f'CREATE TABLE IF NOT EXISTS {table} (id INTEGER PRIMARY KEY AUTOINCREMENT, {cols})'


class JournalStore:
    """Trips and charges in one SQLite file. Thread-safe: one connection behind a lock."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        self._lock = threading.Lock()
        self._conn = self._connect()
        self.transactions = 0  # committed checkpoints, for the benchmark and the tests

    def _connect(self) -> sqlite3.Connection:
        path = self.path
        if self.readonly:
            if not path.exists():
                raise JournalError(f"no journal at {path}: nothing has been recorded yet (`evscreen serve` records"
                                   " trips and charges there; --journal FILE reads another)")
            uri = f"{path.resolve().as_uri()}?mode=ro"
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=5.0)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), check_same_thread=False, timeout=5.0, isolation_level=None)
        try:
            self._prepare(conn)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise JournalError(f"{path} is not a readable journal: {exc}") from None
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        if self.readonly:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if not {"trips", "charges"} <= tables:
                raise sqlite3.DatabaseError("it has no trips and charges tables")
            if version > SCHEMA_VERSION:
                raise sqlite3.DatabaseError(f"it was written by a newer evscreen (schema {version})")
            return
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")  # a committed checkpoint survives a power cut too
        conn.execute("PRAGMA journal_size_limit=1048576")  # the WAL never keeps more than 1 MiB
        conn.execute(_create_sql("trips", _TRIP_COLUMNS))
        conn.execute(_create_sql("charges", _CHARGE_COLUMNS))
        conn.execute('CREATE INDEX IF NOT EXISTS trips_start ON trips ("start")')
        conn.execute('CREATE INDEX IF NOT EXISTS charges_start ON charges ("start")')
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        conn.execute("PRAGMA quick_check").fetchone()

    @classmethod
    def open_for_writing(cls, path: Path) -> JournalStore:
        """Open (or create) the journal; a corrupt file is moved aside and a new one started."""
        try:
            return cls(path)
        except JournalError as exc:
            aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
            log.error("%s; moved it to %s and started a new journal", exc, aside)
            for suffix in ("", "-wal", "-shm"):
                src = Path(f"{path}{suffix}")
                if src.exists():
                    src.replace(Path(f"{aside}{suffix}"))
            return cls(path)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            self.transactions += 1

    # -- writing ------------------------------------------------------------------------------------

    def save(self, records: Sequence[Trip | Charge]) -> None:
        """Insert or update ``records`` in one transaction; new ones get their ``id``."""
        if not records:
            return
        with self._transaction() as conn:
            for rec in records:
                table, columns = ("trips", _TRIP_COLUMNS) if isinstance(rec, Trip) else ("charges", _CHARGE_COLUMNS)
                values = [_to_column(c, getattr(rec, c)) for c in columns]
                if rec.id is None:
                    names = ", ".join(f'"{c}"' for c in columns)
                    marks = ", ".join("?" for _ in columns)
                    cursor = conn.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", values)
                    rec.id = cursor.lastrowid
                else:
                    sets = ", ".join(f'"{c}" = ?' for c in columns)
                    conn.execute(f"UPDATE {table} SET {sets} WHERE id = ?", [*values, rec.id])

    # -- reading ------------------------------------------------------------------------------------

    def open_records(self) -> tuple[Trip | None, Charge | None]:
        """The trip and the session the last run left open (the latest of each, if several)."""
        trips = self.trips(open_only=True)
        charges = self.charges(open_only=True)
        return (trips[0] if trips else None), (charges[0] if charges else None)

    def trips(self, *, since: float | None = None, limit: int | None = None, open_only: bool = False) -> list[Trip]:
        """Trips, the latest first; ``since`` in epoch seconds (trips that started then or later)."""
        return [t for t in self._select("trips", _TRIP_COLUMNS, since, limit, open_only)
                if isinstance(t, Trip)]

    def charges(self, *, since: float | None = None, limit: int | None = None,
                open_only: bool = False) -> list[Charge]:
        return [c for c in self._select("charges", _CHARGE_COLUMNS, since, limit, open_only)
                if isinstance(c, Charge)]

    def _select(self, table: str, columns: Sequence[str], since: float | None, limit: int | None,
                open_only: bool) -> list[Trip | Charge]:
        where, args = [], []
        if since is not None:
            where.append('"start" >= ?')
            args.append(since)
        if open_only:
            where.append('"end" IS NULL')
        sql = f"SELECT id, {', '.join(f'{chr(34)}{c}{chr(34)}' for c in columns)} FROM {table}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += ' ORDER BY "start" DESC, id DESC'
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        try:
            with self._lock:
                rows = self._conn.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as exc:
            raise JournalError(f"cannot read {self.path}: {exc}") from None
        cls = Trip if table == "trips" else Charge
        out: list[Trip | Charge] = []
        for row in rows:
            try:
                out.append(_from_row(cls, columns, row))
            except (TypeError, ValueError) as exc:
                log.warning("journal %s row %s skipped: %s", table, row[0], exc)
        return out


def _to_column(name: str, value: Any) -> Any:
    if name == "curve":
        return json.dumps([[soc, kwh, s] for soc, (kwh, s) in sorted(value.items())], separators=(",", ":"))
    return value


def _from_row(cls: type[Trip | Charge], columns: Sequence[str], row: Sequence[Any]) -> Trip | Charge:
    kwargs: dict[str, Any] = {"id": int(row[0])}
    for name, value in zip(columns, row[1:], strict=True):
        if name == "curve":
            kwargs[name] = _curve(value)
        elif name in _TEXT_COLUMNS:
            allowed = ENERGY_METHODS if name == "energy_method" else DISTANCE_METHODS
            if value is not None and value not in allowed:
                raise ValueError(f"{name} is not one of {', '.join(allowed)}: {str(value)[:40]!r}")
            kwargs[name] = value
        elif value is None:
            if name in ("start", "updated"):
                raise ValueError(f"{name} is missing")
            kwargs[name] = None if name not in ("distance_km", "energy_kwh", "regen_kwh", "ambient_c_s",
                                                "ambient_s") else 0.0
        else:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{name} is not a number: {str(value)[:40]!r}")
            kwargs[name] = float(value)
    return cls(**kwargs)


def _curve(text: Any) -> dict[int, tuple[float, float]]:
    if text is None:
        return {}
    if not isinstance(text, str):
        raise TypeError("curve is not text")
    try:
        points = json.loads(text)
        return {int(soc): (float(kwh), float(s)) for soc, kwh, s in points}
    except (ValueError, TypeError) as exc:
        raise ValueError(f"curve is not a list of [soc, kWh, s]: {exc}") from None
