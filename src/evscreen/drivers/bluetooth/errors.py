"""What BlueZ's and D-Bus's errors mean to a screen, and what to tell the person fixing it (pure)."""

from __future__ import annotations

from typing import Any

from evscreen.drivers.bluetooth.objects import clean_text
from evscreen.errors import CommandFailed
from evscreen.protocol import ErrorCode

#: Errors that mean "what you asked for is already the case".
ALREADY_DONE = frozenset({"org.bluez.Error.AlreadyConnected"})

#: Errors caused by what the client asked for; every other error means "cannot right now".
_INVALID_VALUE = frozenset({
    "org.bluez.Error.DoesNotExist",
    "org.bluez.Error.InvalidArguments",
    "org.freedesktop.DBus.Error.UnknownObject",  # the device vanished between lookup and call
    "org.freedesktop.DBus.Error.InvalidArgs",
})

ADVICE_GROUP = "add the user to the bluetooth group: `sudo usermod -aG bluetooth $USER`, then log in again"
ADVICE_BLUETOOTHD = (
    "is bluetoothd running? `sudo systemctl status bluetooth` (start it: `sudo systemctl enable --now bluetooth`)"
)

_HINTS = {
    "org.bluez.Error.NotReady": "the adapter is not ready; is it powered? `bluetoothctl power on`",
    "org.bluez.Error.InProgress": "another connection attempt is still running",
    "org.bluez.Error.NotSupported": "the device does not support it",
    "org.freedesktop.DBus.Error.AccessDenied": ADVICE_GROUP,
    "org.freedesktop.DBus.Error.ServiceUnknown": ADVICE_BLUETOOTHD,
    "org.freedesktop.DBus.Error.NoReply": "bluetoothd did not answer",
}


def command_failed(what: str, error_name: Any, text: Any) -> CommandFailed:
    """A D-Bus error reply to ``what`` ("connecting 00:11:...") as a protocol error, BlueZ's text kept."""
    name = clean_text(error_name, 128) or "unknown D-Bus error"
    detail = clean_text(text, 200)
    message = f"{what} failed: {name}" + (f": {detail}" if detail else "")
    hint = _HINTS.get(name)
    if hint:
        message += f" ({hint})"
    code = ErrorCode.INVALID_VALUE if name in _INVALID_VALUE else ErrorCode.UNAVAILABLE
    return CommandFailed(code.value, message)


def unavailable(message: str) -> CommandFailed:
    return CommandFailed(ErrorCode.UNAVAILABLE.value, message)
