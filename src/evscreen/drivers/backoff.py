"""How long to wait before trying again: exponential backoff with jitter (pure: no clock, no I/O).

One policy for every retry in evscreen: the sources' supervisor (:mod:`evscreen.drivers.supervisor`)
and the MQTT bridge's reconnections use it, each with its own figures where they must differ.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

#: The jitter's source when the caller brings none (the MQTT bridge and the tests bring their own).
_RNG = random.Random()


@dataclass(frozen=True)
class Backoff:
    """Wait ``first_s`` before the first retry, twice as long before each next one, at most ``max_s``.

    Each wait is jittered ("equal jitter": between half and all of it), so that a fleet of cars
    coming out of the same tunnel, or several sources after one power glitch, do not all retry in
    step. Something that stayed up for ``stable_s`` has recovered: its next failure is a new
    outage, and the waits start again from ``first_s``; one that fails sooner (a flapping
    connection, a crash right after start) keeps backing off.
    """

    first_s: float = 0.5
    max_s: float = 30.0
    stable_s: float = 30.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (1, 2, ...)."""
        cap = min(self.max_s, self.first_s * 2.0 ** min(max(attempt, 1) - 1, 32))
        draw = (rng or _RNG).random()
        return cap / 2 + draw * cap / 2

