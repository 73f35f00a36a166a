"""Paths and helpers shared by the CAN tests."""

from __future__ import annotations

import os
import select
import threading
import time
from pathlib import Path
from typing import Any

from conftest import REALDATA

KONA_DIR = REALDATA / "can" / "kona-ev"
KONA_DBC = KONA_DIR / "pcan.dbc"
KONA_LOG = KONA_DIR / "221217-1-2021-pcan-bcan-no-key.csv"


def slcan_frame(frame_id: int, data: bytes, extended: bool = False) -> bytes:
    """A received frame as an slcan adapter reports it: t<id><len><data>\\r (T for 29-bit IDs)."""
    head = f"T{frame_id:08X}" if extended else f"t{frame_id:03X}"
    return f"{head}{len(data)}{data.hex().upper()}\r".encode()


class SlcanAdapter:
    """Plays an slcan USB adapter on a pseudo-terminal: answers commands, sends frames.

    ``path`` is a symlink to the pty's slave side (like /dev/serial/by-id/...), so that an
    "unplugged" adapter can come back on a new pty under the same name.
    """

    def __init__(self, link: Path) -> None:
        self.link = link
        self.commands: list[bytes] = []
        self.opened = threading.Event()  # the host sent "O" (open channel)
        self._master: int | None = None
        self._slave: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def path(self) -> str:
        return str(self.link)

    def plug(self) -> SlcanAdapter:
        master, slave = os.openpty()
        import tty

        tty.setraw(slave)
        self._master, self._slave = master, slave
        tmp = self.link.with_name(self.link.name + ".tmp")
        if tmp.exists() or tmp.is_symlink():
            tmp.unlink()
        tmp.symlink_to(os.ttyname(slave))
        os.replace(tmp, self.link)
        self.opened.clear()
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        return self

    def unplug(self) -> None:
        """The adapter disappears: its device name goes away and the pty closes."""
        if self.link.is_symlink():
            self.link.unlink()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        with self._lock:
            for fd in (self._master, self._slave):
                if fd is not None:
                    os.close(fd)
            self._master = self._slave = None

    def send(self, *frames: bytes) -> None:
        with self._lock:
            assert self._master is not None, "adapter unplugged"
            os.write(self._master, b"".join(frames))

    def _serve(self) -> None:
        buffer = b""
        while not self._stop.is_set():
            with self._lock:
                master = self._master
            if master is None:
                return
            ready, _, _ = select.select([master], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(master, 1024)
            except OSError:
                return
            buffer += chunk
            while b"\r" in buffer:
                command, _, buffer = buffer.partition(b"\r")
                self.commands.append(command)
                with self._lock:
                    if self._master is not None:
                        os.write(self._master, b"\r")  # OK
                if command[:1] in (b"O", b"L"):
                    self.opened.set()


def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll until ``predicate()`` is truthy; fail after ``timeout`` seconds (not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)
