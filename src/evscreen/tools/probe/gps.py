"""``evscreen probe gps``: runs the real GPS source for a few seconds and judges what came in."""

from __future__ import annotations

import asyncio
from typing import Any

from evscreen.drivers.gps import GpsSource, Problem
from evscreen.gps.nmea import Fix
from evscreen.state import VehicleState
from evscreen.tools.probe import ProbeContext, ProbeResult, Rows, run_source

DEFAULT_DURATION_S = 5.0

# The troubleshooting list for GPS receivers on a Raspberry Pi (and USB receivers anywhere).
UART_ADVICE = [
    "enable the UART: `sudo raspi-config` → Interface Options → Serial Port: login shell NO, hardware YES "
    "(or add `enable_uart=1` to /boot/firmware/config.txt) and reboot",
    "on a Pi 3/4/Zero W the good UART (/dev/ttyAMA0) belongs to Bluetooth: add `dtoverlay=disable-bt` "
    "(or `dtoverlay=miniuart-bt`) to /boot/firmware/config.txt, or use /dev/serial0",
    "a USB receiver appears as /dev/ttyUSB0 or /dev/ttyACM0: `ls /dev/ttyUSB* /dev/ttyACM* /dev/serial*`",
]
WIRING_ADVICE = [
    "wiring: receiver TX → Pi RX (GPIO15, pin 10), receiver RX → Pi TX (GPIO14, pin 8), GND → GND, "
    "VCC → 3.3 V or 5 V as the module wants; TX and RX crossed, not straight",
    "nothing else may use the port: remove `console=serial0,115200` from /boot/firmware/cmdline.txt "
    "and stop gpsd (`sudo systemctl stop gpsd gpsd.socket`) while probing the port directly",
]
BAUD_ADVICE = [
    "bytes arrive but are not NMEA: the baud rate is probably wrong; try --baud 9600, 4800, 38400 or 115200 "
    "(most modules ship at 9600, u-blox M9/M10 at 38400)",
    "the receiver may be set to a binary protocol (UBX, SiRF binary): switch it back to NMEA with its vendor tool",
]
CAUSES: dict[str, tuple[str, list[str]]] = {
    "not_found": ("the serial device does not exist", UART_ADVICE),
    "permission": ("no permission to open the serial device", [
        "add yourself to the dialout group: `sudo usermod -aG dialout $USER`, then log out and back in",
    ]),
    "busy": ("another program holds the serial device", WIRING_ADVICE[1:] + [
        "another `evscreen serve` with [gps] enabled reads the same port: stop it while probing"]),
    "not_serial": ("the path is not a serial device", UART_ADVICE),
    "open_failed": ("the serial device cannot be opened", UART_ADVICE),
    "unplugged": ("the receiver disappeared while reading (loose USB cable or power?)", [
        "check the cable and the receiver's power; `dmesg | tail` shows USB disconnects"]),
    "silent": ("nothing at all comes from the receiver", WIRING_ADVICE + UART_ADVICE[:2]),
    "no_nmea": ("bytes arrive but none is a valid NMEA sentence", BAUD_ADVICE + WIRING_ADVICE[:1]),
    "gpsd_unreachable": ("gpsd is not reachable", [
        "is gpsd running? `systemctl status gpsd` (install it with `sudo apt install gpsd`)",
        "check [gps] gpsd_host and gpsd_port (gpsd listens on 127.0.0.1:2947 by default)",
        "or read the receiver directly: --gps-source serial --device /dev/serial0",
    ]),
    "gpsd_lost": ("gpsd closed the connection", ["`journalctl -u gpsd` tells why gpsd stopped"]),
    "gpsd_no_device": ("gpsd runs but has no receiver", [
        'tell gpsd the device: DEVICES="/dev/serial0" in /etc/default/gpsd, then `sudo systemctl restart gpsd`',
        "`gpsmon` or `cgps` show what gpsd sees",
    ] + UART_ADVICE[:1]),
}
FATAL_AT_START = frozenset({"not_found", "permission", "not_serial"})
NO_FIX_ADVICE = [
    "the receiver works but has no fix yet: it needs a clear view of the sky (not indoors, not under a metal roof)",
    "a cold start can take several minutes; a module with a backup battery starts faster next time",
    "check the antenna connector (active antennas need the module's antenna power)",
]


def probe_gps(ctx: ProbeContext) -> ProbeResult:
    return asyncio.run(_probe(ctx, ctx.seconds(DEFAULT_DURATION_S)))


async def _probe(ctx: ProbeContext, duration: float) -> ProbeResult:
    source = GpsSource(ctx.config, VehicleState())
    fixes: list[Fix] = []
    source.listeners.append(fixes.append)
    problems: list[Problem] = []

    def refresh(elapsed: float) -> bool:
        if source.problem is not None and source.problem not in problems:
            problems.append(source.problem)
        ctx.show(_rows(source, fixes, elapsed))
        counters = source.feed.counters()
        received = counters.get("sentences") or counters.get("reports")
        # Waiting longer cannot make a missing or forbidden device appear.
        return source.problem is not None and source.problem.cause in FATAL_AT_START and not received

    elapsed = await run_source(source, duration, refresh)
    return _verdict(source, fixes, problems, elapsed)


def _rows(source: GpsSource, fixes: list[Fix], elapsed: float) -> Rows:
    counters = source.feed.counters()
    rows: Rows = [("source", source.feed.describe()), ("elapsed", f"{elapsed:.1f} s")]
    if source.problem is not None:
        rows.append(("problem", source.problem.message))
    if "sentences" in counters:
        rows.append(("sentences", f"{counters['sentences']} good, {counters['error_total']} damaged, "
                                  f"{sum(counters['ignored'].values())} ignored, {counters['bytes']} bytes"))
    else:
        rows.append(("reports", f"{sum(counters['reports'].values())} ({counters['error_total']} bad)"))
    if fixes:
        rows.append(("fix", _describe_fix(fixes[-1])))
    return rows


def _describe_fix(fix: Fix) -> str:
    if not fix.valid:
        in_view = "" if fix.satellites_in_view is None else f", {fix.satellites_in_view} satellites in view"
        return f"no fix{in_view}"
    where = f"{fix.latitude:.6f}, {fix.longitude:.6f}"
    alt = "" if fix.altitude is None else f", {fix.altitude:g} m"
    sats = "" if fix.satellites is None else f", {fix.satellites} satellites"
    return f"{fix.mode}D fix at {where}{alt}{sats}"


def _verdict(source: GpsSource, fixes: list[Fix], problems: list[Problem], elapsed: float) -> ProbeResult:
    counters = source.feed.counters()
    serial = "sentences" in counters
    good = counters["sentences"] if serial else counters.get("reports", {}).get("TPV", 0)
    last = fixes[-1] if fixes else None
    readings: dict[str, Any] = {"source": source.feed.describe()}
    if last is not None:
        readings.update(last.as_dict())
    if serial:
        readings["sentences_per_s"] = round(good / elapsed, 2) if elapsed > 0 else None
    readings["counters"] = counters
    if good == 0:
        problem = source.problem or (problems[-1] if problems else None)
        if problem is None:
            problem = Problem("silent", "no data in the probe's time")
        if serial and problem.cause == "silent" and counters["bytes"] and counters["error_total"]:
            problem = Problem("no_nmea", problem.message)
        why, hints = CAUSES.get(problem.cause, (problem.message, []))
        return ProbeResult("gps", False, problem.message, readings, why, list(hints), elapsed)
    advice: list[str] = []
    cause: str | None = None
    damaged = counters["error_total"]
    if serial and damaged > 0.1 * (good + damaged):
        cause = f"{damaged} of {good + damaged} sentences were damaged"
        advice.append("many damaged sentences: check GND, keep the wires short, and check the baud rate")
    if last is not None and last.valid:
        summary = _describe_fix(last) + (f"; {good} sentences" if serial else "")
    else:
        summary = "the receiver talks NMEA but has no fix yet" if serial else "gpsd reports no fix yet"
        cause = cause or "no satellite fix yet"
        advice += NO_FIX_ADVICE
    return ProbeResult("gps", True, summary, readings, cause, advice, elapsed)
