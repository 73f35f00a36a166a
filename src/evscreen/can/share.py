"""One CAN bus, many users: the CAN source reads it, the diagnostics poller talks on it.

A python-can bus has one reader. The CAN source's reader thread owns ``recv``; while the bus is
open it publishes a :class:`BusShare` under its interface and channel (:func:`publish`), and hands
every frame of a diagnostic ID to the share's listeners — through a python-can
:class:`can.Notifier` that has no bus of its own, so can-isotp's ``NotifierBasedCanStack`` attaches
to it exactly as it would to a notifier reading the bus. Others transmit with ``bus.send``
(thread-safe in python-can's interfaces).

The share also keeps when the bus last carried frames that are *not* diagnostics — the car's
own traffic — so the poller can tell a sleeping car (silence) from one that is awake.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

Listener = Callable[[Any], None]


class BusShare:
    def __init__(self, bus: Any, where: str) -> None:
        import can

        self.bus = bus
        self.where = where
        #: Listeners of diagnostic frames (can-isotp stacks attach here); reads no bus itself.
        self.notifier = can.Notifier([], [])
        #: Monotonic time of the last batch with a non-diagnostic frame (None: none yet).
        self.last_traffic: float | None = None
        #: Monotonic time of the last frame of any kind.
        self.last_frame: float | None = None
        self.closed = threading.Event()
        #: Who uses the share (the poller adds itself while it runs): while any does, the reader
        #: hands over diagnostic frames and notes traffic; otherwise it spends nothing on them.
        self.users: list[object] = []

    def dispatch(self, msg: Any) -> None:
        """Called by the bus's reader thread for each diagnostic frame while someone listens."""
        for listener in list(self.notifier.listeners):
            try:
                listener(msg)
            except Exception:  # a listener's bug must not stop the CAN source's reader
                import logging

                logging.getLogger(__name__).exception("diagnostic listener failed")

    def seen(self, traffic: bool) -> None:
        """Called by the reader thread once per batch: ``traffic`` if it held non-diagnostic frames."""
        now = time.monotonic()
        self.last_frame = now
        if traffic:
            self.last_traffic = now

    def send(self, msg: Any) -> None:
        if self.closed.is_set():
            raise OSError(f"{self.where} is closed")
        self.bus.send(msg)

    def close(self) -> None:
        self.closed.set()
        self.notifier.stop()


_shares: dict[str, BusShare] = {}
_lock = threading.Lock()


def key(interface: str, channel: str) -> str:
    return f"{interface} {channel}"


def publish(share: BusShare) -> None:
    with _lock:
        _shares[share.where] = share


def withdraw(share: BusShare) -> None:
    share.close()
    with _lock:
        if _shares.get(share.where) is share:
            del _shares[share.where]


def find(where: str) -> BusShare | None:
    with _lock:
        return _shares.get(where)


def start_reader(share: BusShare) -> Callable[[], None]:
    """Read ``share.bus`` in a thread of its own, as the CAN source does, for a tool that runs without
    one (``evscreen obd``, ``evscreen probe obd``); returns what stops it."""
    stop = threading.Event()

    def read() -> None:
        bus = share.bus
        while not stop.is_set() and not share.closed.is_set():
            try:
                msg = bus.recv(0.1)
            except Exception:  # the interface failed: whoever waits for an answer times out
                share.closed.set()
                return
            if msg is None or msg.is_error_frame:
                continue
            frame_id = msg.arbitration_id
            if (frame_id >> 16 in (0x18DA, 0x18DB)) if msg.is_extended_id else 0x700 <= frame_id <= 0x7FF:
                share.dispatch(msg)
                share.seen(False)
            else:
                share.seen(True)

    thread = threading.Thread(target=read, name="obd-reader", daemon=True)
    thread.start()

    def stopper() -> None:
        stop.set()
        thread.join(2.0)

    return stopper
