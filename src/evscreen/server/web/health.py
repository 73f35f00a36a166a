"""What ``/healthz`` reports (pure: built from plain values, no sockets).

The status is ``down`` (HTTP 503) when a started source is offline: a monitor should alert, as the
screen is missing real data. ``degraded`` (HTTP 200) covers what a car lives with: a source that is
still starting or has gone quiet (stale), or an MQTT broker out of reach (a tunnel, a garage).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from evscreen.state import SourceState

if TYPE_CHECKING:
    from evscreen.mqtt.bridge import MqttBridge


def mqtt_health(bridge: MqttBridge | None) -> dict[str, Any]:
    """The MQTT bridge's part of /healthz: its own :meth:`~evscreen.mqtt.bridge.MqttBridge.health`,
    or ``disabled`` when there is none (``[mqtt] enabled = false``)."""
    if bridge is None:
        return {"enabled": False, "connected": False, "state": "disabled", "outbox_size": 0}
    return {"enabled": True, **bridge.health()}


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
