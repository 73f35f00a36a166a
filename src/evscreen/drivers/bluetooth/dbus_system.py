"""The D-Bus system bus through dbus-fast: connecting, calling with a timeout, unwrapping values.

dbus-fast is imported inside the functions: it is a Linux-only dependency, and this module must
import everywhere.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from evscreen.aio import within

#: Where the system bus is when ``DBUS_SYSTEM_BUS_ADDRESS`` does not say (dbus-fast's default too).
DEFAULT_SYSTEM_BUS = "unix:path=/var/run/dbus/system_bus_socket"
BUS_CONNECT_TIMEOUT_S = 10.0


class BusUnavailable(Exception):
    """The system bus cannot be reached; worth retrying."""


class DbusLibraryMissing(BusUnavailable):
    """dbus-fast is not installed (Windows, macOS): retrying cannot help."""


def system_bus_address() -> str:
    return os.environ.get("DBUS_SYSTEM_BUS_ADDRESS") or DEFAULT_SYSTEM_BUS


async def connect_system_bus() -> Any:
    """A connected dbus-fast ``MessageBus`` on the system bus, or :class:`BusUnavailable`."""
    try:
        from dbus_fast import BusType
        from dbus_fast.aio import MessageBus
    except ImportError as exc:
        raise DbusLibraryMissing(f"dbus-fast is not installed ({exc}); Bluetooth media needs BlueZ on Linux") from None
    address = system_bus_address()
    bus = None
    try:
        # dbus-fast < 5 connects in the constructor, later versions in connect(): cover both.
        bus = MessageBus(bus_type=BusType.SYSTEM)
        return await within(bus.connect(), BUS_CONNECT_TIMEOUT_S)
    except Exception as exc:
        if bus is not None:
            disconnect_quietly(bus)
        why = "no answer" if isinstance(exc, asyncio.TimeoutError) else (str(exc) or type(exc).__name__)
        raise BusUnavailable(f"cannot reach the D-Bus system bus at {address}: {why}") from None


def disconnect_quietly(bus: Any) -> None:
    try:
        bus.disconnect()
    except Exception:  # already gone: nothing left to release
        pass


def plain(value: Any) -> Any:
    """dbus-fast's values (``Variant`` wrappers, nested) as plain Python values."""
    from dbus_fast import Variant

    def unwrap(v: Any) -> Any:
        if isinstance(v, Variant):
            return unwrap(v.value)
        if isinstance(v, dict):
            return {k: unwrap(x) for k, x in v.items()}
        if isinstance(v, list):
            return [unwrap(x) for x in v]
        return v

    return unwrap(value)


class DbusCallError(Exception):
    """An error reply to a method call: its D-Bus error name and text, as the peer sent them."""

    def __init__(self, name: str, text: Any) -> None:
        super().__init__(f"{name}: {text}")
        self.name = name
        self.text = text


async def call_method(
    bus: Any, destination: str, path: str, interface: str, member: str, signature: str = "",
    body: list[Any] | None = None, timeout: float | None = None,
) -> Any:
    """One method call; the reply message, :class:`DbusCallError` for an error reply, or
    :class:`asyncio.TimeoutError`."""
    from dbus_fast import Message, MessageType

    message = Message(destination=destination, path=path, interface=interface, member=member,
                      signature=signature, body=body or [])
    call = bus.call(message)
    reply = await (within(call, timeout) if timeout else call)
    if reply.message_type == MessageType.ERROR:
        text = reply.body[0] if reply.body and isinstance(reply.body[0], str) else ""
        raise DbusCallError(reply.error_name or "unknown", text)
    return reply
