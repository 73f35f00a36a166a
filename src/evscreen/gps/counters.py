"""What a GPS stream reader counted (pure): bytes, fixes and each kind of garbage it skipped.

The NMEA reader and the gpsd client each extend :class:`StreamCounters` with what their format
has (sentences by type, gpsd's report classes); the probe shows ``as_dict()`` as it is.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass
class StreamCounters:
    #: The kinds of garbage the format knows, in the order reports list them (each one always shown).
    error_kinds: ClassVar[tuple[str, ...]] = ()

    bytes: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    fixes: int = 0

    @property
    def error_total(self) -> int:
        return sum(self.errors.values())

    def error_report(self) -> dict[str, Any]:
        """``errors`` (every known kind, zero included) and ``error_total``, for ``as_dict``."""
        return {"errors": {kind: self.errors.get(kind, 0) for kind in self.error_kinds},
                "error_total": self.error_total}


def by_name(counts: Counter[str]) -> dict[str, int]:
    """A tally as a plain dict in name order, so reports read the same every time."""
    return dict(sorted(counts.items()))
