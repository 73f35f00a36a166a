"""OBD-II (SAE J1979 / ISO 15031-5) over CAN: mode 01 PIDs, supported-PID bitmaps, mode 03/07/0A
DTCs and mode 09 vehicle information. Pure decoding of payloads (without ISO-TP bytes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from evscreen.can.diag.dtc import obd_dtc


@dataclass(frozen=True)
class Pid:
    pid: int
    name: str
    length: int  # data bytes after the PID
    unit: str = ""
    formula: Callable[[bytes], Any] | None = None  # None: shown as hex


def _u16(d: bytes) -> int:
    return d[0] << 8 | d[1]


def _pct(d: bytes) -> float:
    return round(d[0] * 100 / 255, 2)


def _temp(d: bytes) -> int:
    return d[0] - 40


def _trim(d: bytes) -> float:
    return round(d[0] / 1.28 - 100, 2)


_PIDS = (
    Pid(0x01, "monitor status since DTCs cleared", 4),
    Pid(0x02, "freeze DTC", 2),
    Pid(0x03, "fuel system status", 2),
    Pid(0x04, "calculated engine load", 1, "%", _pct),
    Pid(0x05, "engine coolant temperature", 1, "°C", _temp),
    Pid(0x06, "short term fuel trim bank 1", 1, "%", _trim),
    Pid(0x07, "long term fuel trim bank 1", 1, "%", _trim),
    Pid(0x08, "short term fuel trim bank 2", 1, "%", _trim),
    Pid(0x09, "long term fuel trim bank 2", 1, "%", _trim),
    Pid(0x0A, "fuel pressure", 1, "kPa", lambda d: d[0] * 3),
    Pid(0x0B, "intake manifold absolute pressure", 1, "kPa", lambda d: d[0]),
    Pid(0x0C, "engine speed", 2, "rpm", lambda d: _u16(d) / 4),
    Pid(0x0D, "vehicle speed", 1, "km/h", lambda d: d[0]),
    Pid(0x0E, "timing advance", 1, "°", lambda d: d[0] / 2 - 64),
    Pid(0x0F, "intake air temperature", 1, "°C", _temp),
    Pid(0x10, "mass air flow rate", 2, "g/s", lambda d: _u16(d) / 100),
    Pid(0x11, "throttle position", 1, "%", _pct),
    Pid(0x12, "commanded secondary air status", 1),
    Pid(0x13, "oxygen sensors present", 1),
    Pid(0x1C, "OBD standard", 1, "", lambda d: d[0]),
    Pid(0x1D, "oxygen sensors present (4 banks)", 1),
    Pid(0x1E, "auxiliary input status", 1),
    Pid(0x1F, "run time since engine start", 2, "s", _u16),
    Pid(0x21, "distance traveled with MIL on", 2, "km", _u16),
    Pid(0x2C, "commanded EGR", 1, "%", _pct),
    Pid(0x2E, "commanded evaporative purge", 1, "%", _pct),
    Pid(0x2F, "fuel tank level input", 1, "%", _pct),
    Pid(0x30, "warm-ups since codes cleared", 1, "", lambda d: d[0]),
    Pid(0x31, "distance traveled since codes cleared", 2, "km", _u16),
    Pid(0x33, "absolute barometric pressure", 1, "kPa", lambda d: d[0]),
    Pid(0x41, "monitor status this drive cycle", 4),
    Pid(0x42, "control module voltage", 2, "V", lambda d: _u16(d) / 1000),
    Pid(0x43, "absolute load value", 2, "%", lambda d: round(_u16(d) * 100 / 255, 2)),
    Pid(0x44, "commanded air-fuel equivalence ratio", 2, "", lambda d: round(_u16(d) * 2 / 65536, 4)),
    Pid(0x45, "relative throttle position", 1, "%", _pct),
    Pid(0x46, "ambient air temperature", 1, "°C", _temp),
    Pid(0x47, "absolute throttle position B", 1, "%", _pct),
    Pid(0x49, "accelerator pedal position D", 1, "%", _pct),
    Pid(0x4A, "accelerator pedal position E", 1, "%", _pct),
    Pid(0x4C, "commanded throttle actuator", 1, "%", _pct),
    Pid(0x4D, "time run with MIL on", 2, "min", _u16),
    Pid(0x4E, "time since trouble codes cleared", 2, "min", _u16),
    Pid(0x51, "fuel type", 1, "", lambda d: d[0]),
    Pid(0x5A, "relative accelerator pedal position", 1, "%", _pct),
    Pid(0x5B, "hybrid/EV battery pack remaining life", 1, "%", _pct),
    Pid(0x5C, "engine oil temperature", 1, "°C", _temp),
    Pid(0x5E, "engine fuel rate", 2, "L/h", lambda d: _u16(d) / 20),
    Pid(0x61, "driver's demand engine torque", 1, "%", lambda d: d[0] - 125),
    Pid(0x62, "actual engine torque", 1, "%", lambda d: d[0] - 125),
    Pid(0x63, "engine reference torque", 2, "Nm", _u16),
    Pid(0x8E, "engine friction torque", 1, "%", lambda d: d[0] - 125),
    Pid(0x9A, "hybrid/EV vehicle system data", 6),
    Pid(0xA4, "transmission actual gear", 4),
    Pid(0xA6, "odometer", 4, "km", lambda d: int.from_bytes(d[:4], "big") / 10),
)
#: Mode 01 PIDs by number; 0x00, 0x20... 0xE0 (the supported-PID bitmaps) are handled apart.
PIDS: dict[int, Pid] = {p.pid: p for p in _PIDS}

BITMAP_PIDS = frozenset(range(0x00, 0x100, 0x20))

INFO_TYPES = {
    0x00: "supported info types",
    0x01: "VIN message count",
    0x02: "VIN",
    0x03: "calibration ID message count",
    0x04: "calibration ID",
    0x05: "CVN message count",
    0x06: "calibration verification number",
    0x07: "in-use performance tracking message count",
    0x08: "in-use performance tracking (spark ignition)",
    0x09: "ECU name message count",
    0x0A: "ECU name",
    0x0B: "in-use performance tracking (compression ignition)",
    0x0D: "engine serial number",
}


def supported_pids(base: int, bitmap: bytes) -> list[int]:
    """The PIDs a 4-byte supported-PID answer to PID ``base`` (0x00, 0x20...) announces: bit 7 of
    the first byte is PID base+1, bit 0 of the last base+0x20 (which says the next bitmap exists)."""
    out = []
    for i, byte in enumerate(bitmap[:4]):
        for bit in range(8):
            if byte & (0x80 >> bit):
                out.append(base + 1 + i * 8 + bit)
    return out


def decode_pid(pid: int, data: bytes) -> dict[str, Any]:
    """One PID's answer: {"pid", "name", "value", "unit"} (a bitmap gives "supported" instead)."""
    if pid in BITMAP_PIDS:
        return {"pid": f"{pid:02X}", "name": _pid_name(pid),
                "supported": [f"{p:02X}" for p in supported_pids(pid, data)]}
    spec = PIDS.get(pid)
    if spec is None:
        return {"pid": f"{pid:02X}", "name": None, "raw": data.hex().upper()}
    out: dict[str, Any] = {"pid": f"{pid:02X}", "name": spec.name}
    if spec.formula is None:
        out["raw"] = data[:spec.length].hex().upper()
    else:
        out["value"] = spec.formula(data)
        out["unit"] = spec.unit
    return out


def pid_length(pid: int) -> int | None:
    if pid in BITMAP_PIDS:
        return 4
    spec = PIDS.get(pid)
    return spec.length if spec is not None else None


def decode_mode01_response(body: bytes) -> dict[str, Any]:
    """``41`` answers: one or more (PID, data) pairs; an unknown PID ends the walk (its length is
    not known), the rest kept as hex."""
    values: list[dict[str, Any]] = []
    i = 0
    while i < len(body):
        pid = body[i]
        length = pid_length(pid)
        if length is None:
            values.append({"pid": f"{pid:02X}", "name": None, "raw": body[i + 1:].hex().upper()})
            break
        data = body[i + 1:i + 1 + length]
        if len(data) < length:
            values.append({"pid": f"{pid:02X}", "name": _pid_name(pid),
                           "raw": data.hex().upper(), "error": f"{len(data)} of {length} bytes"})
            break
        values.append(decode_pid(pid, data))
        i += 1 + length
    return {"pids": values}


def decode_dtc_list(body: bytes) -> dict[str, Any]:
    """Mode 03/07/0A answers over CAN: a count, then two bytes per DTC (0000 is padding)."""
    if not body:
        return {"count": None, "dtcs": []}
    count = body[0]
    dtcs = [obd_dtc(body[i], body[i + 1]) for i in range(1, len(body) - 1, 2) if body[i] or body[i + 1]]
    return {"count": count, "dtcs": dtcs[:count] if count else dtcs}


def _text(data: bytes) -> str:
    return data.replace(b"\x00", b"").decode("ascii", "replace").strip()


def decode_mode09_response(body: bytes) -> dict[str, Any]:
    """``49`` answers: info type, the number of data items, the items."""
    if not body:
        return {}
    info = body[0]
    out: dict[str, Any] = {"info_type": f"{info:02X}", "name": INFO_TYPES.get(info)}
    items = body[2:] if len(body) > 1 else b""
    if len(body) > 1:
        out["items"] = body[1]
    if info == 0x00:
        out["supported"] = [f"{p:02X}" for p in supported_pids(0, items)]
    elif info in (0x02, 0x0D):
        out["value"] = _text(items)
    elif info == 0x04:  # 16 characters per calibration ID
        out["value"] = [_text(items[i:i + 16]) for i in range(0, len(items), 16) if _text(items[i:i + 16])]
    elif info == 0x06:  # 4 bytes per CVN
        out["value"] = [items[i:i + 4].hex().upper() for i in range(0, len(items) - 3, 4)]
    elif info == 0x0A:  # 20 characters: the ECU's acronym, a dash, its name
        out["value"] = _text(items)
    elif info in (0x01, 0x03, 0x05, 0x07, 0x09) and len(body) > 1:
        out["value"] = body[1]
        out.pop("items", None)
    elif info in (0x08, 0x0B):
        out["value"] = [int.from_bytes(items[i:i + 2], "big") for i in range(0, len(items) - 1, 2)]
    else:
        out["raw"] = items.hex().upper()
    return out


def decode_request(mode: int, body: bytes) -> dict[str, Any]:
    if mode == 0x01:  # up to six PIDs in one request
        return {"pids": [{"pid": f"{p:02X}", "name": _pid_name(p)} for p in body[:6]]}
    if mode == 0x02:  # (PID, freeze frame number) pairs
        return {"pids": [{"pid": f"{p:02X}", "name": _pid_name(p), "frame": f}
                         for p, f in zip(body[0::2], body[1::2], strict=False)]}  # an odd last byte is dropped
    if mode == 0x09 and body:
        return {"info_type": f"{body[0]:02X}", "name": INFO_TYPES.get(body[0])}
    return {}


def _pid_name(pid: int) -> str | None:
    if pid in BITMAP_PIDS:
        return f"supported PIDs {pid + 1:02X}-{pid + 0x20:02X}"
    return PIDS[pid].name if pid in PIDS else None
