"""The command protocol, sans I/O: text in, a validated :class:`Command` or an error response out.

Every action of ``docs/protocol.md`` is declared once in :data:`ACTIONS` with the domain of its
value. Wrong types are errors, never coerced: ``"80"`` is not an integer and ``true`` is not a
number.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any


class ErrorCode(str, Enum):
    INVALID_JSON = "invalid_json"
    INVALID_MESSAGE = "invalid_message"
    UNKNOWN_ACTION = "unknown_action"
    INVALID_VALUE = "invalid_value"
    UNAUTHORIZED = "unauthorized"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    INTERNAL_ERROR = "internal_error"


REGEN_LEVELS = ("off", "low", "standard", "high")
DRIVE_MODES = ("eco", "normal", "sport")
TWIN_MODES = ("2d", "3d")
MAC_ADDRESS = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}")
MAX_REQUEST_ID_LENGTH = 128


class Rejected(Exception):
    """A message that cannot be carried out; becomes an error response."""

    def __init__(self, code: ErrorCode, message: str, action: str | None = None, request_id: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.action = action
        self.request_id = request_id

    def response(self) -> dict[str, Any]:
        return error_response(self.action, self.code, str(self), self.request_id)


@dataclass(frozen=True)
class Command:
    action: str
    value: Any = None
    request_id: str | int | None = None


# --- value domains -----------------------------------------------------------------------------


def _integer(lo: int, hi: int, what: str) -> Callable[[Any], int]:
    def check(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ValueError(f"{what} must be an integer from {lo} to {hi}, got {_show(v)}")
        return v

    return check


def _one_of(options: tuple[str, ...], what: str) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        if not isinstance(v, str) or v not in options:
            raise ValueError(f"{what} must be one of {', '.join(repr(o) for o in options)}, got {_show(v)}")
        return v

    return check


def _boolean(what: str) -> Callable[[Any], bool]:
    def check(v: Any) -> bool:
        if not isinstance(v, bool):
            raise ValueError(f"{what} must be true or false, got {_show(v)}")
        return v

    return check


def _volume(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0.0 <= v <= 1.0:
        raise ValueError(f"volume must be a number from 0.0 to 1.0, got {_show(v)}")
    return float(v)


def _mac(v: Any) -> str:
    if not isinstance(v, str) or not MAC_ADDRESS.fullmatch(v):
        raise ValueError(f"device_address must be a MAC address like 00:1A:7D:DA:71:13, got {_show(v)}")
    return v.upper()


def _typed(text: str) -> Any:
    """A value typed on a command line as the JSON value it spells: "true" -> true, "0.7" -> 0.7."""
    lowered = text.strip().lower()
    if lowered in ("true", "on", "yes"):
        return True
    if lowered in ("false", "off", "no"):
        return False
    if MAC_ADDRESS.fullmatch(text.strip()):
        return text.strip()
    for convert in (int, float):
        try:
            value = convert(text)
        except ValueError:
            continue
        if convert is float and not math.isfinite(value):
            break
        return value
    return text


def _word(text: str) -> str:
    """A name from a list ("eco", "off"): kept as typed, so that "off" stays a name, not false."""
    return text.strip()


def _theme(text: str) -> Any:
    return {"light": True, "dark": False}.get(text.strip().lower(), _typed(text))


@dataclass(frozen=True)
class ActionSpec:
    """An action and where its value lives: ``keys`` are tried in order; None means no value.

    ``value_help`` describes the JSON value; ``from_text`` turns what a user types after the action
    (``evscreen send set_theme light``) into it, and ``text_help`` says what may be typed.
    """

    name: str
    keys: tuple[str, ...] | None
    check: Callable[[Any], Any] | None
    kind: str  # "media", "setting" or "bluetooth": which part of the system carries it out
    value_help: str = ""
    from_text: Callable[[str], Any] = _typed
    text_help: str = ""

    @property
    def typed_help(self) -> str:
        return self.text_help or self.value_help

    def __post_init__(self) -> None:
        if (self.keys is None) != (self.check is None):
            raise TypeError(f"{self.name}: an action has both value keys and a check, or neither")


ACTIONS: dict[str, ActionSpec] = {
    spec.name: spec
    for spec in (
        ActionSpec("play_music", None, None, "media"),
        ActionSpec("pause_music", None, None, "media"),
        ActionSpec("next_track", None, None, "media"),
        ActionSpec("previous_track", None, None, "media"),
        ActionSpec("set_volume", ("volume", "value"), _volume, "media", "number 0.0-1.0"),
        ActionSpec("set_charge_limit", ("value",), _integer(50, 100, "charge_limit"), "setting", "integer 50-100"),
        ActionSpec("set_regen_level", ("value",), _one_of(REGEN_LEVELS, "regen_level"), "setting",
                   "|".join(REGEN_LEVELS), _word),
        ActionSpec("set_drive_mode", ("value",), _one_of(DRIVE_MODES, "drive_mode"), "setting", "|".join(DRIVE_MODES),
                   _word),
        ActionSpec("set_brightness", ("value",), _integer(0, 100, "brightness"), "setting", "integer 0-100"),
        ActionSpec("set_theme", ("value",), _boolean("light_theme"), "setting", "true|false (true = light)",
                   _theme, "light|dark (or true|false, true = light)"),
        ActionSpec("toggle_predictions", ("value",), _boolean("predictions_on"), "setting", "true|false",
                   text_help="true|false (or on|off, yes|no)"),
        ActionSpec("set_twin_mode", ("value",), _one_of(TWIN_MODES, "twin_mode"), "setting", "|".join(TWIN_MODES),
                   _word),
        ActionSpec("connect_bluetooth", ("device_address",), _mac, "bluetooth", "MAC address XX:XX:XX:XX:XX:XX"),
    )
}

#: The setting each settings action changes.
SETTING_OF_ACTION = {
    "set_charge_limit": "charge_limit",
    "set_regen_level": "regen_level",
    "set_drive_mode": "drive_mode",
    "set_brightness": "brightness",
    "set_theme": "light_theme",
    "toggle_predictions": "predictions_on",
    "set_twin_mode": "twin_mode",
}

#: Each persisted setting's validator (``volume`` included), for the settings store to re-check
#: what it reads from disk with exactly the rules the protocol applies.
SETTING_CHECKS: dict[str, Callable[[Any], Any]] = {
    setting: check for action, setting in SETTING_OF_ACTION.items() if (check := ACTIONS[action].check) is not None
}
SETTING_CHECKS["volume"] = _volume

#: The settings before anyone changes them (each within its domain above): the settings store
#: starts from these, and the simulated car and ``evscreen simulate`` drive with them.
DEFAULT_SETTINGS: dict[str, Any] = {
    "charge_limit": 80,
    "regen_level": "standard",
    "drive_mode": "normal",
    "brightness": 80,
    "light_theme": False,
    "predictions_on": True,
    "twin_mode": "3d",
    "volume": 0.5,
}


# --- parsing -----------------------------------------------------------------------------------


def parse_command(message: str | bytes) -> Command:
    """Parse and validate one client message. Raises :class:`Rejected` for anything invalid."""
    if isinstance(message, (bytes, bytearray, memoryview)):
        raise Rejected(ErrorCode.INVALID_MESSAGE, "binary frames are not accepted; send commands as JSON text")
    try:
        obj = json.loads(message, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise Rejected(ErrorCode.INVALID_JSON, f"message is not valid JSON: {_short(exc)}") from None
    if not isinstance(obj, dict):
        raise Rejected(ErrorCode.INVALID_MESSAGE, f"message must be a JSON object, got {_json_type(obj)}")
    return command_from_object(obj)


def command_from_object(obj: dict[str, Any]) -> Command:
    """Validate a decoded JSON object as a command (shared by WebSocket and MQTT)."""
    request_id = obj.get("request_id")
    if request_id is not None and not _valid_request_id(request_id):
        raise Rejected(
            ErrorCode.INVALID_MESSAGE,
            f"request_id must be a string of at most {MAX_REQUEST_ID_LENGTH} characters or an integer",
            obj.get("action") if isinstance(obj.get("action"), str) and obj.get("action") in ACTIONS else None,
        )
    action = obj.get("action")
    if action is None:
        raise Rejected(ErrorCode.INVALID_MESSAGE, "message has no \"action\"", None, request_id)
    if not isinstance(action, str):
        raise Rejected(ErrorCode.INVALID_MESSAGE, f"\"action\" must be a string, got {_json_type(action)}", None,
                       request_id)
    spec = ACTIONS.get(action)
    if spec is None:
        # Echo what the client sent, so that it can tell which of its commands this answers.
        raise Rejected(ErrorCode.UNKNOWN_ACTION, f"unknown action {_show(action)}", action, request_id)
    value = None
    if spec.keys is not None and spec.check is not None:  # both or neither: ActionSpec.__post_init__
        present = [k for k in spec.keys if k in obj]
        if not present:
            raise Rejected(ErrorCode.INVALID_VALUE, f"{action} needs \"{spec.keys[0]}\" ({spec.value_help})", action,
                           request_id)
        try:
            value = spec.check(obj[present[0]])
        except ValueError as exc:
            raise Rejected(ErrorCode.INVALID_VALUE, str(exc), action, request_id) from None
    return Command(action, value, request_id)


def _valid_request_id(rid: Any) -> bool:
    if isinstance(rid, bool):
        return False
    if isinstance(rid, int):
        return -(2**63) <= rid < 2**63
    return isinstance(rid, str) and len(rid) <= MAX_REQUEST_ID_LENGTH


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# --- responses ---------------------------------------------------------------------------------


def success_response(action: str, request_id: Any = None) -> dict[str, Any]:
    response: dict[str, Any] = {"type": "response", "action": action, "status": "success"}
    if request_id is not None:
        response["request_id"] = request_id
    return response


def error_response(action: str | None, code: ErrorCode | str, message: str, request_id: Any = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "type": "response",
        "action": action,
        "status": "error",
        "code": ErrorCode(code).value,
        "error": message,
    }
    if request_id is not None:
        response["request_id"] = request_id
    return response


# --- for clients that type commands (evscreen send) ---------------------------------------------


def command_from_text(action: str, text: str | None) -> dict[str, Any]:
    """Build the JSON object for ``action`` from a value typed on a command line.

    The text is converted by the action's ``from_text`` (``light`` -> true for set_theme, "0.7" ->
    0.7, "off" stays "off" for set_regen_level); whether the value is in the action's domain is left
    to the server, which answers with the reason.
    Raises :class:`Rejected` for an unknown action or a missing/extra value.
    """
    spec = ACTIONS.get(action)
    if spec is None:
        raise Rejected(ErrorCode.UNKNOWN_ACTION, f"unknown action {action!r} (known: {', '.join(ACTIONS)})")
    obj: dict[str, Any] = {"action": action}
    if spec.keys is None:
        if text is not None:
            raise Rejected(ErrorCode.INVALID_VALUE, f"{action} takes no value", action)
    else:
        if text is None:
            raise Rejected(ErrorCode.INVALID_VALUE, f"{action} needs a value ({spec.typed_help})", action)
        obj[spec.keys[0]] = spec.from_text(text)
    return obj


def actions_help() -> list[tuple[str, str]]:
    """(action, what to type after it) for every action, for ``evscreen send --help``."""
    return [(spec.name, spec.typed_help or "(no value)") for spec in ACTIONS.values()]


# --- helpers -----------------------------------------------------------------------------------


def _show(v: Any) -> str:
    if isinstance(v, str):
        return json.dumps(v if len(v) <= 40 else v[:37] + "...")
    if isinstance(v, (bool, int, float)) or v is None:
        return json.dumps(v) if not (isinstance(v, float) and not math.isfinite(v)) else str(v)
    return _json_type(v)


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float)):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "an array"
    return "an object"


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) <= 120 else text[:117] + "..."
