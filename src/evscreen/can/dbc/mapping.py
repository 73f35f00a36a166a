"""Telemetry field <-> ``Message.Signal`` mapping (pure), usable both ways.

The CAN source reads it forwards (signal value -> telemetry field); the simulated vehicle reads
it backwards (telemetry value -> the signal to encode). A mapping entry is written as

    battery_voltage = "BMS_PackStatus.PackVoltage"
    speed           = "Vehicle.SpeedMph * 1.609344"       # optional unit conversion
    cabin_temp      = "Climate.CabinTempF * 0.5556 - 17.78"

i.e. ``Message.Signal``, then optionally ``* factor`` or ``/ divisor``, then optionally
``+ offset`` or ``- offset``: ``field = signal * factor + offset``. An empty string unmaps a field.

Targets are telemetry paths (``speed``, ``tire_pressure.front_left``...), the car's own state
(``vehicle.ready``, ``vehicle.charging``, ``vehicle.odometer``: kept in the vehicle state, not sent
to the screen) and the vehicle's feedback of the screen's settings (``feedback.drive_mode``,
``feedback.regen_level``, ``feedback.charge_limit``), which the source keeps beside the telemetry.
``vehicle.ready`` and ``vehicle.charging`` are true or false: true when the signal, after the
conversion, is not zero (a flag bit, or an enumeration whose 0 means off).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from evscreen.can.dbc.spec import decimals
from evscreen.errors import ConfigError
from evscreen.state import CAR_STATE_PATHS, STATE_PATHS

if TYPE_CHECKING:
    from evscreen.can.dbc.decoder import CompiledMessage, DbcDecoder

FEEDBACK_FIELDS: tuple[str, ...] = ("feedback.drive_mode", "feedback.regen_level", "feedback.charge_limit")

#: Paths a mapping may write: telemetry values (the source owns ``connectivity.can_bus`` itself),
#: the car's state and the settings' feedback.
TARGET_FIELDS: frozenset[str] = frozenset(
    p for p in STATE_PATHS if not p.startswith("connectivity.")
) | CAR_STATE_PATHS | frozenset(FEEDBACK_FIELDS)

#: Targets that are true or false: a signal's value (after the conversion) is true when not zero.
BOOLEAN_FIELDS: frozenset[str] = frozenset({"vehicle.ready", "vehicle.charging"})

#: The mapping for evscreen's own DBC (``src/evscreen/can/dbc/evscreen.dbc``).
DEFAULT_SIGNALS: dict[str, str] = {
    "speed": "VCU_VehicleSpeed.VehicleSpeed",
    "wheel_speed": "ESC_Status.VehicleRefSpeed",
    "battery_soc": "BMS_SoC.SocDisplay",
    "battery_soh": "BMS_SoC.SoH",
    "battery_voltage": "BMS_PackStatus.PackVoltage",
    "battery_current": "BMS_PackStatus.PackCurrent",
    "power_kw": "BMS_PackStatus.PackPower",
    "motor_rpm": "MCU_Motor.MotorSpeed",
    "motor_temp": "MCU_Motor.MotorTemp",
    "cabin_temp": "FATC_Climate.CabinTemp",
    "ambient_temp": "FATC_Climate.AmbientTemp",
    "humidity": "FATC_Climate.CabinHumidity",
    "range_km": "VCU_Range.RangeKm",
    "efficiency_score": "VCU_Range.EcoScore",
    "tire_pressure.front_left": "TPMS_TirePressures.TirePressure_FL",
    "tire_pressure.front_right": "TPMS_TirePressures.TirePressure_FR",
    "tire_pressure.rear_left": "TPMS_TirePressures.TirePressure_RL",
    "tire_pressure.rear_right": "TPMS_TirePressures.TirePressure_RR",
    "battery_cells.block_a": "BMS_BlockStatus.BlockA_TempAvg",
    "battery_cells.block_b": "BMS_BlockStatus.BlockB_TempAvg",
    "battery_cells.block_c": "BMS_BlockStatus.BlockC_TempAvg",
    "feedback.drive_mode": "VCU_DriveSettings.DriveMode",
    "feedback.regen_level": "VCU_DriveSettings.RegenLevel",
    "feedback.charge_limit": "VCU_DriveSettings.ChargeLimit",
    "vehicle.ready": "VCU_DriveSettings.ReadyState",
    "vehicle.charging": "BMS_SoC.ChargeState",
    "vehicle.odometer": "VCU_Range.Odometer",
}

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_REF = re.compile(
    rf"^\s*(?P<message>[A-Za-z_]\w*)\.(?P<signal>[A-Za-z_]\w*)"
    rf"(?:\s*(?P<op>[*/])\s*(?P<factor>{_NUMBER}))?"
    rf"(?:\s*(?P<sign>[-+])\s*(?P<offset>{_NUMBER}))?\s*$"
)


@dataclass(frozen=True)
class SignalRef:
    """``field = Message.Signal * factor + offset``."""

    field: str
    message: str
    signal: str
    factor: float = 1.0
    offset: float = 0.0

    @property
    def is_identity(self) -> bool:
        return self.factor == 1.0 and self.offset == 0.0

    def to_field(self, value: Any) -> Any:
        """A decoded signal value as the telemetry field's value (names from value tables pass through)."""
        if self.is_identity or isinstance(value, str):
            return value
        return value * self.factor + self.offset

    def to_signal(self, value: float) -> float:
        """A telemetry value as the physical signal value to encode (the inverse of :meth:`to_field`)."""
        return (value - self.offset) / self.factor

    def text(self) -> str:
        out = f"{self.message}.{self.signal}"
        if self.factor != 1.0:
            out += f" * {self.factor:g}"
        if self.offset:
            out += f" {'+' if self.offset > 0 else '-'} {abs(self.offset):g}"
        return out


def parse_ref(target: str, text: str, where: str = "can.signals") -> SignalRef:
    """Parse one mapping entry; errors name the key (``where.target``: ``can.signals.speed``, or a
    profile's ``kona.toml: signals.speed``)."""
    key = f"{where}.{target}"
    if target not in TARGET_FIELDS:
        known = ", ".join(sorted(TARGET_FIELDS))
        raise ConfigError(f"{key}: not a telemetry field (known: {known})")
    m = _REF.match(text)
    if m is None:
        raise ConfigError(f"{key}: expected 'Message.Signal' with optional '* factor' and '+ offset', got {text!r}")
    factor = 1.0
    if m.group("factor") is not None:
        number = float(m.group("factor"))
        if m.group("op") == "/":
            if number == 0:
                raise ConfigError(f"{key}: cannot divide by zero in {text!r}")
            number = 1.0 / number
        factor = number
    if factor == 0 or not math.isfinite(factor):
        raise ConfigError(f"{key}: factor must be a finite non-zero number, got {text!r}")
    offset = 0.0
    if m.group("offset") is not None:
        offset = float(m.group("offset")) * (-1.0 if m.group("sign") == "-" else 1.0)
        if not math.isfinite(offset):
            raise ConfigError(f"{key}: offset must be finite, got {text!r}")
    return SignalRef(target, m.group("message"), m.group("signal"), factor, offset)


def mapping_table(signals: Mapping[str, str] | None, *, project_dbc: bool) -> dict[str, str]:
    """The effective ``field -> text`` table: for evscreen's DBC, the defaults overridden by ``signals``;
    for any other DBC, ``signals`` alone (the defaults name messages that DBC does not have)."""
    table = dict(DEFAULT_SIGNALS) if project_dbc else {}
    table.update(signals or {})
    return {k: v for k, v in table.items() if v.strip()}


def parse_mapping(table: Mapping[str, str], where: str = "can.signals") -> list[SignalRef]:
    return [parse_ref(target, text, where) for target, text in table.items()]


@dataclass
class MessageRoute:
    """The mapped signals of one message, ready for the per-frame loop."""

    message: CompiledMessage
    #: (signal, field, factor, offset, ndigits, choices, boolean) per mapped signal.
    entries: tuple[tuple[str, str, float, float, int | None, dict[int, str] | None, bool], ...]
    #: The message's generated decode function (any payload length; raises UnknownMux).
    decode: Any = None
    #: True when every full frame carries every mapped signal (no multiplexing).
    whole: bool = True


@dataclass
class SignalMap:
    """A mapping checked against a DBC: routes by frame ID for decoding, refs by field for encoding."""

    refs: dict[str, SignalRef]
    standard: dict[int, MessageRoute] = field(default_factory=dict)
    extended: dict[int, MessageRoute] = field(default_factory=dict)

    def route(self, frame_id: int, is_extended: bool) -> MessageRoute | None:
        return (self.extended if is_extended else self.standard).get(frame_id)

    def by_message(self) -> dict[str, list[SignalRef]]:
        """Refs grouped by message name: what an encoder needs to build each frame."""
        out: dict[str, list[SignalRef]] = {}
        for ref in self.refs.values():
            out.setdefault(ref.message, []).append(ref)
        return out

    def signal_values(self, values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """Telemetry values -> ``{message: {signal: physical value}}`` (the way back, for encoding)."""
        out: dict[str, dict[str, Any]] = {}
        for target, value in values.items():
            ref = self.refs.get(target)
            if ref is None or value is None:
                continue
            out.setdefault(ref.message, {})[ref.signal] = value if isinstance(value, str) else ref.to_signal(value)
        return out


def build_signal_map(refs: list[SignalRef], decoder: DbcDecoder, where: str = "can.signals") -> SignalMap:
    """Check every ref against ``decoder``'s DBC and index them by frame ID (errors name ``where.field``)."""
    grouped: dict[str, list[tuple[str, str, float, float, int | None, dict[int, str] | None, bool]]] = {}
    for ref in refs:
        key = f"{where}.{ref.field}"
        if not decoder.has_message(ref.message):
            close = _close(ref.message, [m.name for m in decoder.messages])
            raise ConfigError(f"{key}: no message {ref.message!r} in {decoder.name}{close}")
        message = decoder.message(ref.message)
        if ref.signal not in message.signals:
            close = _close(ref.signal, list(message.signals))
            raise ConfigError(f"{key}: message {ref.message} has no signal {ref.signal!r}{close}")
        spec = message.signals[ref.signal]
        numeric = spec["float"] or spec["conv"] == "linear" or not ref.is_identity
        boolean = ref.field in BOOLEAN_FIELDS
        ndigits = decimals(spec["scale"] * ref.factor) if numeric and not spec["float"] and not boolean else None
        choices = spec["choices"] if ref.field.startswith("feedback.") else None
        grouped.setdefault(ref.message, []).append(
            (ref.signal, ref.field, ref.factor, ref.offset, ndigits, choices, boolean)
        )
    result = SignalMap(refs={r.field: r for r in refs})
    for name, entries in grouped.items():
        message = decoder.message(name)
        table = result.extended if message.is_extended else result.standard
        table[message.frame_id] = MessageRoute(message, tuple(entries),
                                               decoder.functions(message.is_extended)[message.frame_id],
                                               whole=not message.spec["tree"]["mux"])
    return result


def route_values(route: MessageRoute, signals: Mapping[str, Any], out: dict[str, Any]) -> None:
    """Write the mapped fields of one decoded frame into ``out`` (signals missing from it are skipped)."""
    for signal, target, factor, offset, ndigits, choices, boolean in route.entries:
        value = signals.get(signal)
        if value is None:
            continue
        if choices is not None and value in choices:
            out[target] = choices[value]
            continue
        if factor != 1.0 or offset != 0.0:
            value = value * factor + offset
        if boolean:
            value = value != 0
        elif ndigits is not None:
            value = round(value, ndigits)
        out[target] = value


def _close(name: str, options: list[str]) -> str:
    import difflib

    found = difflib.get_close_matches(name, options, n=3)
    return f" (did you mean {', '.join(found)}?)" if found else ""
