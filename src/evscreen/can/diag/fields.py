"""Values out of a diagnostic response, as a vehicle profile describes them.

A field is an integer (big-endian, as UDS sends them, unless the profile says little) at a byte
``offset`` counted from the first byte of the response (for a UDS ReadDataByIdentifier answer,
``62 01 01`` are bytes 0–2), ``length`` bytes long, ``signed`` or not, then
``value = raw * scale + offset``. Pure; a profile's
:class:`~evscreen.vehicles.profile.DiagField` decodes with it.
"""

from __future__ import annotations

from evscreen.can.dbc.spec import decimals


class FieldError(ValueError):
    """The response is too short for the field."""


def extract(response: bytes, byte: int, length: int = 1, signed: bool = False, scale: float = 1.0,
            offset: float = 0.0, byte_order: str = "big") -> float | int:
    """``raw * scale + offset``; an int when both are whole numbers (a cell number stays 37)."""
    end = byte + length
    if byte < 0 or length < 1 or end > len(response):
        raise FieldError(f"bytes {byte}-{end - 1} asked of a {len(response)}-byte response")
    raw = int.from_bytes(response[byte:end], "little" if byte_order == "little" else "big", signed=signed)
    if scale == 1 and offset == 0:
        return raw
    value = raw * scale + offset
    if isinstance(scale, int) and isinstance(offset, int):
        return value
    # A scale like 0.1 leaves float noise (0.30000000000000004): round to what the scale can say.
    return round(value, max(decimals(scale), decimals(offset)))

