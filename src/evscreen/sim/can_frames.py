"""The simulated car's ECUs: its outputs as the CAN frames of evscreen's DBC (pure, no I/O).

:class:`CarBus` sends every cyclic message of the DBC at its ``GenMsgCycleTime`` in simulated
time, each frame carrying the latest values given to :meth:`CarBus.update` (sample and hold, as an
ECU sends its latest measurement). Payloads are built with the mapping used backwards — a
telemetry value becomes its signal's physical value with the mapping's factor and offset inverted,
then the DBC's scale and offset — so decoding the frames gives back the telemetry at the bus's
resolution. Signals no telemetry field maps are filled from the model too (:func:`ecu_signals`);
rolling counters count frames and checksums are CRC-8 SAE J1850, as the DBC's comments say.

Each message variant (one per multiplexer value: ``BMS_BlockStatus`` sends blocks A, B, C in
turn) is encoded once per update; a frame then only ORs in its counter and computes its checksum.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

from evscreen.can.dbc.encoder import MessageEncoder
from evscreen.can.dbc.mapping import SignalMap
from evscreen.can.dbc.spec import DbcSpec
from evscreen.sim.motor import MotorParams
from evscreen.sim.vehicle import STEP_S, VehicleModel, VehicleOutputs, field_values

COUNTER_SUFFIX = "Counter"  # DBC signals so named are rolling counters (+1 per frame)
CHECKSUM_SUFFIX = "Checksum"  # ...and these the CRC-8 of the frame's other bytes
SOC_BUFFER_BOTTOM = 3.0  # % of the pack below 0 % shown, and above 100 % shown: the BMS's buffers
SOC_BUFFER_TOP = 2.0
PEDAL_TORQUE_NM = MotorParams().peak_torque_nm  # the accelerator's full travel asks for peak torque
HVAC_W_PER_FAN_LEVEL = 250.0
COOLANT_ABOVE_AMBIENT_C = 5.0  # as the model's motor coolant loop
INVERTER_K_PER_W = 0.004  # inverter rise above its coolant per watt of drive losses (steady state)


class Frame(NamedTuple):
    """One frame on the bus; ``timestamp`` in simulated seconds."""

    timestamp: float
    arbitration_id: int
    is_extended: bool
    data: bytes


def crc8_j1850(data: bytes | bytearray | Iterable[int]) -> int:
    """CRC-8 SAE J1850 (polynomial 0x1D, initial 0xFF, final XOR 0xFF), as AUTOSAR E2E profile 1 uses."""
    crc = 0xFF
    table = _CRC_TABLE
    for byte in data:
        crc = table[crc ^ byte]
    return crc ^ 0xFF


def _crc_table() -> tuple[int, ...]:
    table = []
    for value in range(256):
        crc = value
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1D) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()


def bus_fields(out: VehicleOutputs) -> dict[str, Any]:
    """The values a mapping may target (telemetry paths and the settings' feedback), unrounded."""
    values = field_values(out)
    values["feedback.drive_mode"] = out.drive_mode
    values["feedback.regen_level"] = out.regen_level
    values["feedback.charge_limit"] = out.charge_limit
    return values


def ecu_signals(out: VehicleOutputs, yaw_rate_dps: float = 0.0) -> dict[str, dict[str, Any]]:
    """``{message: {signal: physical value}}`` for the DBC's signals that carry no telemetry field.

    Counters and checksums are the frame builder's business, and mapped signals come from the
    mapping; what is left is what a real car's ECUs would also report, derived from the model.
    """
    charging = out.charging
    off = charging or out.parked  # not Ready: at the charger, or parked and switched off
    standing = out.speed_ms <= 0.0
    torque = out.motor_torque_nm
    if off:
        motor_state = "Off"
    elif torque > 0.0:
        motor_state = "Drive"
    elif torque < 0.0:
        motor_state = "Regen"
    else:
        motor_state = "Standby" if standing else "Drive"
    coolant = out.ambient_temp_c + COOLANT_ABOVE_AMBIENT_C
    cell_v = out.battery_voltage / 98.0
    spread = 0.004 + abs(out.battery_current) * 2e-5  # cell-to-cell mismatch shows under load
    block_heat = out.battery_heat_w / 3.0
    blocks = {}
    for i, name in enumerate("ABC"):
        avg = out.battery_temps_c[i]
        blocks[f"Block{name}_TempAvg"] = avg
        blocks[f"Block{name}_TempMax"] = avg + 0.5 + 4e-4 * block_heat
        blocks[f"Block{name}_CellVoltMin"] = cell_v - spread - 0.001 * i
        blocks[f"Block{name}_CellVoltMax"] = cell_v + spread + 0.001 * i
    hours = out.time_s / 3600.0
    mean_kmh = out.odometer_m / 1000.0 / hours if hours > 0 else 0.0
    climate_wh_per_km = out.hvac_power_w / max(mean_kmh, 10.0)
    wheel_kmh, kmh = out.wheel_speed_ms * 3.6, out.speed_ms * 3.6
    return {
        "MCU_Motor": {
            "MotorTorque": torque,
            "InverterTemp": coolant + INVERTER_K_PER_W * out.motor_loss_w,
            "MotorState": motor_state,
        },
        "VCU_VehicleSpeed": {
            "GearPosition": "P" if off else "D",
            "BrakePedal": 1 if out.friction_brake_force_n > 0.0 or (standing and not off) else 0,
            "AccelPedal": max(0.0, torque) / PEDAL_TORQUE_NM * 100.0,
        },
        # Front-wheel drive: the driven wheels turn with the tyres' slip, the others at road speed.
        "ESC_WheelSpeeds": {"WheelSpeed_FL": wheel_kmh, "WheelSpeed_FR": wheel_kmh,
                            "WheelSpeed_RL": kmh, "WheelSpeed_RR": kmh},
        "ESC_Status": {"LongAccel": out.accel_ms2, "YawRate": yaw_rate_dps,
                       "AbsActive": 0, "TcsActive": 0, "EscOff": 0},
        "BMS_PackStatus": {"ContactorState": "Closed"},
        "BMS_SoC": {
            "SocActual": SOC_BUFFER_BOTTOM + out.battery_soc * (100.0 - SOC_BUFFER_BOTTOM - SOC_BUFFER_TOP) / 100.0,
            "ChargeState": "ChargingDC" if out.charging_phase == "charging" else "Idle",
            "AvailableChargePower": out.battery_charge_limit_w / 1000.0,
            "AvailableDischargePower": out.battery_discharge_limit_w / 1000.0,
        },
        "BMS_BlockStatus": blocks,
        "BMS_Energy": {"EnergyRemaining": out.energy_remaining_wh / 1000.0,
                       "EnergyCapacity": out.energy_capacity_wh / 1000.0},
        "VCU_Range": {
            "RangeClimateOffKm": max(0.0, out.energy_remaining_wh)
            / max(60.0, out.consumption_wh_per_km - climate_wh_per_km),
            "ConsumptionAvg": out.consumption_wh_per_km / 10.0,  # kWh/100 km
            "Odometer": out.odometer_m / 1000.0,
        },
        "FATC_Climate": {
            "SetpointTemp": out.cabin_set_point_c,
            "AcOn": 1 if out.hvac_power_w > 0.0 and out.cabin_temp_c > out.cabin_set_point_c else 0,
            "FanLevel": min(8, math.ceil(out.hvac_power_w / HVAC_W_PER_FAN_LEVEL)),
            "HeaterPower": 0.0,  # a heat pump car: the compressor heats and cools
            "CompressorPower": out.hvac_power_w / 1000.0,
        },
        "VCU_DriveSettings": {"ReadyState": "NotReady" if off else "Ready"},
        "TPMS_TirePressures": {
            f"TireTemp_{w}": t for w, t in zip(("FL", "FR", "RL", "RR"), out.tyre_temps_c, strict=True)
        },
    }


def heading_change(before_deg: float, after_deg: float) -> float:
    """Signed change of a compass heading, -180..180 degrees (clockwise positive)."""
    return (after_deg - before_deg + 180.0) % 360.0 - 180.0


class _Schedule:
    """One cyclic message: its encoder, when its next frame is due, what that frame carries."""

    __slots__ = ("encoder", "period_us", "next_us", "sent", "templates", "counter_bits", "checksum_byte",
                 "frame_id", "is_extended", "length")

    def __init__(self, encoder: MessageEncoder, start_us: int) -> None:
        self.encoder = encoder
        self.frame_id = encoder.frame_id
        self.is_extended = encoder.is_extended
        self.length = encoder.length
        self.period_us = int(encoder.cycle_time or 0) * 1000
        self.next_us = start_us
        self.sent = 0  # frames scheduled so far (the counter and the multiplexer variant follow it)
        self.templates = [0] * len(encoder.variants)
        counters = [n for n in encoder.signals if n.endswith(COUNTER_SUFFIX)]
        self.counter_bits: list[int] | None = None
        if counters:
            signal = counters[0]
            size = 1 << encoder.signals[signal].length
            self.counter_bits = [encoder.raw_bits(signal, k) for k in range(size)]
        self.checksum_byte: int | None = None
        for name, s in encoder.signals.items():
            if name.endswith(CHECKSUM_SUFFIX):
                if s.length != 8 or s.shift % 8:
                    raise ValueError(f"{encoder.name}.{name}: a checksum must be one whole byte")
                self.checksum_byte = s.shift // 8 if s.little else encoder.length - 1 - s.shift // 8

    def frame(self, number: int, t_us: int) -> Frame:
        variant = number % len(self.templates)
        bits = self.templates[variant]
        if self.counter_bits is not None:
            bits |= self.counter_bits[number % len(self.counter_bits)]
        data = bits.to_bytes(self.length, "big")
        j = self.checksum_byte
        if j is not None:
            crc = crc8_j1850(data[:j] + data[j + 1:])
            data = data[:j] + bytes((crc,)) + data[j + 1:]
        return Frame(t_us / 1e6, self.frame_id, self.is_extended, data)


class CarBus:
    """Every cyclic message of a DBC, each at its cycle time in simulated time.

    ``update(outputs)`` sets what the next frames carry; ``frames_until(t)`` returns the frames
    due before simulated time ``t`` in time order. All messages start together at ``start_s``,
    as the ECUs do when the car wakes up.
    """

    def __init__(self, spec: DbcSpec, signal_map: SignalMap, start_s: float = 0.0) -> None:
        self.signal_map = signal_map
        start_us = round(start_s * 1e6)
        self.schedules = [_Schedule(MessageEncoder(m), start_us) for m in spec["messages"] if m["cycle_time"]]
        self._by_name = {s.encoder.name: s for s in self.schedules}
        self._last_heading: tuple[float, float] | None = None  # (time, heading) for the yaw rate

    @property
    def frames_per_second(self) -> float:
        """Frames a second of simulated time carries."""
        return sum(1e6 / s.period_us for s in self.schedules)

    def signal_values(self, out: VehicleOutputs) -> dict[str, dict[str, Any]]:
        """``{message: {signal: physical value}}``: the ECUs' own signals, the mapped fields on top."""
        yaw = 0.0
        last = self._last_heading
        if last is not None and out.time_s > last[0]:
            yaw = -heading_change(last[1], out.heading_deg) / (out.time_s - last[0])  # left turn positive
        self._last_heading = (out.time_s, out.heading_deg)
        values = ecu_signals(out, yaw)
        for message, signals in self.signal_map.signal_values(bus_fields(out)).items():
            values.setdefault(message, {}).update(signals)
        return values

    def update(self, out: VehicleOutputs) -> None:
        """Encode every message variant from the car's outputs; frames sent from now on carry them."""
        self.set_signals(self.signal_values(out))

    def set_signals(self, values: Mapping[str, Mapping[str, Any]]) -> None:
        empty: dict[str, Any] = {}
        for schedule in self.schedules:
            signals = values.get(schedule.encoder.name, empty)
            encode = schedule.encoder.encode_int
            schedule.templates = [encode(signals, v) for v in range(len(schedule.templates))]

    def frames_until(self, t_s: float, *, latest_only: bool = False) -> list[Frame]:
        """Frames scheduled before ``t_s`` (simulated seconds), oldest first.

        With ``latest_only`` the frames a later one of the same message (and multiplexer variant)
        supersedes are left out — counters still count them, as a receiver sees lost frames — so a
        fast simulation puts a bounded number of frames on a live bus.
        """
        end_us = round(t_s * 1e6)
        frames: list[Frame] = []
        for s in self.schedules:
            if s.next_us >= end_us:
                continue
            due = (end_us - 1 - s.next_us) // s.period_us + 1
            first = s.sent
            keep = min(due, len(s.templates)) if latest_only else due
            for k in range(due - keep, due):
                frames.append(s.frame(first + k, s.next_us + k * s.period_us))
            s.sent += due
            s.next_us += due * s.period_us
        if len(frames) > 1:
            frames.sort(key=_timestamp)
        return frames


def _timestamp(frame: Frame) -> float:
    return frame.timestamp


def drive_frames(model: VehicleModel, car_bus: CarBus, duration_s: float) -> Iterator[list[Frame]]:
    """Drive ``duration_s`` simulated seconds from the model's present time, yielding the frames of
    each step in time order: those due during a step carry the car's values at its start."""
    start = model.time_s
    end = start + duration_s
    steps = math.ceil(duration_s / STEP_S - 1e-9)
    for i in range(steps):
        car_bus.update(model.outputs())
        yield car_bus.frames_until(min(end, start + (i + 1) * STEP_S))
        model.step(STEP_S)
