"""``evscreen probe mqtt``: connect with the configured settings, publish a test message on a topic of
our own, receive it back, and report the round trip (or why it failed and what to check)."""

from __future__ import annotations

import asyncio
import secrets
import statistics
import time
from typing import Any

from evscreen.address import host_port
from evscreen.aio import within
from evscreen.config import MqttConfig
from evscreen.errors import ConfigError
from evscreen.mqtt.connection import ConnectFailed, Message, MqttConnection, NotConnected
from evscreen.mqtt.options import BridgeOptions
from evscreen.tools.probe import ProbeContext, ProbeResult

#: Pause between round trips when probing for longer than one.
ROUND_TRIP_PAUSE = 0.2

DEFAULT_DURATION_S = 2.0


async def round_trips(config: MqttConfig | Any, duration: float) -> dict[str, Any]:
    """Probe the broker of ``config`` (the ``[mqtt]`` section, or the whole config) for about
    ``duration`` seconds, at least one round trip; each wait for the broker (connecting, a test
    message coming back) is bounded by ``mqtt.connect_timeout``.

    Returns ``{"ok": True, "summary", "broker", "protocol", "tls", "client_id", "topic", "connect_ms",
    "round_trips", "rtt_ms": {"min", "median", "max"}, "broker_properties"}`` or
    ``{"ok": False, "summary", "broker", ..., "error", "advice"}``.
    """
    result = await _probe(config, duration)
    if result["ok"]:
        rtt = result["rtt_ms"]
        result["summary"] = (f"{result['broker']}, round trip {rtt['median']:g} ms "
                             f"(median of {result['round_trips']}), connected in {result['connect_ms']:g} ms")
    else:
        # The errors name the broker already ("connection refused by mqtt://...") or not at all.
        error = str(result["error"])
        result["summary"] = error if result["broker"] in error else f"{result['broker']}: {error}"
    return result


async def _probe(config: MqttConfig | Any, duration: float) -> dict[str, Any]:
    config = _mqtt_section(config)
    try:
        options = BridgeOptions.from_config(config)
    except ConfigError as exc:
        return {"ok": False, "broker": host_port(config.broker, config.port), "error": str(exc),
                "advice": "fix the [mqtt] configuration"}
    token = secrets.token_hex(4)
    settings = options.connection_settings(client_id=f"{options.client_id}-probe-{token}")
    topic = options.topics.probe(token)
    result: dict[str, Any] = {
        "ok": False, "broker": settings.describe(), "protocol": settings.protocol, "tls": settings.tls,
        "client_id": settings.client_id, "topic": topic,
    }
    echoes: asyncio.Queue[Message] = asyncio.Queue()
    conn = MqttConnection(settings, on_message=echoes.put_nowait)
    started = time.monotonic()
    try:
        connack = await conn.connect()
    except ConnectFailed as exc:
        result.update(error=exc.reason, advice=exc.advice)
        return result
    result["connect_ms"] = round((time.monotonic() - started) * 1000, 1)
    result["broker_properties"] = connack.properties
    rtts: list[float] = []
    try:
        await conn.subscribe(topic, 1)
        deadline = time.monotonic() + max(0.0, duration)
        while True:
            body = f"evscreen probe {len(rtts)} {secrets.token_hex(4)}".encode()
            sent = time.monotonic()
            conn.publish(topic, body, 1)
            if not await _await_echo(echoes, body, settings.connect_timeout):
                result.update(
                    error=f"published a test message on {topic} but did not receive it back within "
                          f"{settings.connect_timeout:g} s",
                    advice=f"the broker's access rules may forbid this client to subscribe or publish under "
                           f"{options.topics.prefix}/#",
                )
                return result
            rtts.append((time.monotonic() - sent) * 1000)
            if time.monotonic() + ROUND_TRIP_PAUSE >= deadline:
                break
            await asyncio.sleep(ROUND_TRIP_PAUSE)
    except (ConnectFailed, NotConnected) as exc:
        result.update(error=f"connection lost during the probe: {exc}", advice="check the broker's log")
        return result
    finally:
        if rtts:
            result["round_trips"] = len(rtts)
            result["rtt_ms"] = {"min": round(min(rtts), 2), "median": round(statistics.median(rtts), 2),
                                "max": round(max(rtts), 2)}
        await conn.disconnect()
    result["ok"] = True
    return result


def _mqtt_section(config: Any) -> MqttConfig:
    """Accept ``[mqtt]`` itself, the whole Config, or a LoadedConfig."""
    config = getattr(config, "config", config)
    return config.mqtt if hasattr(config, "mqtt") else config


async def _await_echo(echoes: asyncio.Queue[Message], body: bytes, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        try:
            message = await within(echoes.get(), remaining)
        except asyncio.TimeoutError:
            return False
        if message.payload == body:
            return True


def probe_mqtt(ctx: ProbeContext) -> ProbeResult:
    ctx.show([("broker", host_port(ctx.config.mqtt.broker, ctx.config.mqtt.port)), ("state", "connecting...")])
    report = asyncio.run(round_trips(ctx.config, ctx.seconds(DEFAULT_DURATION_S)))
    advice = report.get("advice")
    return ProbeResult("mqtt", bool(report["ok"]), report["summary"], readings=report,
                       cause=None if report["ok"] else report.get("error"),
                       advice=[advice] if isinstance(advice, str) else list(advice or []))
