"""A vehicle profile: what evscreen needs to read one car, checked when it is loaded (pure, no I/O).

A profile is one TOML file (docs/vehicles.md has the whole format and a worked example)::

    [vehicle]                 # how the car is shown, and what the journal needs to know
    name = "Hyundai Kona Electric (2019-2021)"
    description = "..."
    usable_capacity_kwh = 64.0
    extends = "evscreen"      # optional: start from another profile, change what follows

    [buses.pcan]              # one table per bus; the first is the one the CAN source reads
    dbc = "kona-pcan.dbc"     # relative to the profile file
    log_bus = "0"             # which bus of a multi-bus log (SavvyCAN's Bus column) carries it
    bitrate = 500000
    about = "Powertrain CAN, behind the gateway"

    [signals]                 # telemetry field = "Message.Signal [* factor] [+ offset]"
    speed = "CGW_450.Speed"
    [signals.battery_current] # or a table, to say what the signal is and how sure anyone is
    signal = "Batt_HV_Status.IBatt"
    about = "Pack current, A, positive while discharging"
    confidence = "likely"

    [[diagnostics.requests]]  # polled over ISO-TP (issue 16); validated here, polled there
    name = "bms_2101"
    request_id = 0x7E4
    response_id = 0x7EC
    request = "220101"
    intervals = { off = 0, on = 10, charging = 10 }
      [[diagnostics.requests.fields]]
      target = "battery_soc"
      byte = 7
      scale = 0.5

:func:`profile_from_dict` turns the parsed TOML into a :class:`Profile`, or raises a
:class:`~evscreen.errors.ConfigError` naming the file, the key, what it holds and what is allowed:
``kona.toml: diagnostics.requests[0].fields[2].length: must be an integer from 1 to 8, got 9``.
Signals are checked against the DBC only when it is loaded (:mod:`evscreen.vehicles.loader`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, NoReturn

from evscreen.can.dbc.mapping import TARGET_FIELDS, SignalRef, parse_ref
from evscreen.config.loader import (  # how config errors show values: the same here
    _num,
    _show,
)
from evscreen.errors import ConfigError

#: How sure the community is about what a signal means.
CONFIDENCE: dict[str, str] = {
    "confirmed": "checked against the car's own display or instruments, by more than one person",
    "likely": "named and consistent in community logs, not independently confirmed",
    "guess": "a plausible reading that nobody has confirmed; check it before trusting it",
}
#: The car states a diagnostic request has an interval for (as OVMS's poll tables do).
CAR_STATES: tuple[str, ...] = ("off", "on", "charging")
#: Diagnostic requests are read-only: the UDS/OBD services a profile may ask for. Write (0x2E),
#: routine control (0x31), reset (0x11), clear DTCs (0x14, mode 04) and the like are refused.
READ_SERVICES: dict[int, str] = {
    0x01: "OBD-II mode 01 (current data)",
    0x02: "OBD-II mode 02 (freeze frame)",
    0x03: "OBD-II mode 03 (stored DTCs)",
    0x06: "OBD-II mode 06 (test results)",
    0x07: "OBD-II mode 07 (pending DTCs)",
    0x09: "OBD-II mode 09 (vehicle information)",
    0x0A: "OBD-II mode 0A (permanent DTCs)",
    0x19: "UDS ReadDTCInformation",
    0x21: "KWP2000 ReadDataByLocalIdentifier",
    0x22: "UDS ReadDataByIdentifier",
}
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_MAX_TEXT = 2000


@dataclass(frozen=True)
class Bus:
    """One CAN bus of the car."""

    name: str
    #: Its DBC, as the profile names it (relative to the profile file) or absolute; None: no
    #: broadcast decoding on this bus (a diagnostics-only bus such as the OBD-II port's).
    dbc: str | None = None
    #: The bus of a multi-bus log that carries it ("0", "can1"...); None: the log has only this one.
    log_bus: str | None = None
    bitrate: int | None = None
    about: str = ""


@dataclass(frozen=True)
class MappedSignal:
    """One ``[signals]`` entry: a telemetry field read from a DBC signal, and what is known of it."""

    ref: SignalRef
    about: str = ""
    confidence: str | None = None  # a key of CONFIDENCE, or None when the profile does not say

    @property
    def field(self) -> str:
        return self.ref.field


@dataclass(frozen=True)
class DiagField:
    """A value in a diagnostic response: ``value = raw * scale + offset`` into ``target``.

    ``byte`` counts from the first byte of the response (the service's positive answer: for
    ``22 01 01`` the response starts ``62 01 01``, bytes 0-2).
    """

    target: str
    byte: int
    length: int = 1
    signed: bool = False
    scale: float = 1.0
    offset: float = 0.0
    byte_order: str = "big"  # or "little"
    about: str = ""
    confidence: str | None = None

    def decode(self, response: bytes) -> float | None:
        """The field's value in ``response``, or None when the response is too short for it."""
        from evscreen.can.diag.fields import FieldError, extract

        try:
            return extract(response, self.byte, self.length, self.signed, self.scale, self.offset, self.byte_order)
        except FieldError:
            return None


@dataclass(frozen=True)
class DiagRequest:
    """A diagnostic request polled over ISO-TP, and the fields its response carries."""

    name: str
    request_id: int
    response_id: int
    request: bytes
    #: Seconds between requests in each car state (off, on, charging); 0: not polled in that state.
    intervals: Mapping[str, float]
    fields: tuple[DiagField, ...]
    bus: str
    extended: bool = False  # 29-bit identifiers (0x18DA...)
    ecu: str = ""
    timeout: float = 1.0  # seconds to wait for the answer (real BMSs answer slowly)
    response_length: int | None = None  # bytes a complete response has, when known
    about: str = ""

    @property
    def service(self) -> int:
        return self.request[0]


@dataclass(frozen=True)
class Profile:
    """A checked vehicle profile. ``path`` is the file it was read from (None if built in memory)."""

    id: str
    name: str
    buses: tuple[Bus, ...]
    signals: tuple[MappedSignal, ...] = ()
    diagnostics: tuple[DiagRequest, ...] = ()
    description: str = ""
    usable_capacity_kwh: float | None = None
    extends: str | None = None
    path: PurePath | None = None
    builtin: bool = False
    #: For a user profile: the built-in profile it replaces (same id), if any.
    overrides_builtin: bool = field(default=False, compare=False)

    @property
    def primary(self) -> Bus:
        """The bus the CAN source reads and ``[signals]`` decode on: the first one."""
        return self.buses[0]

    def dbc_path(self, bus: Bus | None = None) -> PurePath | None:
        """The bus's DBC as a path, relative names taken from the profile file's folder."""
        bus = bus or self.primary
        if bus.dbc is None:
            return None
        path = PurePath(bus.dbc)
        if not path.is_absolute() and self.path is not None:
            path = self.path.parent / path
        return path

    def mapping_table(self) -> dict[str, str]:
        """``field -> "Message.Signal * factor + offset"``, as ``[can.signals]`` writes it."""
        return {s.field: s.ref.text() for s in self.signals}


# --- building and checking ---------------------------------------------------------------------


class _Check:
    """Checks one profile file's values; every error names the file and the key."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, key: str, why: str, value: Any = ..., *, allowed: str = "") -> NoReturn:
        got = "" if value is ... else f", got {_show(value)}"
        more = f" (allowed: {allowed})" if allowed else ""
        raise ConfigError(f"{self.origin}: {key}: {why}{got}{more}")

    def table(self, value: Any, key: str, allowed: tuple[str, ...] | None = None) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(key, "must be a table", value)
        if allowed is not None:
            for name in value:
                if name not in allowed:
                    self.fail(f"{key}.{name}" if key else name, "unknown key", allowed=", ".join(allowed))
        return value

    def text(self, value: Any, key: str, *, required: bool = False, limit: int = _MAX_TEXT) -> str:
        if value is None and not required:
            return ""
        if not isinstance(value, str) or "\x00" in value:
            self.fail(key, "must be a string", value)
        if required and not value.strip():
            self.fail(key, "must not be empty")
        if len(value) > limit:
            self.fail(key, f"must be at most {limit} characters long")
        return value

    def number(self, value: Any, key: str, lo: float, hi: float, *, integer: bool = False) -> Any:
        ok = isinstance(value, int) if integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok or not math.isfinite(value) or not lo <= value <= hi:
            noun = "an integer" if integer else "a number"
            self.fail(key, f"must be {noun} from {_num(lo)} to {_num(hi)}", value)
        return value if integer else float(value)

    def flag(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            self.fail(key, "must be true or false", value)
        return value

    def confidence(self, value: Any, key: str) -> str | None:
        if value is None:
            return None
        if value not in CONFIDENCE:
            self.fail(key, "unknown confidence", value, allowed=", ".join(CONFIDENCE))
        return str(value)

    def target(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or value not in TARGET_FIELDS:
            self.fail(key, "not a telemetry field", value, allowed=", ".join(sorted(TARGET_FIELDS)))
        return value


def profile_from_dict(doc: Mapping[str, Any], profile_id: str, *, origin: str | None = None,
                      path: PurePath | None = None, builtin: bool = False) -> Profile:
    """Check a parsed profile file and build its :class:`Profile`; ConfigError naming file and key.

    ``profile_id`` is the profile's name (its file name without ``.toml``); ``origin`` is how errors
    name the file (default: ``path``, else ``<id>.toml``). ``extends`` must already be resolved: the
    loader merges the base profile in before this is called.
    """
    check = _Check(origin or (str(path) if path is not None else f"{profile_id}.toml"))
    if not NAME_PATTERN.fullmatch(profile_id):
        check.fail("profile name", "must be 1-64 lower-case letters, digits, '-' or '_', starting with a letter"
                   " or digit (the file name without .toml)", profile_id)
    check.table(doc, "", ("vehicle", "buses", "signals", "diagnostics"))
    vehicle = check.table(doc.get("vehicle", {}), "vehicle",
                          ("name", "description", "usable_capacity_kwh", "extends"))
    name = check.text(vehicle.get("name"), "vehicle.name", limit=200) or profile_id
    description = check.text(vehicle.get("description"), "vehicle.description")
    capacity = vehicle.get("usable_capacity_kwh")
    if capacity is not None:
        capacity = check.number(capacity, "vehicle.usable_capacity_kwh", 1.0, 1000.0)
    extends = vehicle.get("extends")
    if extends is not None and (not isinstance(extends, str) or not NAME_PATTERN.fullmatch(extends)):
        check.fail("vehicle.extends", "must name another profile", extends)

    buses = _buses(check, doc.get("buses"))
    bus_names = [b.name for b in buses]
    signals = _signals(check, doc.get("signals", {}))
    if signals and buses[0].dbc is None:
        check.fail("signals", f"decode with the first bus's DBC, and buses.{buses[0].name} has no dbc")
    diagnostics = _diagnostics(check, doc.get("diagnostics", {}), bus_names)
    return Profile(id=profile_id, name=name, description=description, usable_capacity_kwh=capacity,
                   buses=buses, signals=signals, diagnostics=diagnostics, extends=extends, path=path,
                   builtin=builtin)


_BUS_KEYS = ("dbc", "log_bus", "bitrate", "about")


def _buses(check: _Check, value: Any) -> tuple[Bus, ...]:
    if value is None:
        check.fail("buses", "missing: a profile names at least one bus ([buses.NAME] with its dbc)")
    tables = check.table(value, "buses")
    if not tables:
        check.fail("buses", "must name at least one bus ([buses.NAME] with its dbc)")
    out = []
    for name, spec in tables.items():
        key = f"buses.{name}"
        if not NAME_PATTERN.fullmatch(name):
            check.fail(key, "a bus name is 1-64 lower-case letters, digits, '-' or '_'", name)
        check.table(spec, key, _BUS_KEYS)
        dbc = spec.get("dbc")
        if dbc is not None:
            dbc = check.text(dbc, f"{key}.dbc", required=True, limit=4096)
        log_bus = spec.get("log_bus")
        if isinstance(log_bus, int) and not isinstance(log_bus, bool) and log_bus >= 0:
            log_bus = str(log_bus)  # `log_bus = 0` means bus "0"
        if log_bus is not None:
            log_bus = check.text(log_bus, f"{key}.log_bus", required=True, limit=64)
        bitrate = spec.get("bitrate")
        if bitrate is not None:
            bitrate = check.number(bitrate, f"{key}.bitrate", 10_000, 8_000_000, integer=True)
        out.append(Bus(name, dbc, log_bus, bitrate, check.text(spec.get("about"), f"{key}.about")))
    return tuple(out)


_SIGNAL_KEYS = ("signal", "about", "confidence")


def flatten_signals(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``[signals]`` with TOML's dotted keys undone: ``tire_pressure.front_left = "..."`` parses
    as a nested table, and means the field ``tire_pressure.front_left``. A table with a ``signal``,
    ``about`` or ``confidence`` key is one entry, not a group."""
    out: dict[str, Any] = {}
    for name, value in table.items():
        target = f"{prefix}{name}"
        if isinstance(value, dict) and value and not any(k in value for k in _SIGNAL_KEYS):
            out.update(flatten_signals(value, f"{target}."))
        else:
            out[target] = value
    return out


def _signals(check: _Check, value: Any) -> tuple[MappedSignal, ...]:
    out = []
    for target, entry in flatten_signals(check.table(value, "signals")).items():
        key = f"signals.{target}"
        about, confidence = "", None
        if isinstance(entry, dict):
            check.table(entry, key, _SIGNAL_KEYS)
            if "signal" not in entry:
                check.fail(key, "a signal table needs signal = \"Message.Signal\"")
            about = check.text(entry.get("about"), f"{key}.about")
            confidence = check.confidence(entry.get("confidence"), f"{key}.confidence")
            entry = entry["signal"]
        if not isinstance(entry, str):
            check.fail(key, "must be \"Message.Signal [* factor] [+ offset]\" or a table with signal", entry)
        if not entry.strip():
            continue  # an empty mapping unmaps the field (in a profile that extends another)
        out.append(MappedSignal(parse_ref(target, entry, f"{check.origin}: signals"), about, confidence))
    return tuple(out)


_DIAG_KEYS = ("requests",)
_REQUEST_KEYS = ("name", "ecu", "bus", "request_id", "response_id", "extended", "request", "intervals",
                 "timeout", "response_length", "about", "fields")
_FIELD_KEYS = ("target", "byte", "length", "signed", "scale", "offset", "byte_order", "about", "confidence")
MAX_RESPONSE = 4095  # the longest ISO-TP message (12-bit length)


def _diagnostics(check: _Check, value: Any, bus_names: list[str]) -> tuple[DiagRequest, ...]:
    table = check.table(value, "diagnostics", _DIAG_KEYS)
    requests = table.get("requests", [])
    if not isinstance(requests, list):
        check.fail("diagnostics.requests", "must be an array of tables ([[diagnostics.requests]])", requests)
    out: list[DiagRequest] = []
    names: set[str] = set()
    for i, spec in enumerate(requests):
        key = f"diagnostics.requests[{i}]"
        request = _request(check, spec, key, bus_names)
        if request.name in names:
            check.fail(f"{key}.name", "another request has this name", request.name)
        names.add(request.name)
        out.append(request)
    return tuple(out)


def _request(check: _Check, spec: Any, key: str, bus_names: list[str]) -> DiagRequest:
    check.table(spec, key, _REQUEST_KEYS)
    for required in ("name", "request_id", "response_id", "request", "fields"):
        if required not in spec:
            check.fail(f"{key}.{required}", "missing")
    name = check.text(spec["name"], f"{key}.name", required=True)
    if not NAME_PATTERN.fullmatch(name):
        check.fail(f"{key}.name", "must be 1-64 lower-case letters, digits, '-' or '_'", name)
    extended_given = spec.get("extended")
    extended = check.flag(extended_given, f"{key}.extended") if extended_given is not None else None
    ids = []
    for id_key in ("request_id", "response_id"):
        value = spec[id_key]
        top = 0x1FFFFFFF if extended is not False else 0x7FF
        ids.append(check.number(value, f"{key}.{id_key}", 0, top, integer=True))
    if extended is None:
        extended = any(i > 0x7FF for i in ids)
    if ids[0] == ids[1]:
        check.fail(f"{key}.response_id", "must differ from request_id", ids[1])
    raw = check.text(spec["request"], f"{key}.request", required=True, limit=64)
    try:
        request = bytes.fromhex(raw)
    except ValueError:
        check.fail(f"{key}.request", "must be hex bytes, e.g. \"220101\" or \"22 01 01\"", raw)
    if not request:
        check.fail(f"{key}.request", "must hold at least the service byte", raw)
    if request[0] not in READ_SERVICES:
        check.fail(f"{key}.request", f"service 0x{request[0]:02X} is not a read service; the poller only reads",
                   raw, allowed=", ".join(f"0x{s:02X} {n}" for s, n in READ_SERVICES.items()))
    intervals = _intervals(check, spec.get("intervals"), f"{key}.intervals")
    timeout = check.number(spec.get("timeout", 1.0), f"{key}.timeout", 0.05, 60.0)
    length = spec.get("response_length")
    if length is not None:
        length = check.number(length, f"{key}.response_length", 1, MAX_RESPONSE, integer=True)
    bus = spec.get("bus", bus_names[0])
    if bus not in bus_names:
        check.fail(f"{key}.bus", "no such bus in this profile", bus, allowed=", ".join(bus_names))
    fields_spec = spec["fields"]
    if not isinstance(fields_spec, list) or not fields_spec:
        check.fail(f"{key}.fields", "must be a non-empty array of tables ([[diagnostics.requests.fields]])",
                   fields_spec)
    fields = tuple(_field(check, f, f"{key}.fields[{j}]", length) for j, f in enumerate(fields_spec))
    return DiagRequest(name=name, request_id=ids[0], response_id=ids[1], request=request, intervals=intervals,
                       fields=fields, bus=bus, extended=extended, ecu=check.text(spec.get("ecu"), f"{key}.ecu",
                                                                                 limit=64),
                       timeout=timeout, response_length=length, about=check.text(spec.get("about"), f"{key}.about"))


def _intervals(check: _Check, value: Any, key: str) -> dict[str, float]:
    if value is None:
        check.fail(key, "missing: seconds between requests per car state, e.g. { off = 0, on = 10, charging = 10 }"
                   " (0: not polled in that state)")
    table = check.table(value, key, CAR_STATES)
    out = {state: check.number(table.get(state, 0), f"{key}.{state}", 0.0, 86400.0) for state in CAR_STATES}
    for state, seconds in out.items():
        if 0 < seconds < 0.1:
            check.fail(f"{key}.{state}", "must be 0 (not polled) or at least 0.1 s", seconds)
    if not any(out.values()):
        check.fail(key, "polls in no car state: give at least one of off, on, charging a number of seconds")
    return out


def _field(check: _Check, spec: Any, key: str, response_length: int | None) -> DiagField:
    check.table(spec, key, _FIELD_KEYS)
    for required in ("target", "byte"):
        if required not in spec:
            check.fail(f"{key}.{required}", "missing")
    target = check.target(spec["target"], f"{key}.target")
    byte = check.number(spec["byte"], f"{key}.byte", 0, MAX_RESPONSE - 1, integer=True)
    length = check.number(spec.get("length", 1), f"{key}.length", 1, 8, integer=True)
    if response_length is not None and byte + length > response_length:
        check.fail(f"{key}.byte", f"bytes {byte}-{byte + length - 1} lie beyond the response's "
                   f"{response_length} bytes (response_length)", byte)
    scale = check.number(spec.get("scale", 1.0), f"{key}.scale", -1e9, 1e9)
    if scale == 0:
        check.fail(f"{key}.scale", "must not be 0", scale)
    order = spec.get("byte_order", "big")
    if order not in ("big", "little"):
        check.fail(f"{key}.byte_order", "unknown byte order", order, allowed="big, little")
    return DiagField(target=target, byte=byte, length=length,
                     signed=check.flag(spec.get("signed", False), f"{key}.signed"), scale=scale,
                     offset=check.number(spec.get("offset", 0.0), f"{key}.offset", -1e12, 1e12),
                     byte_order=order, about=check.text(spec.get("about"), f"{key}.about"),
                     confidence=check.confidence(spec.get("confidence"), f"{key}.confidence"))

