"""Diagnostic requests over ISO-TP on a shared bus, with can-isotp.

:class:`DiagTransport` sends one request and waits for its answer, blocking (run it in a thread).
Each (request ID, response ID) pair gets a can-isotp ``NotifierBasedCanStack`` attached to the
bus's :class:`~evscreen.can.share.BusShare`: can-isotp does the segmentation, flow control, block
size and STmin; the stack transmits with the CAN source's own bus and receives through the share.

- A functional request (0x7DF, or 29-bit 0x18DB....) is one single frame sent as is; the answer
  comes on the ECU's physical response ID, and flow control for a long answer goes to the ECU's
  physical request ID (ISO 15765-4), not to the functional one.
- 0x78 (response pending) extends the wait by P2* (5 s) each time, as ISO 14229 says, a bounded
  number of times; every other negative response is returned to the caller.
- Only reading: a request whose service is not a read service is refused here, whatever asked
  for it, unless it is a DTC clear and the caller says so (``clear=True``, after a confirmation).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from evscreen.can.diag.services import (
    CLEAR_SERVICES,
    NEGATIVE_RESPONSE,
    NRC_PENDING,
    READ_ONLY_SERVICES,
    RESPONSE_OFFSET,
    service_name,
)
from evscreen.can.share import BusShare
from evscreen.errors import SourceUnavailable

log = logging.getLogger(__name__)

P2_STAR_S = 5.0  # ISO 14229-2's default P2*server: how long "response pending" buys
MAX_PENDING = 12  # a minute of "response pending" at most
TX_PADDING = 0xAA


class Answer(NamedTuple):
    kind: str  # "positive", "negative" or "timeout"
    payload: bytes = b""
    nrc: int | None = None
    pending: int = 0  # "response pending" answers waited out
    elapsed: float = 0.0


def functional(request_id: int, extended: bool) -> bool:
    return request_id == 0x7DF if not extended else request_id >> 16 == 0x18DB


def physical_request_id(response_id: int, extended: bool) -> int:
    """The ID an ECU answering on ``response_id`` listens on (for flow control)."""
    if extended:
        return (0x18DA << 16) | ((response_id & 0xFF) << 8) | ((response_id >> 8) & 0xFF)
    return response_id - 8


class RequestRefused(ValueError):
    """A request the transport will not send (a service that writes)."""


def check_service(payload: bytes, clear: bool = False) -> None:
    if not payload:
        raise RequestRefused("an empty request")
    sid = payload[0]
    if sid in READ_ONLY_SERVICES or (clear and sid in CLEAR_SERVICES):
        return
    raise RequestRefused(f"service 0x{sid:02X} ({service_name(sid)}) is not a read service: evscreen only reads"
                         + (" (clearing DTCs is `evscreen obd dtc --clear`)" if sid in CLEAR_SERVICES else ""))


def guard_transmit(stack: Any, refused: Callable[[Exception], None]) -> None:
    """Send ``stack``'s frames so that one the interface refuses goes to ``refused``.

    can-isotp sends from its own thread and lets an exception there end the thread: one refused
    frame (bus-off, an adapter pulled, a bus being closed) would kill the stack for good, and every
    later request on it would time out.
    """
    transmit = stack.txfn

    def guarded(msg: Any) -> None:
        try:
            transmit(msg)
        except Exception as exc:
            refused(exc)

    stack.txfn = guarded


class _Link:
    def __init__(self, share: BusShare, request_id: int, response_id: int, extended: bool) -> None:
        import isotp

        self.request_id = request_id
        self.response_id = response_id
        self.extended = extended
        self.functional = functional(request_id, extended)
        mode = isotp.AddressingMode.Normal_29bits if extended else isotp.AddressingMode.Normal_11bits
        txid = physical_request_id(response_id, extended) if self.functional else request_id
        address = isotp.Address(mode, txid=txid, rxid=response_id)
        params = {
            "tx_padding": TX_PADDING,
            "stmin": 0,  # we take consecutive frames as fast as the ECU sends them
            "blocksize": 0,
            "rx_consecutive_frame_timeout": 1000,  # N_Cr
            "rx_flowcontrol_timeout": 1000,  # N_Bs
            "wftmax": 8,  # "wait" flow-control frames accepted before giving up
            "blocking_send": False,
        }
        self.stack = isotp.NotifierBasedCanStack(share.bus, share.notifier, address=address, params=params,
                                                 error_handler=self._error)
        self.share = share
        #: Why the stack's thread last failed to put a frame on the bus (taken by the request waiting).
        self.send_error: Exception | None = None
        guard_transmit(self.stack, self._refused)
        self.stack.start()

    def _refused(self, error: Exception) -> None:
        self.send_error = error
        log.debug("ISO-TP 0x%X: a frame was not sent: %s", self.request_id, error)

    def _error(self, error: Exception) -> None:
        log.debug("ISO-TP 0x%X/0x%X: %s", self.request_id, self.response_id, error)

    def send(self, payload: bytes) -> None:
        if self.functional:
            import can

            if len(payload) > 7:
                raise RequestRefused("a functional request is one single frame: 7 bytes at most")
            data = bytes([len(payload)]) + payload
            data += bytes([TX_PADDING]) * (8 - len(data))
            self.share.send(can.Message(arbitration_id=self.request_id, is_extended_id=self.extended, data=data))
        else:
            self.stack.send(payload)

    def drain(self) -> None:
        while self.stack.available():
            self.stack.recv()
        self.send_error = None

    def stop(self) -> None:
        try:
            self.stack.stop()
        except Exception:  # stopping a stack whose bus is gone can fail; it is dropped either way
            log.debug("stopping ISO-TP stack failed", exc_info=True)


class DiagTransport:
    """Requests and answers over one shared bus; one request at a time."""

    def __init__(self, share: BusShare) -> None:
        self.share = share
        self._links: dict[tuple[int, int, bool], _Link] = {}
        self._lock = threading.Lock()

    def request(self, request_id: int, response_id: int, payload: bytes, *, extended: bool = False,
                timeout: float = 1.0, clear: bool = False) -> Answer:
        """Send ``payload`` and wait for the answer to it (blocking)."""
        check_service(payload, clear)
        if self.share.closed.is_set():
            raise SourceUnavailable(f"{self.share.where} is closed")
        with self._lock:
            link = self._link(request_id, response_id, extended)
            link.drain()  # a late answer to an earlier request is not this one's
            started = time.monotonic()
            try:
                link.send(payload)
            except RequestRefused:
                raise
            except Exception as exc:  # the interface refused the frame (bus-off, adapter gone)
                raise SourceUnavailable(f"cannot send on {self.share.where}: {exc}") from exc
            sid = payload[0]
            deadline = started + timeout
            pending = 0
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or self.share.closed.is_set():
                    return Answer("timeout", pending=pending, elapsed=time.monotonic() - started)
                received = link.stack.recv(block=True, timeout=min(left, 0.1))
                if received is None:
                    if link.send_error is not None:
                        raise SourceUnavailable(f"cannot send on {self.share.where}: {link.send_error}")
                    continue
                data = bytes(received)
                if len(data) >= 3 and data[0] == NEGATIVE_RESPONSE and data[1] == sid:
                    if data[2] == NRC_PENDING and pending < MAX_PENDING:
                        pending += 1
                        deadline = time.monotonic() + P2_STAR_S
                        continue
                    return Answer("negative", data, data[2], pending, time.monotonic() - started)
                if data and data[0] == sid + RESPONSE_OFFSET:
                    return Answer("positive", data, None, pending, time.monotonic() - started)
                log.debug("0x%X: ignoring an answer to another request: %s", response_id, data.hex())

    def _link(self, request_id: int, response_id: int, extended: bool) -> _Link:
        key = (request_id, response_id, extended)
        link = self._links.get(key)
        if link is None:
            link = self._links[key] = _Link(self.share, request_id, response_id, extended)
        return link

    def close(self) -> None:
        with self._lock:
            links, self._links = list(self._links.values()), {}
        for link in links:
            link.stop()
