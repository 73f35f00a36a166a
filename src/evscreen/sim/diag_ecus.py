"""What the simulated car's ECUs answer to diagnostic requests (pure: bytes in, bytes out).

- :class:`SimulatedBms` answers as the Hyundai Kona / Kia Niro BMS does (0x7E4 → 0x7EC, the byte
  layout of issue 16 and docs/diagnostics.md): 0x220101 (62 bytes), 0x220105 (46 bytes) and
  0x220102–0x220104 (32 cell voltages each), from the physics model: pack voltage and current,
  the cells' voltages (the pack's, spread by each cell's own offset and resistance), module
  temperatures, the power limits, the lifetime energy counters and the 12 V battery.
- :class:`SimulatedObdEcu` answers generic OBD-II (0x7DF / 0x7E0 → 0x7E8): mode 01 with its
  supported-PID bitmaps (vehicle speed, ambient air, control module voltage, odometer, hybrid/EV
  battery remaining), mode 09 (VIN, ECU name), modes 03/07/0A (no DTCs).

Anything else gets the negative response a real ECU gives (0x11 service not supported, 0x31
request out of range). The answers are built from the last published
:class:`~evscreen.sim.vehicle.VehicleOutputs`, so an ECU thread never reads a model mid-step.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from evscreen.can.diag.obd import supported_pids
from evscreen.sim.vehicle import VehicleOutputs

Answer = Sequence[tuple[float, bytes]]

CELLS = 98  # the Kona's 64 kWh pack: 98 cells in series
CELLS_PER_BLOCK = 32  # 0x220102-0x220104
MODULES = 4  # module temperatures in 0x220101 bytes 19-22
SIM_VIN = "EVSCRNSIM00000001"  # 17 characters, clearly not a real car's


def aux_voltage(out: VehicleOutputs) -> float:
    """The 12 V battery with the DC-DC converter on (Ready or charging): ~14.4 V, a little less
    under a heavy low-voltage load."""
    return 14.4 - min(0.4, out.aux_power_w / 10_000.0)


def _u(value: float, size: int) -> bytes:
    top = (1 << (8 * size)) - 1
    return min(top, max(0, round(value))).to_bytes(size, "big")


def _s(value: float, size: int) -> bytes:
    half = 1 << (8 * size - 1)
    return min(half - 1, max(-half, round(value))).to_bytes(size, "big", signed=True)


def _negative(request: bytes, nrc: int) -> Answer:
    return [(0.0, bytes([0x7F, request[0] if request else 0, nrc]))]


class SimulatedBms:
    def __init__(self, seed: int, outputs: Callable[[], VehicleOutputs]) -> None:
        self.outputs = outputs
        rng = random.Random(f"{seed}/cells")
        self.offsets = [rng.gauss(0.0, 0.004) for _ in range(CELLS)]  # V, manufacturing spread
        self.resistance = [rng.uniform(0.9, 1.1) for _ in range(CELLS)]  # x the average cell's

    def cell_voltages(self, out: VehicleOutputs) -> list[float]:
        ocv = out.battery_ocv / CELLS
        drop = (out.battery_ocv - out.battery_voltage) / CELLS  # I x R of the average cell
        return [ocv + off - drop * r for off, r in zip(self.offsets, self.resistance, strict=True)]

    def respond(self, request: bytes) -> Answer:
        if request[:1] == b"\x3e":
            return [(0.0, b"\x7e\x00")]
        if request[:1] != b"\x22":
            return _negative(request, 0x11)
        if len(request) != 3:
            return _negative(request, 0x13)
        did = request[1] << 8 | request[2]
        out = self.outputs()
        if did == 0x0101:
            return [(0.0, self.bms_2101(out))]
        if did == 0x0105:
            return [(0.0, self.bms_2105(out))]
        if 0x0102 <= did <= 0x0104:
            first = (did - 0x0102) * CELLS_PER_BLOCK
            cells = self.cell_voltages(out)[first:first + CELLS_PER_BLOCK]
            return [(0.0, b"\x62" + request[1:] + b"\xff\xff\xff\xff" + b"".join(_u(v * 50, 1) for v in cells))]
        return _negative(request, 0x31)

    def bms_2101(self, out: VehicleOutputs) -> bytes:
        r = bytearray(62)
        r[0:7] = b"\x62\x01\x01\xff\xf7\xe7\xff"
        r[7:8] = _u(out.battery_soc * 2, 1)
        r[8:10] = _u(out.battery_charge_limit_w / 10.0, 2)  # kW x 100
        r[10:12] = _u(out.battery_discharge_limit_w / 10.0, 2)
        r[13:15] = _s(out.battery_current * 10, 2)
        r[15:17] = _u(out.battery_voltage * 10, 2)
        temps = list(out.battery_temps_c) + [out.battery_temps_c[-1]]  # three blocks, four modules
        r[17:18] = _s(max(temps), 1)
        r[18:19] = _s(min(temps), 1)
        for i, t in enumerate(temps[:MODULES]):
            r[19 + i:20 + i] = _s(t, 1)
        r[25:26] = _s(min(temps) - 1.0, 1)  # coolant inlet
        cells = self.cell_voltages(out)
        high = max(range(CELLS), key=cells.__getitem__)
        low = min(range(CELLS), key=cells.__getitem__)
        r[26], r[27] = _u(cells[high] * 50, 1)[0], high + 1
        r[28], r[29] = _u(cells[low] * 50, 1)[0], low + 1
        r[32:33] = _u(aux_voltage(out) * 10, 1)
        nominal = out.battery_ocv or 1.0
        r[33:37] = _u(out.battery_charged_wh / nominal * 10, 4)  # cumulative Ah, /10
        r[37:41] = _u(out.battery_discharged_wh / nominal * 10, 4)
        r[41:45] = _u(out.battery_charged_wh / 100.0, 4)  # kWh x 10
        r[45:49] = _u(out.battery_discharged_wh / 100.0, 4)
        return bytes(r)

    def bms_2105(self, out: VehicleOutputs) -> bytes:
        r = bytearray(46)
        r[0:3] = b"\x62\x01\x05"
        r[28:30] = _u(out.battery_soh * 10, 2)
        r[34:35] = _u(out.battery_soc * 2, 1)
        return bytes(r)


#: Mode 01 PIDs the simulated car answers, and how.
_PIDS: dict[int, Callable[[VehicleOutputs], bytes]] = {
    0x0D: lambda o: _u(o.speed_ms * 3.6, 1),
    0x42: lambda o: _u(aux_voltage(o) * 1000, 2),
    0x46: lambda o: _u(o.ambient_temp_c + 40, 1),
    0x5B: lambda o: _u(o.battery_soc * 255 / 100, 1),
    0xA6: lambda o: _u(o.odometer_m / 100.0, 4),
}


def _bitmap(base: int) -> bytes:
    """The supported-PID answer for ``base``: our PIDs in range, and the next bitmap if any lies beyond."""
    bits = 0
    for pid in _PIDS:
        if base < pid <= base + 0x20:
            bits |= 1 << (32 - (pid - base))
    if any(pid > base + 0x20 for pid in _PIDS):
        bits |= 1
    return bits.to_bytes(4, "big")


class SimulatedObdEcu:
    def __init__(self, outputs: Callable[[], VehicleOutputs], vin: str = SIM_VIN) -> None:
        self.outputs = outputs
        self.vin = vin

    def supported(self) -> list[int]:
        out = []
        for base in range(0, 0x100, 0x20):
            out += supported_pids(base, _bitmap(base))
        return out

    def respond(self, request: bytes) -> Answer:
        mode, body = request[0], request[1:]
        if mode == 0x01:
            if not body:
                return _negative(request, 0x13)
            out = self.outputs()
            answer = bytearray(b"\x41")
            for pid in body[:6]:
                if pid % 0x20 == 0:
                    answer += bytes([pid]) + _bitmap(pid)
                elif pid in _PIDS:
                    answer += bytes([pid]) + _PIDS[pid](out)
            return [(0.0, bytes(answer))] if len(answer) > 1 else _negative(request, 0x31)
        if mode == 0x09 and len(body) == 1:
            info = body[0]
            if info == 0x00:
                return [(0.0, b"\x49\x00\x01" + bytes([0b01010000, 0x40, 0, 0]))]  # 02, 04, 0A
            if info == 0x02:
                return [(0.0, b"\x49\x02\x01" + self.vin.encode()[:17])]
            if info == 0x04:
                return [(0.0, b"\x49\x04\x01" + b"EVSCREEN-SIM-1.0".ljust(16, b"\x00"))]
            if info == 0x0A:
                return [(0.0, b"\x49\x0a\x01" + b"VCU-EvscreenSimVCU".ljust(20, b"\x00"))]
            return _negative(request, 0x31)
        if mode in (0x03, 0x07, 0x0A):
            return [(0.0, bytes([mode + 0x40, 0]))]
        if mode == 0x04:  # an explicit, confirmed clear (`evscreen obd dtc --clear`): nothing stored anyway
            return [(0.0, b"\x44")]
        return _negative(request, 0x11)
