"""One diagnostic payload (a complete ISO-TP message) to its service name and decoded content.

The first byte tells a request from a response (:func:`~evscreen.can.diag.services.is_response`),
and OBD-II, UDS and KWP2000 answers all repeat what they answer (the PID, the DID, the report
type), so a message decodes on its own, without the request that caused it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from evscreen.can.diag import obd, uds
from evscreen.can.diag.services import (
    NEGATIVE_RESPONSE,
    RESPONSE_OFFSET,
    is_response,
    nrc_name,
    service_name,
)


class Decoded(NamedTuple):
    service: str
    #: {"type": "request" | "response" | "negative_response", ...what the service carries}
    content: dict[str, Any]


def decode_payload(payload: bytes) -> Decoded:
    if not payload:
        return Decoded("empty", {"type": "invalid"})
    sid = payload[0]
    body = payload[1:]
    if sid == NEGATIVE_RESPONSE:
        if len(body) < 2:
            return Decoded("negative response", {"type": "negative_response", "error": "too short",
                                                 "raw": body.hex().upper()})
        request, code = body[0], body[1]
        return Decoded(service_name(request), {
            "type": "negative_response", "request_sid": f"{request:02X}", "nrc": f"{code:02X}",
            "nrc_name": nrc_name(code)})
    if is_response(sid):
        request = sid - RESPONSE_OFFSET
        content: dict[str, Any] = {"type": "response"}
        try:
            content.update(_response(request, body))
        except (IndexError, ValueError) as exc:  # a malformed answer: keep its bytes, say why
            content.update({"error": f"malformed: {exc}", "raw": body.hex().upper()})
        return Decoded(service_name(request), content)
    content = {"type": "request"}
    try:
        content.update(obd.decode_request(sid, body) if sid <= 0x0A else uds.decode_request(sid, body))
    except (IndexError, ValueError) as exc:
        content.update({"error": f"malformed: {exc}", "raw": body.hex().upper()})
    return Decoded(service_name(sid), content)


def _response(request: int, body: bytes) -> dict[str, Any]:
    if request == 0x01:
        return obd.decode_mode01_response(body)
    if request == 0x02:  # PID, frame number, data
        return {"frame": body[1], **obd.decode_mode01_response(body[:1] + body[2:])} if len(body) > 1 else {}
    if request in (0x03, 0x07, 0x0A):
        return obd.decode_dtc_list(body)
    if request == 0x09:
        return obd.decode_mode09_response(body)
    if request == 0x04:
        return {}
    return uds.decode_response(request, body)
