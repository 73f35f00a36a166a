"""Diagnostic trouble codes: the 2-byte SAE J2012 code, UDS's failure type byte and status bits.

Pure tables and functions; the meaning of generic codes (``P0xxx``, ``U0xxx``...) is a short
table of the ones an EV shows, the rest of a code's meaning belongs to its maker.
"""

from __future__ import annotations

from typing import Any

_LETTERS = "PCBU"

#: ISO 14229-1 DTCStatusMask bits, lowest first.
STATUS_BITS = (
    "testFailed",
    "testFailedThisOperationCycle",
    "pendingDTC",
    "confirmedDTC",
    "testNotCompletedSinceLastClear",
    "testFailedSinceLastClear",
    "testNotCompletedThisOperationCycle",
    "warningIndicatorRequested",
)

#: SAE J2012-DA / ISO 15031-6 failure type byte (the third byte of a UDS DTC).
FAILURE_TYPES = {
    0x00: "no sub type information",
    0x01: "general electrical failure",
    0x02: "general signal failure",
    0x03: "FM (frequency modulated) / PWM (pulse width modulated) failures",
    0x04: "system internal failures",
    0x05: "system programming failures",
    0x06: "algorithm based failures",
    0x07: "mechanical failures",
    0x08: "bus signal / message failures",
    0x09: "component failures",
    0x11: "circuit short to ground",
    0x12: "circuit short to battery",
    0x13: "circuit open",
    0x14: "circuit short to ground or open",
    0x15: "circuit short to battery or open",
    0x16: "circuit voltage below threshold",
    0x17: "circuit voltage above threshold",
    0x18: "circuit current below threshold",
    0x19: "circuit current above threshold",
    0x1A: "circuit resistance below threshold",
    0x1B: "circuit resistance above threshold",
    0x1C: "circuit voltage out of range",
    0x1D: "circuit current out of range",
    0x1E: "circuit resistance out of range",
    0x1F: "circuit intermittent",
    0x21: "signal amplitude < minimum",
    0x22: "signal amplitude > maximum",
    0x23: "signal stuck low",
    0x24: "signal stuck high",
    0x25: "signal shape / waveform failure",
    0x26: "signal rate of change below threshold",
    0x27: "signal rate of change above threshold",
    0x28: "signal bias level out of range / zero adjustment failure",
    0x29: "signal invalid",
    0x2F: "signal erratic",
    0x31: "no signal",
    0x32: "signal low time < minimum",
    0x33: "signal low time > maximum",
    0x34: "signal high time < minimum",
    0x35: "signal high time > maximum",
    0x36: "signal frequency too low",
    0x37: "signal frequency too high",
    0x38: "signal frequency incorrect",
    0x39: "signal has too few pulses",
    0x3A: "signal has too many pulses",
    0x41: "general checksum failure",
    0x42: "general memory failure",
    0x43: "special memory failure",
    0x44: "data memory failure",
    0x45: "program memory failure",
    0x46: "calibration / parameter memory failure",
    0x47: "watchdog / safety µC failure",
    0x48: "supervision software failure",
    0x49: "internal electronic failure",
    0x4A: "incorrect component installed",
    0x4B: "over temperature",
    0x51: "not programmed",
    0x52: "not activated",
    0x53: "deactivated",
    0x54: "missing calibration",
    0x55: "not configured",
    0x61: "signal calculation failure",
    0x62: "signal compare failure",
    0x63: "circuit / component protection time-out",
    0x64: "signal plausibility failure",
    0x65: "signal has too few transitions / events",
    0x66: "signal has too many transitions / events",
    0x67: "signal incorrect after event",
    0x68: "event information",
    0x71: "actuator stuck",
    0x72: "actuator stuck open",
    0x73: "actuator stuck closed",
    0x74: "actuator slipping",
    0x75: "emergency position not reachable",
    0x76: "wrong mounting position",
    0x77: "commanded position not reachable",
    0x78: "alignment or adjustment incorrect",
    0x79: "mechanical linkage failure",
    0x7A: "fluid leak or seal failure",
    0x7B: "low fluid level",
    0x81: "invalid serial data received",
    0x82: "alive / sequence counter incorrect / not updated",
    0x83: "value of signal protection calculation incorrect",
    0x84: "signal below allowable range",
    0x85: "signal above allowable range",
    0x86: "signal invalid",
    0x87: "missing message",
    0x88: "bus off",
    0x8F: "erratic",
    0x91: "parametric",
    0x92: "performance or incorrect operation",
    0x93: "no operation",
    0x94: "unexpected operation",
    0x95: "incorrect assembly",
    0x96: "component internal failure",
    0x97: "component or system operation obstructed or blocked",
    0x98: "component or system over temperature",
}

#: Generic (SAE-defined) codes an electric car is likely to show; makers' codes (P1xxx, C1xxx,
#: B1xxx, U1xxx...) mean what each maker says and are left unnamed.
GENERIC_MEANINGS = {
    "P0A0A": "high voltage system interlock circuit",
    "P0A0B": "high voltage system interlock circuit performance",
    "P0A1F": "battery energy control module",
    "P0A7F": "hybrid/EV battery pack deterioration",
    "P0A80": "replace hybrid/EV battery pack",
    "P0AA6": "hybrid/EV battery voltage system isolation fault",
    "P0AFA": "hybrid/EV battery system voltage low",
    "P0562": "system voltage low",
    "P0563": "system voltage high",
    "P0600": "serial communication link",
    "P0606": "control module processor",
    "U0001": "high speed CAN communication bus",
    "U0073": "control module communication bus A off",
    "U0100": "lost communication with ECM/PCM A",
    "U0101": "lost communication with TCM",
    "U0111": "lost communication with battery energy control module A",
    "U0121": "lost communication with anti-lock brake system (ABS) control module",
    "U0131": "lost communication with power steering control module",
    "U0140": "lost communication with body control module",
    "U0151": "lost communication with restraints control module",
    "U0155": "lost communication with instrument panel cluster (IPC) control module",
    "U0293": "lost communication with hybrid/EV powertrain control module",
}


def dtc_code(high: int, low: int) -> str:
    """``P0A80`` from its two bytes: 2 bits letter, 2 bits first digit, then three hex digits."""
    return f"{_LETTERS[high >> 6]}{(high >> 4) & 0x3}{high & 0x0F:X}{low:02X}"


def status_names(status: int) -> list[str]:
    return [name for bit, name in enumerate(STATUS_BITS) if status >> bit & 1]


def failure_type_name(value: int) -> str:
    if value in FAILURE_TYPES:
        return FAILURE_TYPES[value]
    if value >= 0xF0:
        return "manufacturer specific"
    return "reserved"


def uds_dtc(record: bytes) -> dict[str, Any]:
    """A UDS DTC-and-status record: 3 bytes of DTC (code and failure type), 1 of status."""
    code = dtc_code(record[0], record[1])
    out: dict[str, Any] = {
        "code": code, "failure_type": record[2], "failure": failure_type_name(record[2]),
        "status": record[3], "status_bits": status_names(record[3]),
    }
    meaning = GENERIC_MEANINGS.get(code)
    if meaning:
        out["meaning"] = meaning
    return out


def obd_dtc(high: int, low: int) -> dict[str, Any]:
    code = dtc_code(high, low)
    out: dict[str, Any] = {"code": code}
    meaning = GENERIC_MEANINGS.get(code)
    if meaning:
        out["meaning"] = meaning
    return out
