"""``evscreen probe bluetooth``: watch BlueZ for a few seconds and judge the adapter and phone."""

from __future__ import annotations

import asyncio
from typing import Any

from evscreen.tools.probe import ProbeContext, ProbeResult, Rows

DEFAULT_DURATION_S = 3.0


def probe_bluetooth(ctx: ProbeContext) -> ProbeResult:
    from evscreen.drivers.bluetooth.source import probe_bluetooth as watch_bluez

    report = asyncio.run(watch_bluez(ctx.config, ctx.seconds(DEFAULT_DURATION_S),
                                     on_update=lambda r: ctx.show(_rows(r))))
    return _verdict(report)


def _rows(report: dict[str, Any]) -> Rows:
    rows: Rows = [("bus", str(report.get("bus"))), ("adapter", str(report.get("adapter")))]
    if report.get("adapter_present"):
        rows.append(("adapter address", str(report.get("adapter_address"))))
        rows.append(("powered", "yes" if report.get("powered") else "no"))
    device = report.get("connected_device")
    rows.append(("connected device", f"{device['name']} ({device['address']})" if device else "none"))
    track = report.get("track")
    if track:
        rows.append(("track", f"{track.get('artist') or '?'} - {track.get('title') or '?'} ({track.get('status')})"))
    if report.get("problem"):
        rows.append(("problem", str(report["problem"])))
    return rows


def _verdict(report: dict[str, Any]) -> ProbeResult:
    device = report.get("connected_device")
    if report["ok"]:
        summary = f"adapter {report['adapter']} is powered" + (
            f"; {device['name']} is connected" if device else "; no phone connected")
        return ProbeResult("bluetooth", True, summary, readings=report, advice=list(report.get("advice", [])))
    problem = str(report.get("problem") or ("the adapter is powered off" if report.get("adapter_present") else
                                            "no Bluetooth adapter"))
    # The source's message starts with "Bluetooth unavailable: " (its log line needs the name);
    # after "✘ bluetooth does not work:" that would say it twice.
    summary = problem.removeprefix("Bluetooth unavailable: ")
    return ProbeResult("bluetooth", False, summary, readings=report, cause=problem,
                       advice=list(report.get("advice", [])))
