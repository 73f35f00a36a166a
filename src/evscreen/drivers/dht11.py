"""The DHT11/DHT22 temperature and humidity sensor, through adafruit-circuitpython-dht.

The library (and Blinka under it) is imported only when this source is enabled: off a Raspberry
Pi its import fails in several ways (ImportError, NotImplementedError "board not supported",
AttributeError for a pin the board lacks, RuntimeError) and prints to stdout while doing so.
Each failure becomes one line, ``DHT11 unavailable: why``; whatever the library prints is captured
(Python- and file-descriptor-level) and logged at debug level, so it never mixes into ``--json``.

The sensor fails often by design ("Checksum did not validate", "A full buffer was not returned",
"DHT sensor not found, check wiring"), and the library answers a second read within 2 s with
its cached values, so reads are at least :data:`MIN_SPACING_S` apart; a failed read is retried
after that spacing, values outside the model's range are rejected, the published value is the
median of the last good readings, and repeated failures mark the source stale (offline if it
never read anything). ``close`` releases the pin (``exit()``).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import statistics
import sys
import tempfile
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from evscreen.aio import WorkerThread
from evscreen.drivers.base import Source
from evscreen.errors import SourceUnavailable

if TYPE_CHECKING:
    from evscreen.config import Config
    from evscreen.state import VehicleState

log = logging.getLogger(__name__)

#: The library re-measures only when more than 2 s passed since its last measurement (by its own
#: monotonic clock); a read sooner returns the previous values, so we never ask sooner than this.
MIN_SPACING_S = 2.1
#: Retry an open that failed for a reason that may pass (pin busy, permission fixed) this often.
REOPEN_MAX_S = 60.0

#: Plausible (temperature °C, relative humidity %) per model: the datasheet ranges.
RANGES: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "DHT11": ((-20.0, 60.0), (5.0, 95.0)),
    "DHT22": ((-40.0, 80.0), (0.0, 100.0)),
}

FAILURE_KINDS = ("checksum", "incomplete", "not_found", "implausible", "error")


@dataclass(frozen=True)
class Reading:
    temperature: float
    humidity: float


def classify_failure(message: str) -> str:
    text = message.lower()
    if "checksum" in text:
        return "checksum"
    if "full buffer" in text:
        return "incomplete"
    if "not found" in text or "check wiring" in text:
        return "not_found"
    if "unplausible" in text or "implausible" in text:
        return "implausible"
    return "error"


class DhtSampler:
    """Decides what a stream of reads and failures means (pure: no clock, no hardware)."""

    def __init__(self, model: str = "DHT11", smoothing: int = 3, stale_after_failures: int = 5) -> None:
        self.model = model
        (self.t_range, self.h_range) = RANGES[model]
        self.stale_after_failures = stale_after_failures
        self._history: deque[Reading] = deque(maxlen=max(1, smoothing))
        self.attempts = 0
        self.good = 0
        self.failures: Counter[str] = Counter()
        self.consecutive_failures = 0
        self.last_error: str | None = None
        self.last_raw: Reading | None = None

    def add(self, temperature: float, humidity: float) -> Reading | None:
        """A read that returned values; the smoothed reading, or None if the values are implausible."""
        self.attempts += 1
        raw = Reading(float(temperature), float(humidity))
        self.last_raw = raw
        (t_lo, t_hi), (h_lo, h_hi) = self.t_range, self.h_range
        if raw.temperature == 0 and raw.humidity == 0:
            # An all-zero frame passes the checksum (0+0+0+0 == 0) but is a line held low.
            self._fail("implausible", "all-zero frame (data line stuck low?)")
            return None
        if not (t_lo <= raw.temperature <= t_hi and h_lo <= raw.humidity <= h_hi):
            self._fail("implausible", f"implausible for a {self.model}: {raw.temperature:g} °C, {raw.humidity:g} %")
            return None
        self.good += 1
        self.consecutive_failures = 0
        self._history.append(raw)
        return self.current

    def fail(self, message: str) -> None:
        """A read that raised (the library's RuntimeError, or anything else)."""
        self.attempts += 1
        self._fail(classify_failure(message), message)

    def _fail(self, kind: str, message: str) -> None:
        self.failures[kind] += 1
        self.consecutive_failures += 1
        self.last_error = message

    @property
    def current(self) -> Reading | None:
        """The median of the last good readings: one bad-but-plausible spike does not show."""
        if not self._history:
            return None
        return Reading(
            round(statistics.median(r.temperature for r in self._history), 1),
            round(statistics.median(r.humidity for r in self._history), 1),
        )

    @property
    def stale(self) -> bool:
        return self.consecutive_failures >= self.stale_after_failures

    @property
    def success_rate(self) -> float | None:
        return None if not self.attempts else self.good / self.attempts

    def as_dict(self) -> dict[str, Any]:
        current = self.current
        return {
            "attempts": self.attempts,
            "good": self.good,
            "success_rate": None if self.success_rate is None else round(self.success_rate, 3),
            "failures": {kind: self.failures.get(kind, 0) for kind in FAILURE_KINDS},
            "consecutive_failures": self.consecutive_failures,
            "last_error": self.last_error,
            "temperature": None if current is None else current.temperature,
            "humidity": None if current is None else current.humidity,
        }


# --- the library, at arm's length --------------------------------------------------------------


@contextlib.contextmanager
def captured_stdout() -> Iterator[io.StringIO]:
    """Catch everything written to stdout inside, by Python code and by C code alike."""
    text = io.StringIO()
    sys.stdout.flush()
    saved_fd = None
    sink = None
    try:
        sink = tempfile.TemporaryFile()  # noqa: SIM115 - fd 1 points at it until the finally below restores and closes
        saved_fd = os.dup(1)
        os.dup2(sink.fileno(), 1)
    except (OSError, ValueError):  # no fd 1 (a daemon) or no temp dir: Python-level capture only
        if sink is not None:
            sink.close()
        sink, saved_fd = None, None
    try:
        with contextlib.redirect_stdout(text):
            yield text
    finally:
        if saved_fd is not None and sink is not None:
            os.dup2(saved_fd, 1)
            os.close(saved_fd)
            sink.seek(0)
            text.write(sink.read().decode("utf-8", "replace"))
            sink.close()
        if text.getvalue().strip():
            log.debug("output of the DHT library: %s", text.getvalue().strip())


def _unavailable(model: str, why: str, cause: str) -> SourceUnavailable:
    """``cause`` says why the library cannot be used, for the probe's advice: not_installed,
    unsupported_board, import_failed, no_pin, permission, gpio_helper or pin_setup."""
    first = " ".join(why.strip().split())[:300] or "unknown error"
    return SourceUnavailable(f"{model} unavailable: {first}", cause)


def open_sensor(model: str, pin: int) -> Any:
    """Import the library and create the sensor object, or raise SourceUnavailable saying why."""
    with captured_stdout():
        try:
            import adafruit_dht
            import board
        except ImportError as exc:
            raise _unavailable(model, f"{exc.msg if hasattr(exc, 'msg') else exc} — install it on the Raspberry Pi "
                                      "with pip install 'evscreen[pi]'", "not_installed") from None
        except NotImplementedError as exc:
            raise _unavailable(model, f"this board is not supported by Blinka ({exc})", "unsupported_board") from None
        except Exception as exc:  # RuntimeError and whatever else Blinka's board detection raises
            raise _unavailable(model, f"{type(exc).__name__}: {exc}", "import_failed") from None
        try:
            pin_obj = getattr(board, f"D{pin}")
        except AttributeError:
            raise _unavailable(model, f"this board has no GPIO{pin} (board.D{pin})", "no_pin") from None
        try:
            return getattr(adafruit_dht, model)(pin_obj)
        except PermissionError as exc:
            raise _unavailable(model, f"permission denied on GPIO{pin} ({exc}); add the user to the gpio group",
                               "permission") from None
        except Exception as exc:
            # Blinka's PulseIn runs a helper program (libgpiod_pulsein) and times out without it.
            cause = "gpio_helper" if "pulsein" in str(exc).lower() else "pin_setup"
            raise _unavailable(model, f"cannot use GPIO{pin}: {type(exc).__name__}: {exc}", cause) from None


def read_once(sensor: Any) -> tuple[float, float]:
    """One measurement. The library raises RuntimeError for its everyday failures."""
    temperature = sensor.temperature
    humidity = sensor.humidity
    if temperature is None or humidity is None:
        raise RuntimeError("no reading returned")
    return float(temperature), float(humidity)


def release(sensor: Any) -> None:
    with captured_stdout():  # exit() prints "De-initializing self.pulse_in"
        try:
            sensor.exit()
        except Exception:
            log.debug("releasing the DHT pin failed", exc_info=True)


class Dht11Source(Source):
    """Cabin (or ambient) temperature and humidity from a DHT11/DHT22 on a GPIO pin."""

    name = "dht11"

    def __init__(self, config: Config, state: VehicleState) -> None:
        cfg = config.dht11
        self.interval = max(cfg.interval, MIN_SPACING_S)
        # Repeated failures mark the value stale explicitly; this age limit only catches a read
        # loop that stopped altogether.
        self.stale_after = self.interval + MIN_SPACING_S * cfg.stale_after_failures + 1.0
        super().__init__(config, state)
        self.model = cfg.model
        self.pin = cfg.pin
        self.field = cfg.temperature_field
        self.sampler = DhtSampler(cfg.model, cfg.smoothing, cfg.stale_after_failures)
        self.unavailable: str | None = None
        self.unavailable_cause: str | None = None
        self._sensor: Any = None
        self._worker = WorkerThread("dht11")

    def describe(self) -> str:
        return f"{self.name}: {self.model} on GPIO{self.pin} every {self.interval:g} s (real)"

    async def open(self) -> None:
        """Import the library and claim the pin, or raise SourceUnavailable (and report it)."""
        try:
            self._sensor = await self._worker.run(open_sensor, self.model, self.pin)
        except SourceUnavailable as exc:
            if str(exc) != self.unavailable:
                log.error("%s", exc)
            self.unavailable = str(exc)
            self.unavailable_cause = exc.cause or "pin_setup"
            self.state.set_online(self.name, False, str(exc))
            raise
        self.unavailable = None
        self.unavailable_cause = None

    async def run(self) -> None:
        delay = MIN_SPACING_S
        while self._sensor is None:
            try:
                await self.open()
            except SourceUnavailable:
                # A missing library will not appear by itself, but a busy pin or a fixed group
                # membership can: try again now and then.
                await asyncio.sleep(delay)
                delay = min(delay * 2, REOPEN_MAX_S)
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await self.read_and_publish()
            wait = MIN_SPACING_S if self.sampler.consecutive_failures else self.interval
            await asyncio.sleep(max(0.0, started + wait - loop.time()))

    async def read_and_publish(self) -> None:
        was_stale = self.sampler.stale
        try:
            temperature, humidity = await self._worker.run(read_once, self._sensor)
        except Exception as exc:  # RuntimeError by design; anything else is a failed read too
            self.sampler.fail(str(exc) or type(exc).__name__)
            reading = None
        else:
            reading = self.sampler.add(temperature, humidity)
        status = self.state.source_status(self.name)
        if reading is not None:
            self.state.update(self.name, {self.field: reading.temperature, "humidity": reading.humidity})
            if was_stale:
                log.info("%s: reading again", self.model)
                status.stale_after = self.stale_after
                self.state.set_online(self.name, True, "")
        elif self.sampler.stale:
            detail = f"{self.sampler.consecutive_failures} failed reads in a row (last: {self.sampler.last_error})"
            if not was_stale:
                log.warning("%s: %s", self.model, detail)
            # With a value already shown, it stays and is marked stale now (whatever its age);
            # with none ever read, the source is offline.
            status.stale_after = 0.0
            self.state.set_online(self.name, self.sampler.good > 0, detail)

    async def close(self) -> None:
        sensor, self._sensor = self._sensor, None
        if sensor is not None:
            await self._worker.run(release, sensor)
        self._worker.shutdown()
