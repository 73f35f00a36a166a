"""Commands from the cloud: the WebSocket protocol's own parser and dispatcher, behind an allowlist."""

from __future__ import annotations

import logging
from typing import Any

from evscreen.dispatch import Dispatcher
from evscreen.protocol import ErrorCode, Rejected, error_response, parse_command

log = logging.getLogger(__name__)


async def answer_command(
    payload: bytes,
    dispatcher: Dispatcher,
    allowed: frozenset[str] | None,
    max_size: int,
) -> dict[str, Any]:
    """Check and carry out one command payload; always returns exactly one response.

    Anything rejected here (too big, not UTF-8, not a valid command, not allowed) changes nothing.
    """
    if len(payload) > max_size:
        return error_response(
            None, ErrorCode.INVALID_MESSAGE,
            f"command is {len(payload)} bytes; at most {max_size} are accepted (mqtt.max_command_size)",
        )
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return error_response(None, ErrorCode.INVALID_MESSAGE, "command is not UTF-8 text; send JSON")
    try:
        command = parse_command(text)
    except Rejected as exc:
        return exc.response()
    if allowed is not None and command.action not in allowed:
        return error_response(command.action, ErrorCode.UNAUTHORIZED,
                              f"{command.action} is not allowed over MQTT (see mqtt.allowed_actions)",
                              command.request_id)
    return await dispatcher.execute(command)
