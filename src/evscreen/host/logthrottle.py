"""Log a repeating event once per interval, with a count of what was held back (pure)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class ThrottledLog:
    """``warning("key", msg, *args)`` logs at most once per ``interval`` seconds for each key; the
    next line that gets through says how many were suppressed in between."""

    def __init__(self, logger: logging.Logger, interval: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.interval = interval
        self.clock = clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def log(self, level: int, key: str, msg: str, *args: object) -> bool:
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._held[key] = self._held.get(key, 0) + 1
            return False
        held = self._held.pop(key, 0)
        if held and last is not None:  # held only counts while a last time is known
            msg += f" ({held} more like this in the last {now - last:.0f} s)"
        self._last[key] = now
        self.logger.log(level, msg, *args)
        return True

    def warning(self, key: str, msg: str, *args: object) -> bool:
        return self.log(logging.WARNING, key, msg, *args)
