"""The traction battery: open-circuit voltage, internal resistance, coulomb counting, heat (pure).

A 98s5p pack of NMC cells (172 Ah and 64 kWh between its usable limits, 356 V nominal). The
terminal voltage is the open-circuit voltage for the state of charge minus I·R, so it sags under
load and rises under regeneration and charging. The current for a power demand solves P = (OCV - I·R)·I. SoC is
counted in coulombs against the capacity that is left (nominal x state of health).
The pack has three cell blocks, each heated by its share of I²·R and cooled by the coolant loop
(the block at the inlet best, the one at the outlet least), and warming its neighbours.
"""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass, field

#: Open-circuit cell voltage against displayed state of charge (%) of an NMC cell between the
#: pack's usable limits (the BMS keeps a buffer below 0 % and above 100 % displayed).
OCV_TABLE: tuple[tuple[float, float], ...] = (
    (0.0, 3.30), (5.0, 3.48), (10.0, 3.56), (20.0, 3.63), (30.0, 3.68), (40.0, 3.73),
    (50.0, 3.79), (60.0, 3.86), (70.0, 3.94), (80.0, 4.02), (90.0, 4.09), (100.0, 4.17),
)
_OCV_SOC = [p[0] for p in OCV_TABLE]


@dataclass(frozen=True)
class PackParams:
    cells_series: int = 98
    capacity_ah: float = 172.0  # new; the usable capacity is this x SoH
    resistance_25c_ohm: float = 0.095  # pack DC resistance at 25 °C and mid SoC
    cell_min_v: float = 3.0
    cell_max_v: float = 4.2
    max_discharge_a: float = 550.0  # 3C
    max_charge_a: float = 260.0
    soc_taper_start: float = 95.0  # charge and regen acceptance fall from here to 100 %
    block_heat_capacity_j_per_k: float = 150_000.0  # a third of ~450 kg of cells and structure
    block_cooling_w_per_k: tuple[float, float, float] = (18.0, 15.0, 12.0)  # inlet .. outlet
    block_coupling_w_per_k: float = 6.0
    fade_percent_per_ah: float = 2.8e-5  # ~10 % after 1000 full cycles

    @property
    def nominal_voltage(self) -> float:
        return self.cells_series * 3.63


def cell_ocv(soc: float) -> float:
    """Open-circuit cell voltage (V) at a state of charge in percent (linear in the table)."""
    s = min(max(soc, 0.0), 100.0)
    i = min(bisect.bisect_right(_OCV_SOC, s), len(OCV_TABLE) - 1)
    (s0, v0), (s1, v1) = OCV_TABLE[i - 1], OCV_TABLE[i]
    return v0 + (v1 - v0) * (s - s0) / (s1 - s0)


def pack_ocv(pack: PackParams, soc: float) -> float:
    return pack.cells_series * cell_ocv(soc)


def _cell_ocv_area(soc: float) -> float:
    """∫ cell OCV d(SoC) from 0 to ``soc`` (V·%), exact for the linear table."""
    s = min(max(soc, 0.0), 100.0)
    i = min(bisect.bisect_right(_OCV_SOC, s), len(OCV_TABLE) - 1)
    s0, v0 = OCV_TABLE[i - 1]
    return _OCV_AREA[i - 1] + (s - s0) * (v0 + cell_ocv(s)) / 2.0


_OCV_AREA: list[float] = [0.0]
for (_s0, _v0), (_s1, _v1) in itertools.pairwise(OCV_TABLE):
    _OCV_AREA.append(_OCV_AREA[-1] + (_s1 - _s0) * (_v0 + _v1) / 2.0)


def ocv_integral(pack: PackParams, soc_from: float, soc_to: float) -> float:
    """∫ pack OCV d(SoC) from one state of charge to another, in V·% (negative if going down)."""
    return pack.cells_series * (_cell_ocv_area(soc_to) - _cell_ocv_area(soc_from))


def resistance(pack: PackParams, soc: float, temp_c: float) -> float:
    """Pack resistance (Ω): higher when cold (electrolyte) and near empty (diffusion)."""
    temp_factor = math.exp(2800.0 * (1.0 / (temp_c + 273.15) - 1.0 / 298.15))
    soc_factor = 1.0 + 0.6 * math.exp(-max(soc, 0.0) / 8.0)
    return pack.resistance_25c_ohm * temp_factor * soc_factor


def current_for_power(ocv: float, r: float, power_w: float) -> float:
    """Current (A, + discharging) that delivers ``power_w`` at the terminals: P = (OCV - I·R)·I."""
    disc = ocv * ocv - 4.0 * r * power_w
    if disc < 0.0:  # beyond the pack's maximum power: the caller's limits prevent this
        return ocv / (2.0 * r)
    return (ocv - math.sqrt(disc)) / (2.0 * r)


@dataclass
class Battery:
    pack: PackParams
    soc: float  # % of the capacity that is left
    soh: float  # % of the capacity when new
    block_temps_c: list[float] = field(default_factory=lambda: [20.0, 20.0, 20.0])
    voltage: float = 0.0
    current: float = 0.0
    #: Lifetime energy through the terminals, as a BMS counts it (Wh).
    charged_wh: float = 0.0
    discharged_wh: float = 0.0

    def __post_init__(self) -> None:
        self.voltage = pack_ocv(self.pack, self.soc)

    @property
    def capacity_ah(self) -> float:
        return self.pack.capacity_ah * self.soh / 100.0

    @property
    def temp_c(self) -> float:
        return sum(self.block_temps_c) / 3.0

    def ocv(self) -> float:
        return pack_ocv(self.pack, self.soc)

    def resistance(self) -> float:
        return resistance(self.pack, self.soc, self.temp_c)

    def energy_between_wh(self, soc_from: float, soc_to: float) -> float:
        """Energy (Wh) the cells hold between two states of charge: capacity x ∫OCV dSoC."""
        return self.capacity_ah * ocv_integral(self.pack, soc_from, soc_to) / 100.0

    def discharge_limit_w(self) -> float:
        """Most power the terminals can give now without a cell below its minimum voltage."""
        if self.soc <= 0.0:
            return 0.0
        ocv, r = self.ocv(), self.resistance()
        v_min = self.pack.cells_series * self.pack.cell_min_v
        amps = min(max(0.0, (ocv - v_min) / r), self.pack.max_discharge_a)
        taper = min(1.0, self.soc / 3.0)  # the BMS ramps power down over the last few percent
        return (ocv - amps * r) * amps * taper

    def charge_limit_w(self) -> float:
        """Most power the terminals can take now (positive number): cell voltage, current, SoC."""
        ocv, r = self.ocv(), self.resistance()
        v_max = self.pack.cells_series * self.pack.cell_max_v
        amps = min(max(0.0, (v_max - ocv) / r), self.pack.max_charge_a)
        if self.soc >= 100.0:
            return 0.0
        # The BMS tapers acceptance over the last few percent (to a tenth, so a pack still fills).
        taper = min(1.0, max(0.1, (100.0 - self.soc) / (100.0 - self.pack.soc_taper_start)))
        return (ocv + amps * r) * amps * taper

    def step(self, power_w: float, coolant_c: float, dt: float) -> float:
        """Deliver ``power_w`` at the terminals (+ discharging) for ``dt`` s; returns I²R heat (W)."""
        ocv, r = self.ocv(), self.resistance()
        current = current_for_power(ocv, r, power_w)
        self.current = current
        self.voltage = ocv - current * r
        energy_wh = self.voltage * current * dt / 3600.0
        if energy_wh >= 0.0:
            self.discharged_wh += energy_wh
        else:
            self.charged_wh -= energy_wh
        amp_hours = current * dt / 3600.0
        self.soc = min(100.0, max(0.0, self.soc - amp_hours / self.capacity_ah * 100.0))
        self.soh = max(0.0, self.soh - abs(amp_hours) * self.pack.fade_percent_per_ah)
        heat = current * current * r
        self._heat_blocks(heat, coolant_c, dt)
        return heat

    def rest(self, coolant_c: float, dt: float) -> None:
        self.current = 0.0
        self.voltage = self.ocv()
        self._heat_blocks(0.0, coolant_c, dt)

    def _heat_blocks(self, heat_w: float, coolant_c: float, dt: float) -> None:
        t = self.block_temps_c
        k = self.pack.block_coupling_w_per_k
        flows = []
        for i in range(3):
            neighbours = (t[i - 1] - t[i] if i > 0 else 0.0) + (t[i + 1] - t[i] if i < 2 else 0.0)
            cooling = self.pack.block_cooling_w_per_k[i] * (t[i] - coolant_c)
            flows.append(heat_w / 3.0 + k * neighbours - cooling)
        c = self.pack.block_heat_capacity_j_per_k
        for i in range(3):
            t[i] += flows[i] / c * dt
