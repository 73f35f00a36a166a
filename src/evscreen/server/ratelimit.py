"""Per-connection request limits: a token bucket, and strikes for clients that keep flooding (pure)."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    __slots__ = ("burst", "clock", "rate", "tokens", "updated")

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.clock = clock
        self.updated = clock()

    def allow(self) -> bool:
        """Take one token if there is one. A rate of 0 means unlimited."""
        if self.rate <= 0:
            return True
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class FloodGuard:
    """A connection's requests: allowed by a token bucket; once refused more than ``2 × burst``
    times within ``window`` seconds, the client is flooding and should be disconnected."""

    ALLOW, REFUSE, DISCONNECT = "allow", "refuse", "disconnect"

    def __init__(self, rate: float, burst: int, window: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.bucket = TokenBucket(rate, burst, clock)
        self.limit = 2 * burst
        self.window = window
        self.clock = clock
        self.strikes = 0
        self.window_start = clock()

    def check(self) -> str:
        if self.bucket.allow():
            return self.ALLOW
        now = self.clock()
        if now - self.window_start > self.window:
            self.strikes, self.window_start = 0, now
        self.strikes += 1
        return self.DISCONNECT if self.strikes > self.limit else self.REFUSE
