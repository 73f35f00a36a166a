"""systemd integration with the standard library: sd_notify (READY, STATUS, WATCHDOG, STOPPING).

Does nothing when ``NOTIFY_SOCKET`` is not set, so the same code runs everywhere.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        self.address: str | bytes | None = None
        if address.startswith("@"):
            self.address = "\0" + address[1:]  # abstract namespace
        elif address.startswith("/"):
            self.address = address
        self.watchdog_interval: float | None = None
        usec = env.get("WATCHDOG_USEC")
        pid = env.get("WATCHDOG_PID")
        if usec and usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self.watchdog_interval = int(usec) / 1e6 / 2  # ping at half the timeout, as systemd advises
        self._sock: socket.socket | None = None
        if self.address is not None and hasattr(socket, "AF_UNIX"):
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def notify(self, *lines: str) -> None:
        if self._sock is None or self.address is None:  # the socket exists only for an address
            return
        try:
            self._sock.sendto("\n".join(lines).encode("utf-8", "replace"), self.address)
        except OSError as exc:
            log.debug("sd_notify failed: %s", exc)

    def ready(self, status: str) -> None:
        self.notify("READY=1", f"STATUS={status}")

    def stopping(self) -> None:
        self.notify("STOPPING=1", "STATUS=shutting down")

    async def watchdog(self, status: Callable[[], str], status_every: float = 10.0) -> None:
        """Ping the watchdog from the event loop itself, so a hung loop gets the service restarted."""
        interval = self.watchdog_interval or status_every
        since_status = 0.0
        while True:
            await asyncio.sleep(interval)
            since_status += interval
            lines = ["WATCHDOG=1"] if self.watchdog_interval else []
            if since_status >= status_every:
                lines.append(f"STATUS={status()}")
                since_status = 0.0
            if lines:
                self.notify(*lines)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
