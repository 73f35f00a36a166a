"""One lifecycle for every source, as python-can's ``BusABC.recv`` owns the receive loop.

A source implements three steps (:class:`~evscreen.drivers.base.Source`): ``open`` reaches the
hardware, ``read`` produces values until the hardware fails, ``close`` releases it. :func:`supervise`
does the rest, the same way for every source:

- open, then read; when either fails, the source is marked offline (its values kept and shown
  stale; a source drops what must not outlive its hardware in ``on_failure``), closed, and opened
  again after a :class:`~evscreen.drivers.backoff.Backoff` wait with jitter, until it is back;
- an outage is **one** log line (a warning; for a crash, an error with the traceback) and its end
  one info line, however many retries lie between them; the retries themselves log at debug level;
- a crash (an exception other than :class:`~evscreen.errors.SourceUnavailable`: a bug) restarts the
  source like any other failure, so one bad frame cannot take a sensor away until the next boot;
- a :class:`~evscreen.errors.SourceUnavailable` with ``retry=False`` (a library that is not
  installed) ends the loop: waiting cannot help;
- cancelled (shutdown) at any step, it closes the source and re-raises: nothing is left open.

Outages a source notices while it keeps reading (a GPS receiver gone silent on an open port, a
DHT11 failing its reads, bluetoothd gone from a live bus) are reported through the same
:class:`Availability`, so they are logged and shown exactly like the others.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from evscreen.errors import SourceUnavailable

if TYPE_CHECKING:
    from evscreen.drivers.base import Source
    from evscreen.state import VehicleState


class Availability:
    """Whether one source is up: marked in the vehicle state, told in the log once per change.

    The log lines go to the source's own logger (``evscreen.drivers.gps``...), so a journal filter
    on a driver keeps working.
    """

    def __init__(self, name: str, state: VehicleState, log: logging.Logger,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.state = state
        self.log = log
        self._clock = clock
        #: Why the current outage began; None while the source is up (or has not started yet).
        self.outage: str | None = None
        #: Outages since start.
        self.outages = 0
        self._began = 0.0
        self._stale = False  # the outage began as "stale" (values kept and shown), not "offline"
        self._shown: str | None = None  # the detail last marked online with; None: not marked online

    @property
    def in_outage(self) -> bool:
        return self.outage is not None

    def up(self, detail: str = "") -> None:
        """The source delivers (again). ``detail`` qualifies it (e.g. "adapter hci0 is powered off")."""
        if self.outage is not None:
            self.log.info("%s is back after %.1f s %s%s", self.name, self._clock() - self._began,
                          "stale" if self._stale else "offline", f" ({detail})" if detail else "")
            self.outage = None
        if self._shown != detail:
            self.state.set_online(self.name, True, detail)
            self._shown = detail

    def down(self, why: str, *, stale: bool = False, retrying: bool = False,
              error: BaseException | None = None) -> None:
        """The source does not deliver, and ``why``.

        ``stale``: its last values stay on screen, marked stale (a sensor failing its reads);
        otherwise it is offline. ``retrying``: the supervisor opens it again after a backoff.
        ``error``: an unexpected exception (a bug), logged with its traceback.
        """
        if stale:
            self.state.mark_stale(self.name, why)
        else:
            self.state.set_online(self.name, False, why)
        self._shown = None
        if self.outage is not None:  # the same outage, perhaps with another reason now
            self.log.debug("%s still down: %s", self.name, why, exc_info=error)
            return
        self.outage = why
        self.outages += 1
        self._began = self._clock()
        self._stale = stale
        if error is not None:
            self.log.error("%s %s; restarting it with backoff", self.name, why, exc_info=error)
        else:
            self.log.warning("%s %s: %s%s", self.name, "stale" if stale else "offline", why,
                             "; retrying with backoff" if retrying else "")

    def reached(self, message: str, *args: object) -> None:
        """A line saying the hardware was reached ("listening on can0"): info at start; debug during
        an outage, whose recovery line says it then."""
        self.log.log(logging.DEBUG if self.outage is not None else logging.INFO, message, *args)


async def supervise(source: Source, rng: random.Random | None = None) -> None:
    """Run ``source`` until cancelled, it finishes (``read`` returns), or it fails for good."""
    loop = asyncio.get_running_loop()
    availability = source.availability
    backoff = source.backoff
    failures = 0  # in a row, without a stable period between them: sets the backoff
    try:
        while True:
            opened_at: float | None = None
            try:
                await source.open()
                opened_at = loop.time()
                await source.read()
                return
            except Exception as exc:  # CancelledError is no Exception: it goes straight through
                error: Exception = exc
            crash: Exception | None = None
            if isinstance(error, SourceUnavailable):  # the hardware is not there: expected, one line
                why, retry = str(error), error.retry
            else:  # a bug: logged with its traceback, and the source restarted all the same
                why, retry, crash = f"failed: {type(error).__name__}: {error}", True, error
            source.on_failure(error)
            availability.down(why, retrying=retry, error=crash)
            if opened_at is not None:
                await _close(source)
            if not retry:
                return
            stable = opened_at is not None and loop.time() - opened_at >= backoff.stable_s
            failures = 1 if stable else failures + 1
            await asyncio.sleep(backoff.delay(failures, rng))
    finally:
        await _close(source)  # cancelled, finished or given up: the hardware is released


async def _close(source: Source) -> None:
    """``source.close()``, carried to its end even when cancelled meanwhile (the cancellation is
    raised afterwards): a close cut short leaves a port open, and a shutdown handed to a worker
    thread would be dropped unstarted."""
    closing = asyncio.ensure_future(source.close())
    cancelled: asyncio.CancelledError | None = None
    while not closing.done():
        try:
            await asyncio.shield(closing)
        except asyncio.CancelledError as exc:
            cancelled = exc
        except Exception:  # a device that vanished may not close cleanly; it is gone either way
            availability = source.availability
            availability.log.debug("%s: closing failed", availability.name, exc_info=True)
    if cancelled is not None:
        raise cancelled
