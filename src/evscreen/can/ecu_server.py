"""An ECU's side of diagnostics: answer requests on a bus with can-isotp (the simulated car's ECUs).

:class:`EcuServer` listens on an ECU's physical request ID (and, for OBD-II, the functional 0x7DF),
hands each complete request to a ``respond`` function and sends what it returns, multi-frame with
flow control when long. ``respond`` returns a list of ``(delay_s, payload)``: an ECU that needs
time answers ``7F xx 78`` (response pending) first, then the answer after a delay.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from evscreen.can.transport import guard_transmit

log = logging.getLogger(__name__)

Responder = Callable[[bytes], Sequence[tuple[float, bytes]]]


def stamping_bus(bus: Any, clock: Callable[[], float]) -> Any:
    """A python-can bus that sends through ``bus``, stamping each frame with ``clock()`` and counting
    them (``sent``): the simulated car's ECUs answer on the car's own timeline, so a recording of
    its bus keeps its timestamps in order."""
    import can

    class StampingBus(can.BusABC):
        def __init__(self) -> None:
            super().__init__(channel=getattr(bus, "channel_info", "stamped"))
            self.sent = 0
            self._lock = threading.Lock()

        def send(self, msg: Any, timeout: float | None = None) -> None:
            msg.timestamp = clock()
            bus.send(msg, timeout)
            with self._lock:
                self.sent += 1

        def _recv_internal(self, timeout: float | None) -> tuple[None, bool]:
            return None, False

    return StampingBus()


class EcuServer:
    def __init__(self, bus: Any, notifier: Any, request_id: int, response_id: int, respond: Responder, *,
                 extended: bool = False, functional_id: int | None = None, padding: int = 0xAA) -> None:
        import isotp

        mode = isotp.AddressingMode.Normal_29bits if extended else isotp.AddressingMode.Normal_11bits
        params = {"tx_padding": padding, "stmin": 0, "blocksize": 0, "blocking_send": True}
        self.respond = respond
        self.stacks = [isotp.NotifierBasedCanStack(bus, notifier, address=isotp.Address(mode, txid=response_id,
                                                                                        rxid=request_id),
                                                   params=params, error_handler=self._error)]
        if functional_id is not None:  # answers to functional requests are single frames here
            self.stacks.append(isotp.NotifierBasedCanStack(
                bus, notifier, address=isotp.Address(mode, txid=response_id, rxid=functional_id), params=params,
                error_handler=self._error))
        for stack in self.stacks:
            guard_transmit(stack, self._error)
        self.requests = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _error(self, error: Exception) -> None:
        log.debug("simulated ECU: %s", error)

    def start(self) -> EcuServer:
        for stack in self.stacks:
            stack.start()
            thread = threading.Thread(target=self._serve, args=(stack,), name="sim-ecu", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _serve(self, stack: Any) -> None:
        while not self._stop.is_set():
            request = stack.recv(block=True, timeout=0.1)
            if request is None:
                continue
            self.requests += 1
            try:
                answers = self.respond(bytes(request))
            except Exception:  # a responder's bug must not kill the ECU
                log.exception("simulated ECU failed to answer %s", bytes(request).hex())
                continue
            for delay, payload in answers:
                if delay and self._stop.wait(delay):
                    return
                try:
                    stack.send(payload, send_timeout=5.0)
                except Exception as exc:  # the tester went away mid-answer: the next request starts afresh
                    log.debug("simulated ECU: sending failed: %s", exc)
                    break

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(2.0)
        for stack in self.stacks:
            try:
                stack.stop()
            except Exception:
                log.debug("stopping a simulated ECU's stack failed", exc_info=True)
        self._threads.clear()

