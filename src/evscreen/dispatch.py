"""Command -> effect: settings, media, Bluetooth. Shared by the WebSocket server and MQTT."""

from __future__ import annotations

import logging
from typing import Any

from evscreen.drivers.base import BluetoothControl, MediaControl
from evscreen.errors import CommandFailed
from evscreen.protocol import (
    ACTIONS,
    SETTING_OF_ACTION,
    Command,
    ErrorCode,
    Rejected,
    error_response,
    parse_command,
    success_response,
)
from evscreen.settings import SettingsStore

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(
        self,
        settings: SettingsStore,
        media: MediaControl | None = None,
        bluetooth: BluetoothControl | None = None,
    ) -> None:
        self.settings = settings
        self.media = media
        self.bluetooth = bluetooth
        #: Valid commands since start, carried out ("ok") or not ("failed": no phone, an internal
        #: error...), from every client; /healthz shows them. Malformed ones are the client's
        #: business and not counted.
        self.counts = {"ok": 0, "failed": 0}

    async def handle_text(self, message: str | bytes) -> dict[str, Any]:
        """Parse, validate and carry out one client message; always returns exactly one response."""
        try:
            command = parse_command(message)
        except Rejected as exc:
            return exc.response()
        return await self.execute(command)

    async def execute(self, command: Command) -> dict[str, Any]:
        action = command.action
        try:
            await self._carry_out(command)
        except CommandFailed as exc:
            self.counts["failed"] += 1
            return error_response(action, exc.code, str(exc), command.request_id)
        except ValueError as exc:
            self.counts["failed"] += 1
            return error_response(action, ErrorCode.INVALID_VALUE, str(exc), command.request_id)
        except Exception:
            self.counts["failed"] += 1
            log.exception("command %s failed", action)
            return error_response(action, ErrorCode.INTERNAL_ERROR, f"{action} failed inside the server; see its log",
                                  command.request_id)
        self.counts["ok"] += 1
        return success_response(action, command.request_id)

    async def _carry_out(self, command: Command) -> None:
        action, value = command.action, command.value
        kind = ACTIONS[action].kind
        if kind == "setting":
            self.settings.set(SETTING_OF_ACTION[action], value)
        elif kind == "media":
            if self.media is None:
                raise CommandFailed(ErrorCode.UNAVAILABLE.value, "no media player is connected")
            if action == "set_volume":
                await self.media.set_volume(value)
                self.settings.set("volume", value)
            else:
                await getattr(self.media, {"play_music": "play", "pause_music": "pause"}.get(action, action))()
        elif kind == "bluetooth":
            if self.bluetooth is None:
                raise CommandFailed(ErrorCode.UNAVAILABLE.value, "Bluetooth is not available on this machine")
            await self.bluetooth.connect(value)
        else:  # pragma: no cover - ACTIONS only declares the kinds above
            raise AssertionError(kind)
        log.info("command %s%s", action, "" if value is None else f" {value!r}")
