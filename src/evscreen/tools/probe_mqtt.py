"""``evscreen probe mqtt``: connect to the broker and time round trips of a test message."""

from __future__ import annotations

import asyncio

from evscreen.tools.probe import ProbeContext, ProbeResult

DEFAULT_DURATION_S = 2.0


def probe_mqtt(ctx: ProbeContext) -> ProbeResult:
    from evscreen.mqtt import probe_mqtt as round_trips

    ctx.show([("broker", f"{ctx.config.mqtt.broker}:{ctx.config.mqtt.port}"), ("state", "connecting...")])
    report = asyncio.run(round_trips(ctx.config, ctx.seconds(DEFAULT_DURATION_S)))
    advice = report.get("advice")
    return ProbeResult("mqtt", bool(report["ok"]), report["summary"], readings=report,
                       cause=None if report["ok"] else report.get("error"),
                       advice=[advice] if isinstance(advice, str) else list(advice or []))
