"""A GPS receiver on a pseudo-terminal, for tests.

The driver opens ``link`` — a symlink to the pty's slave side, the way /dev/serial0 points at
/dev/ttyAMA0 on a Pi — with pyserial, exactly as it opens real hardware. ``unplug`` removes the
device (link gone, pty closed: reads fail with EIO like a pulled USB receiver) and ``plug`` brings
a new one back under the same name.
"""

from __future__ import annotations

import os
import threading
import time
import tty
from collections.abc import Iterable
from pathlib import Path


class PtyReceiver:
    def __init__(self, link: Path) -> None:
        self.link = link
        self.master: int | None = None
        self.slave: int | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.plug()

    @property
    def path(self) -> str:
        return str(self.link)

    def plug(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        if self.link.is_symlink() or self.link.exists():
            self.link.unlink()
        self.link.symlink_to(os.ttyname(self.slave))

    def unplug(self) -> None:
        self._stop.set()
        if self.link.is_symlink():
            self.link.unlink()
        master, slave = self.master, self.slave
        self.master = self.slave = None
        for fd in (master, slave):
            if fd is not None:
                os.close(fd)
        self.stop_streaming()

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view and self.master is not None:
            try:
                written = os.write(self.master, view)
            except OSError:
                return  # unplugged while writing
            view = view[written:]

    def send_lines(self, lines: Iterable[bytes]) -> threading.Thread:
        """Write every line (CR LF terminated) from a thread: a full pty blocks until it is read."""
        data = b"".join(line + b"\r\n" for line in lines)
        thread = threading.Thread(target=self.write, args=(data,), daemon=True)
        thread.start()
        self._threads.append(thread)
        return thread

    def stream(self, lines: list[bytes], pause: float = 0.002) -> None:
        """Keep sending the lines over and over, like a receiver that talks all the time."""
        self._stop.clear()

        def run() -> None:
            while not self._stop.is_set() and self.master is not None:
                for line in lines:
                    if self._stop.is_set():
                        return
                    self.write(line + b"\r\n")
                    time.sleep(pause)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop_streaming(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)
        self._threads.clear()

    def close(self) -> None:
        if self.master is not None:
            self.unplug()
