"""UDS (ISO 14229-1) and KWP2000 (ISO 14230-3) payloads: requests and responses, decoded to plain
dicts. Pure; the names come from :mod:`evscreen.can.diag.services`.
"""

from __future__ import annotations

from typing import Any

from evscreen.can.diag.dtc import dtc_code, status_names, uds_dtc

SESSIONS = {0x01: "defaultSession", 0x02: "programmingSession", 0x03: "extendedDiagnosticSession",
            0x04: "safetySystemDiagnosticSession"}

#: ReadDTCInformation sub-functions (the ones a reader uses).
DTC_REPORTS = {
    0x01: "reportNumberOfDTCByStatusMask",
    0x02: "reportDTCByStatusMask",
    0x03: "reportDTCSnapshotIdentification",
    0x04: "reportDTCSnapshotRecordByDTCNumber",
    0x06: "reportDTCExtDataRecordByDTCNumber",
    0x07: "reportNumberOfDTCBySeverityMaskRecord",
    0x0A: "reportSupportedDTC",
    0x0F: "reportMirrorMemoryDTCByStatusMask",
    0x13: "reportEmissionsOBDDTCByStatusMask",
    0x15: "reportDTCWithPermanentStatus",
}
#: Sub-functions whose answer is a status availability mask and DTC-and-status records.
_DTC_RECORD_REPORTS = frozenset({0x02, 0x0A, 0x0F, 0x13, 0x15, 0x17})


def decode_request(sid: int, body: bytes) -> dict[str, Any]:
    if sid == 0x22:
        return {"dids": [f"{body[i]:02X}{body[i + 1]:02X}" for i in range(0, len(body) - 1, 2)]}
    if sid == 0x19 and body:
        out: dict[str, Any] = {"report": DTC_REPORTS.get(body[0], f"0x{body[0]:02X}")}
        if body[0] in (0x01, 0x02, 0x0F, 0x13) and len(body) > 1:
            out["status_mask"] = f"{body[1]:02X}"
        return out
    if sid == 0x10 and body:
        return {"session": SESSIONS.get(body[0], f"0x{body[0]:02X}")}
    if sid == 0x14 and len(body) >= 3:
        group = int.from_bytes(body[:3], "big")
        return {"group": "all" if group == 0xFFFFFF else f"{group:06X}"}
    if sid == 0x3E and body:
        return {"suppress_response": bool(body[0] & 0x80)}
    if sid == 0x21 and body:
        return {"local_id": f"{body[0]:02X}"}
    if sid == 0x18 and len(body) >= 3:
        return {"status": f"{body[0]:02X}", "group": f"{body[1]:02X}{body[2]:02X}"}
    return {"raw": body.hex().upper()} if body else {}


def decode_response(sid: int, body: bytes) -> dict[str, Any]:
    """A positive response's body (after the response SID) for service ``sid`` (the request's)."""
    if sid == 0x22 and len(body) >= 2:
        return {"did": f"{body[0]:02X}{body[1]:02X}", "data": body[2:].hex().upper()}
    if sid == 0x19 and body:
        return _dtc_report(body)
    if sid == 0x10 and body:
        out: dict[str, Any] = {"session": SESSIONS.get(body[0], f"0x{body[0]:02X}")}
        if len(body) >= 5:
            out["p2_ms"] = body[1] << 8 | body[2]
            out["p2_star_ms"] = (body[3] << 8 | body[4]) * 10
        return out
    if sid == 0x18 and body:  # KWP2000: a count, then 2 bytes of DTC and a status byte each
        dtcs = [{"code": dtc_code(body[i], body[i + 1]), "status": body[i + 2],
                 "status_bits": status_names(body[i + 2])} for i in range(1, len(body) - 2, 3)]
        return {"count": body[0], "dtcs": dtcs}
    if sid == 0x21 and body:
        return {"local_id": f"{body[0]:02X}", "data": body[1:].hex().upper()}
    return {"raw": body.hex().upper()} if body else {}


def _dtc_report(body: bytes) -> dict[str, Any]:
    report = body[0]
    out: dict[str, Any] = {"report": DTC_REPORTS.get(report, f"0x{report:02X}")}
    rest = body[1:]
    if report in _DTC_RECORD_REPORTS:
        if rest:
            out["status_availability"] = f"{rest[0]:02X}"
        records = rest[1:]
        out["dtcs"] = [uds_dtc(records[i:i + 4]) for i in range(0, len(records) - 3, 4)]
        if len(records) % 4:
            out["trailing"] = records[len(records) - len(records) % 4:].hex().upper()
    elif report in (0x01, 0x07) and len(rest) >= 4:
        out["status_availability"] = f"{rest[0]:02X}"
        out["format"] = rest[1]
        out["count"] = rest[2] << 8 | rest[3]
    else:
        out["raw"] = rest.hex().upper()
    return out
