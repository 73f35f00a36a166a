"""The journal as users take it away: JSON, CSV, totals, and the ``--since`` date (pure).

One place for these, so ``evscreen trips`` and ``GET /api/trips`` give the same rows and numbers.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from evscreen.journal.records import CHARGE_FIELDS, TRIP_FIELDS, Charge, Trip

KINDS = ("trips", "charges")
#: Most rows one request or command returns when no limit is given.
DEFAULT_LIMIT = 1000


def public_rows(records: Sequence[Trip | Charge]) -> list[dict[str, Any]]:
    return [r.public() for r in records]


def to_json(records: Sequence[Trip | Charge]) -> str:
    return json.dumps(public_rows(records), indent=2, allow_nan=False)


def to_csv(kind: str, records: Sequence[Trip | Charge]) -> str:
    """CSV with a header row; the charge curve (a list) is left to the JSON form."""
    fields = TRIP_FIELDS if kind == "trips" else CHARGE_FIELDS
    out = _Lines()
    writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    for row in public_rows(records):
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return "".join(out.parts)


class _Lines:
    """What csv writes to, kept in memory (a pure module has no io.StringIO)."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)


def parse_since(text: str) -> float:
    """``2024-05-01`` or ``2024-05-01T08:30`` (local time unless it names a zone) as epoch seconds."""
    value = text.strip()
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        raise ValueError(f"{text!r} is not a date: use YYYY-MM-DD or YYYY-MM-DDTHH:MM (e.g. 2024-05-01)") from None
    if when.tzinfo is None:
        when = when.astimezone()  # the user's own clock
    return when.timestamp()


def parse_limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 1_000_000:
        raise ValueError(f"must be from 1 to 1000000, got {value}")
    return value


def trip_totals(trips: Sequence[Trip]) -> dict[str, Any]:
    km = sum(t.distance_km for t in trips)
    kwh = sum(t.energy_kwh for t in trips)
    minutes = sum(((t.end or t.updated) - t.start) / 60.0 for t in trips)
    return {"count": len(trips), "distance_km": round(km, 2), "energy_kwh": round(kwh, 3),
            "regen_kwh": round(sum(t.regen_kwh for t in trips), 3),
            "wh_per_km": round(kwh * 1000.0 / km, 1) if km >= 0.1 else None, "duration_min": round(minutes, 1)}


def charge_totals(charges: Sequence[Charge]) -> dict[str, Any]:
    minutes = sum(((c.end or c.updated) - c.start) / 60.0 for c in charges)
    return {"count": len(charges), "energy_kwh": round(sum(c.energy_kwh for c in charges), 3),
            "duration_min": round(minutes, 1)}


def local_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M")
