"""``evscreen probe``: is this sensor wired right? A live view while it reads, then a verdict.

Probes are registered by name as lazy ``module:function`` strings (like the source registry), so
adding one is one line in :data:`PROBES`. A probe function takes a :class:`ProbeContext` and
returns a :class:`ProbeResult`: whether the hardware works, what it read, and when it does not,
the likely cause and what to check. ``--json`` prints exactly one JSON object on stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from evscreen.errors import UsageError
from evscreen.importing import import_string

if TYPE_CHECKING:
    from evscreen.config import Config
    from evscreen.drivers.base import Source

#: Probe name -> "module:function". ``all`` runs every one, in this order.
PROBES: dict[str, str] = {
    "can": "evscreen.tools.probe.can:probe_can",
    "obd": "evscreen.tools.probe.obd:probe_obd",
    "gps": "evscreen.tools.probe.gps:probe_gps",
    "dht11": "evscreen.tools.probe.dht11:probe_dht11",
    "bluetooth": "evscreen.tools.probe.bluetooth:probe_bluetooth",
    "mqtt": "evscreen.tools.probe.mqtt:probe_mqtt",
}

Rows = list[tuple[str, str]]


@dataclass
class ProbeResult:
    """A probe's verdict. ``cause`` and ``advice`` explain a failure (or warn about a weak success)."""

    probe: str
    ok: bool
    summary: str
    readings: dict[str, Any] = field(default_factory=dict)
    cause: str | None = None
    advice: list[str] = field(default_factory=list)
    duration_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "probe": self.probe, "ok": self.ok, "summary": self.summary, "cause": self.cause,
            "advice": list(self.advice), "readings": self.readings, "duration_s": round(self.duration_s, 3),
        }


@dataclass
class ProbeContext:
    config: Config
    duration: float | None  # None: the probe's own default
    show: Callable[[Rows], None] = lambda rows: None  # the live view; a no-op with --json
    debug: bool = False  # --debug: a probe that crashes raises, with its traceback

    def seconds(self, default: float) -> float:
        return default if self.duration is None else self.duration


ProbeFunction = Callable[[ProbeContext], ProbeResult]


#: Seconds between two refreshes of a probe's live view.
REFRESH_S = 0.25


async def run_source(source: Source, duration: float, on_refresh: Callable[[float], bool | None]) -> float:
    """Run a real source for ``duration`` seconds under its supervisor, as ``serve`` would, calling
    ``on_refresh(elapsed)`` every :data:`REFRESH_S` (it returns True to stop early: waiting longer
    cannot help). The source is closed afterwards (the supervisor's last step). Returns the seconds
    it ran."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    task = asyncio.create_task(source.run())
    try:
        while not _long_enough(source, loop.time() - started, duration):
            await asyncio.sleep(REFRESH_S)
            if task.done() or on_refresh(loop.time() - started):
                break
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return loop.time() - started


#: How much longer than asked a probe waits for the source's first attempt to come to a verdict (a
#: slow or loaded machine): a probe that ends before the source even tried says nothing useful.
FIRST_VERDICT_GRACE_S = 15.0


def _long_enough(source: Source, elapsed: float, duration: float) -> bool:
    if elapsed < duration:
        return False
    return source.availability.decided or elapsed >= duration + FIRST_VERDICT_GRACE_S


def probe_names(target: str) -> list[str]:
    if target == "all":
        return list(PROBES)
    if target not in PROBES:
        raise UsageError(f"no probe named {target!r} (choose from: {', '.join([*PROBES, 'all'])})")
    return [target]


def run_probe(name: str, ctx: ProbeContext) -> ProbeResult:
    """Run one probe; a probe that crashes is reported as not working, with the error."""
    started = time.monotonic()
    try:
        probe: ProbeFunction = import_string(PROBES[name])
        result = probe(ctx)
    except Exception as exc:  # a bug in a probe must still end in a verdict and an exit code
        result = ProbeResult(name, False, f"the probe failed: {type(exc).__name__}: {exc}",
                             cause=f"internal error: {exc}", advice=["run again with --debug and report the traceback"])
        if ctx.debug:
            raise
    if not result.duration_s:
        result.duration_s = time.monotonic() - started
    return result


def check_duration(duration: float | None) -> None:
    if duration is not None and (not math.isfinite(duration) or duration <= 0 or duration > 3600):
        raise UsageError(f"--duration must be a number of seconds from 0 to 3600, got {duration}")


def run_probe_command(target: str, config: Config, duration: float | None, as_json: bool,
                      debug: bool = False) -> int:
    """The ``evscreen probe`` command: 0 when every probe works, 1 otherwise."""
    names = probe_names(target)
    check_duration(duration)
    results = []
    if as_json:
        for name in names:
            results.append(run_probe(name, ProbeContext(config, duration, debug=debug)))
        doc = results[0].as_dict() if target != "all" else {
            "ok": all(r.ok for r in results), "working": sum(r.ok for r in results), "probed": len(results),
            "results": {r.probe: r.as_dict() for r in results}}
        print(json.dumps(doc, default=str), flush=True)
    else:
        from evscreen.tools.probe.view import show_probe

        for name in names:
            def run(show: Callable[[Rows], None], name: str = name) -> ProbeResult:
                return run_probe(name, ProbeContext(config, duration, show, debug))

            results.append(show_probe(name, run))
        if len(results) > 1:
            from evscreen.tools.probe.view import show_tally

            show_tally(results)
    return 0 if all(r.ok for r in results) else 1
