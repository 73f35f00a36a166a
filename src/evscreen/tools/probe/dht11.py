"""``evscreen probe dht11``: reads the sensor as often as it allows and judges the success rate."""

from __future__ import annotations

import asyncio
from typing import Any

from evscreen.drivers.dht11 import MIN_SPACING_S, Dht11Source
from evscreen.errors import SourceUnavailable
from evscreen.state import VehicleState
from evscreen.tools.probe import ProbeContext, ProbeResult, Rows

DEFAULT_DURATION_S = 10.0

#: BCM GPIO number -> physical pin on the 40-pin header, to say where to plug the wire.
PHYSICAL_PIN = {
    0: 27, 1: 28, 2: 3, 3: 5, 4: 7, 5: 29, 6: 31, 7: 26, 8: 24, 9: 21, 10: 19, 11: 23, 12: 32, 13: 33,
    14: 8, 15: 10, 16: 36, 17: 11, 18: 12, 19: 35, 20: 38, 21: 40, 22: 15, 23: 16, 24: 18, 25: 22, 26: 37, 27: 13,
}
GROUP_ADVICE = "add yourself to the gpio group: `sudo usermod -aG gpio $USER`, then log out and back in"


def wiring_advice(pin: int) -> list[str]:
    return [
        f"wiring: VCC → 3.3 V (pin 1), GND → GND (pin 6), "
        f"DATA → GPIO{pin} (physical pin {PHYSICAL_PIN.get(pin, '?')}); "
        "--pin takes the BCM GPIO number, not the physical pin number",
        "the DATA line needs a 4.7–10 kΩ pull-up resistor to VCC: a bare 4-pin sensor needs one added, "
        "a 3-pin module board has it already",
    ]


def probe_dht11(ctx: ProbeContext) -> ProbeResult:
    return asyncio.run(_probe(ctx, ctx.seconds(DEFAULT_DURATION_S)))


async def _probe(ctx: ProbeContext, duration: float) -> ProbeResult:
    config = ctx.config
    source = Dht11Source(config, VehicleState())
    loop = asyncio.get_running_loop()
    started = loop.time()
    ctx.show([("sensor", f"{source.model} on GPIO{source.pin}"), ("status", "loading the library…")])
    try:
        await source.open()
    except SourceUnavailable as exc:
        cause, advice = _unavailable_advice(source.unavailable_cause, source.pin)
        # "DHT11 unavailable: why" is the source's log line; the verdict line names the probe already.
        summary = str(exc).removeprefix(f"{source.model} unavailable: ")
        return ProbeResult("dht11", False, summary, {"model": source.model, "pin": source.pin}, cause, advice,
                           loop.time() - started)
    try:
        while True:
            attempt_started = loop.time()
            await source.read_and_publish()
            ctx.show(_rows(source, loop.time() - started))
            next_at = attempt_started + MIN_SPACING_S
            if next_at - started >= duration:
                break
            await asyncio.sleep(max(0.0, next_at - loop.time()))
    finally:
        await source.close()
    return _verdict(source, loop.time() - started)


def _rows(source: Dht11Source, elapsed: float) -> Rows:
    s = source.sampler
    current = s.current
    rows: Rows = [("sensor", f"{source.model} on GPIO{source.pin}"), ("elapsed", f"{elapsed:.1f} s"),
                  ("reads", f"{s.good} good of {s.attempts}")]
    if current is not None:
        rows.append(("reading", f"{current.temperature:g} °C, {current.humidity:g} %"))
    if s.last_error:
        rows.append(("last error", s.last_error))
    return rows


def _unavailable_advice(cause: str | None, pin: int) -> tuple[str, list[str]]:
    run_on_pi = "run the probe on the Raspberry Pi the sensor is wired to"
    table: dict[str, tuple[str, list[str]]] = {
        "not_installed": ("the DHT library is not installed", [
            "on the Raspberry Pi: pip install 'evscreen[pi]' (adafruit-circuitpython-dht and Blinka)", run_on_pi]),
        "unsupported_board": ("this machine is not a board the DHT library supports", [run_on_pi]),
        "import_failed": ("the DHT library cannot run on this machine", [
            run_on_pi, "on the Pi, reinstall it: pip install --force-reinstall 'evscreen[pi]'"]),
        "no_pin": (f"GPIO{pin} does not exist on this board", ["--pin takes the BCM GPIO number (0–27), e.g. --pin 4"]),
        "permission": ("no permission to use the GPIO pins", [GROUP_ADVICE]),
        "gpio_helper": ("the GPIO helper of the library is missing", [
            "install libgpiod: `sudo apt install libgpiod2` (Blinka's PulseIn helper needs it)"]),
    }
    return table.get(cause or "", ("the library could not claim the pin", [
        "another program may use the pin (an older script, a dtoverlay=dht11 line in /boot/firmware/config.txt)",
        GROUP_ADVICE,
    ]))


def _verdict(source: Dht11Source, elapsed: float) -> ProbeResult:
    s = source.sampler
    readings: dict[str, Any] = {"model": source.model, "pin": source.pin, **s.as_dict()}
    rate = f"{s.good} of {s.attempts} reads good"
    if s.good:
        current = s.current
        assert current is not None
        summary = f"{current.temperature:g} °C, {current.humidity:g} % humidity; {rate}"
        if s.success_rate is not None and s.success_rate < 0.5:
            advice = [*wiring_advice(source.pin)[1:], "keep the wire short (under 1 m without a stronger pull-up)"]
            return ProbeResult("dht11", True, summary, readings, "more than half of the reads failed", advice, elapsed)
        return ProbeResult("dht11", True, summary, readings, duration_s=elapsed)
    kind = max(s.failures, key=lambda k: s.failures[k]) if s.failures else "not_found"
    if kind == "not_found":
        cause = "the sensor does not answer"
        advice = wiring_advice(source.pin) + ["check that the sensor gets power (3.3 V between VCC and GND)"]
    elif kind in ("checksum", "incomplete"):
        cause = "the sensor answers but its data arrives garbled"
        advice = wiring_advice(source.pin)[1:] + [
            "keep the wire short and away from motor and ignition cables",
            f"is it really a {source.model}? try --model {'DHT22' if source.model == 'DHT11' else 'DHT11'}",
        ]
    elif kind == "implausible":
        cause = f"the values are impossible for a {source.model} ({s.last_error})"
        advice = [f"is it really a {source.model}? try --model {'DHT22' if source.model == 'DHT11' else 'DHT11'}",
                  "a data line stuck low reads as all zeros: check the pull-up resistor"]
    else:
        cause = f"reading fails: {s.last_error}"
        advice = [GROUP_ADVICE] + wiring_advice(source.pin)
    return ProbeResult("dht11", False, f"no valid reading ({rate}; last error: {s.last_error})", readings, cause,
                       advice, elapsed)
