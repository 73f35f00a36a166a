"""Standard drive cycles: target speed against time, read from the package's data files (pure).

Each file in ``sim/cycles/`` is one official schedule, second by second, in the unit its publisher
uses, with its source cited in the header comment. :class:`DriveCycle` interpolates it linearly,
as a dynamometer driver's trace does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from importlib import resources

#: Speed units the data files may use, in m/s (1 mph = 0.44704 m/s exactly, NIST SP 811).
UNITS_MS: dict[str, float] = {"speed_mph": 0.44704, "speed_kmh": 1 / 3.6, "speed_ms": 1.0}

#: The cycles shipped with the package (files ``sim/cycles/<name>.csv``).
CYCLE_NAMES: tuple[str, ...] = ("udds", "hwfet")


@dataclass(frozen=True)
class DriveCycle:
    """A speed trace sampled once per second from t = 0."""

    name: str
    speeds_ms: tuple[float, ...]

    @property
    def duration_s(self) -> float:
        return float(len(self.speeds_ms) - 1)

    def speed_at(self, t: float) -> float:
        """Target speed in m/s at ``t`` seconds into the cycle (clamped to the cycle)."""
        speeds = self.speeds_ms
        if t <= 0.0:
            return speeds[0]
        if t >= self.duration_s:
            return speeds[-1]
        i = int(t)
        frac = t - i
        return speeds[i] + (speeds[i + 1] - speeds[i]) * frac

    def accel_at(self, t: float) -> float:
        """Slope of the trace (m/s²) in the second that contains ``t``; 0 outside the cycle."""
        if t < 0.0 or t >= self.duration_s:
            return 0.0
        i = int(t)
        return self.speeds_ms[i + 1] - self.speeds_ms[i]

    def distance_m(self) -> float:
        """Distance of the trace (trapezoidal, as the EPA computes it)."""
        s = self.speeds_ms
        return sum((s[i] + s[i + 1]) / 2.0 for i in range(len(s) - 1))

    def max_accel(self) -> float:
        s = self.speeds_ms
        return max(s[i + 1] - s[i] for i in range(len(s) - 1))


def parse_cycle(name: str, text: str) -> DriveCycle:
    """Parse a cycle file: ``#`` comments, a ``time_s,<unit>`` header, then one row per second.

    Raises ValueError naming the line for anything else: a cycle with a gap, a negative or
    non-finite speed, or an unknown unit would silently corrupt every figure computed from it.
    """
    rows = [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1)]
    rows = [(n, line) for n, line in rows if line and not line.startswith("#")]
    if not rows:
        raise ValueError(f"{name}: no header and no data")
    header_line, header = rows[0]
    columns = [c.strip() for c in header.split(",")]
    if len(columns) != 2 or columns[0] != "time_s" or columns[1] not in UNITS_MS:
        raise ValueError(
            f"{name}: line {header_line}: header must be time_s,<{'|'.join(UNITS_MS)}>, got {header!r}"
        )
    factor = UNITS_MS[columns[1]]
    speeds: list[float] = []
    for n, line in rows[1:]:
        fields = line.split(",")
        if len(fields) != 2:
            raise ValueError(f"{name}: line {n}: expected 2 fields, got {len(fields)}: {line[:60]!r}")
        try:
            t = float(fields[0])
            v = float(fields[1])
        except ValueError:
            raise ValueError(f"{name}: line {n}: not numbers: {line[:60]!r}") from None
        if t != len(speeds):
            raise ValueError(f"{name}: line {n}: expected time {len(speeds)}, got {fields[0].strip()}")
        if not math.isfinite(v) or v < 0 or v * factor > 100.0:
            raise ValueError(f"{name}: line {n}: speed must be 0-{100 / factor:.0f} {columns[1][6:]}, got {fields[1]}")
        speeds.append(v * factor)
    if len(speeds) < 2:
        raise ValueError(f"{name}: a cycle needs at least two samples, got {len(speeds)}")
    return DriveCycle(name, tuple(speeds))


@cache
def load_cycle(name: str) -> DriveCycle:
    """One of :data:`CYCLE_NAMES`, read from the package data."""
    if name not in CYCLE_NAMES:
        raise ValueError(f"no drive cycle named {name!r} (known: {', '.join(CYCLE_NAMES)})")
    text = resources.files("evscreen.sim").joinpath("cycles").joinpath(f"{name}.csv").read_text(encoding="utf-8")
    return parse_cycle(name, text)
