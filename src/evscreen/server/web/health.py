"""What ``/healthz`` reports (pure: built from plain values, no sockets).

The status is ``down`` (HTTP 503) when a started source is offline: a monitor should alert, as the
screen is missing real data. ``degraded`` (HTTP 200) covers what a car lives with: a source that is
still starting or has gone quiet (stale), or an MQTT broker out of reach (a tunnel, a garage).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from evscreen.state import SourceState


def mqtt_health(runtime: Any) -> dict[str, Any]:
    """The MQTT bridge's state, as /healthz shows it; the one place that reads the bridge.

    The bridge is optional (``[mqtt] enabled``) and built by ``app.build_runtime``; without it the
    report says so instead of failing.
    """
    bridge = getattr(runtime, "mqtt", None)
    if bridge is None:
        return {"enabled": False, "connected": False, "state": "disabled", "outbox_size": 0}
    report: dict[str, Any] = {"enabled": True}
    health = getattr(bridge, "health", None)
    if callable(health):
        report.update(health())
    report.setdefault("state", getattr(bridge, "connection_state", "unknown"))
    report["connected"] = bool(getattr(bridge, "connected", report["state"] == "connected"))
    report.setdefault("outbox_size", getattr(bridge, "outbox_size", None))
    return report


def health_report(
    *,
    version: str,
    uptime_s: float,
    clients: int,
    sources: dict[str, dict[str, Any]],
    mqtt: dict[str, Any],
    token_required: bool = False,
    commands: dict[str, int] | None = None,
) -> tuple[HTTPStatus, dict[str, Any]]:
    """The HTTP status and JSON body of /healthz."""
    offline = sorted(name for name, info in sources.items() if info.get("state") == SourceState.OFFLINE)
    waiting = sorted(name for name, info in sources.items()
                     if info.get("state") in (SourceState.STALE, SourceState.STARTING))
    problems = [f"source {name} is offline" + _detail(sources[name]) for name in offline]
    problems += [f"source {name} is {sources[name]['state']}" for name in waiting]
    if mqtt.get("enabled") and not mqtt.get("connected"):
        problems.append(f"MQTT broker not connected ({mqtt.get('state')})")
    if offline:
        status, code = "down", HTTPStatus.SERVICE_UNAVAILABLE
    elif problems:
        status, code = "degraded", HTTPStatus.OK
    else:
        status, code = "ok", HTTPStatus.OK
    body = {
        "status": status,
        "version": version,
        "uptime_s": round(uptime_s, 3),
        "clients": clients,
        "token_required": token_required,
        "sources": sources,
        "mqtt": mqtt,
        "commands": dict(commands or {"ok": 0, "failed": 0}),
        "problems": problems,
    }
    return code, body


def _detail(info: dict[str, Any]) -> str:
    detail = info.get("detail")
    return f": {detail}" if detail else ""
