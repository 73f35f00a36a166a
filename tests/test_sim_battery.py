"""The pack: its voltage curve, its limits, charging sessions and the bounds of the state of charge."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evscreen.sim.battery import OCV_TABLE, Battery, PackParams, cell_ocv, current_for_power, pack_ocv
from evscreen.sim.charging import CHARGER_W
from evscreen.sim.drive_cycle import DriveCycle, load_cycle
from evscreen.sim.vehicle import STEP_S, VehicleModel


def charge(model: VehicleModel, *, limit: int, max_hours: float = 3.0) -> tuple[list, list[float]]:
    """Start a session and step until it ends: (outputs every 5th step, SoC at every step)."""
    model.set_charge_limit(limit)
    model.start_charging()
    outs, socs = [], []
    while model.session is not None:
        model.step()
        socs.append(model.battery.soc)
        if len(socs) % 5 == 0 or model.session is None:
            outs.append(model.outputs())
        assert model.time_s < max_hours * 3600, "the session never ended"
    return outs, socs


def test_open_circuit_voltage_rises_with_charge() -> None:
    socs = [s / 2 for s in range(201)]
    volts = [cell_ocv(s) for s in socs]
    assert all(b > a for a, b in itertools.pairwise(volts))
    assert volts[0] == OCV_TABLE[0][1] and volts[-1] == OCV_TABLE[-1][1]
    assert cell_ocv(-5.0) == volts[0] and cell_ocv(150.0) == volts[-1]
    pack = PackParams()
    assert 300 < pack_ocv(pack, 0.0) < pack.nominal_voltage < pack_ocv(pack, 100.0) < 415


@pytest.mark.parametrize("power", [-80_000.0, -5_000.0, 0.0, 1_000.0, 60_000.0, 150_000.0])
def test_current_delivers_the_requested_power_at_the_terminals(power: float) -> None:
    ocv, r = 380.0, 0.1
    current = current_for_power(ocv, r, power)
    assert (ocv - current * r) * current == pytest.approx(power, abs=1e-6)
    assert (current > 0) == (power > 0) or power == 0.0


def test_limits_shrink_near_empty_and_near_full() -> None:
    pack = PackParams()
    mid = Battery(pack, 50.0, 100.0)
    assert mid.discharge_limit_w() > 150_000 and mid.charge_limit_w() > 80_000
    assert Battery(pack, 1.0, 100.0).discharge_limit_w() < 0.5 * mid.discharge_limit_w()
    assert Battery(pack, 0.0, 100.0).discharge_limit_w() == 0.0
    assert Battery(pack, 98.0, 100.0).charge_limit_w() < 0.5 * mid.charge_limit_w()
    assert Battery(pack, 100.0, 100.0).charge_limit_w() == 0.0
    # Cold cells have more resistance: less power either way.
    cold = Battery(pack, 50.0, 100.0, [-10.0, -10.0, -10.0])
    assert cold.resistance() > 2 * mid.resistance()
    assert cold.discharge_limit_w() < mid.discharge_limit_w()


def test_state_of_health_scales_the_capacity() -> None:
    pack = PackParams()
    new, worn = Battery(pack, 80.0, 100.0), Battery(pack, 80.0, 80.0)
    for b in (new, worn):
        b.step(40_000.0, 25.0, 600.0)
    assert 80.0 - worn.soc == pytest.approx((80.0 - new.soc) / 0.8, rel=0.01)
    # (Both lost a little health to the 600 s of throughput, in proportion.)
    assert worn.energy_between_wh(0, 100) == pytest.approx(0.8 * new.energy_between_wh(0, 100), rel=1e-4)
    assert new.energy_between_wh(0, 100) / 1000 == pytest.approx(64.0, abs=0.5)  # a "64 kWh" pack


@pytest.mark.parametrize(("start", "limit"), [(55.0, 80), (62.0, 70), (93.0, 100)])
def test_charging_session_stops_at_the_charge_limit(start: float, limit: int) -> None:
    model = VehicleModel(3, soc=start)
    outs, socs = charge(model, limit=limit)
    charging = [o for o in outs if o.charging_phase == "charging" and o.charger_power_w > o.aux_power_w]
    assert charging
    assert all(o.battery_current < 0 and o.battery_power_w < 0 for o in charging)  # into the pack
    assert all(o.charger_power_w == 0.0 for o in outs if o.charging_phase != "charging")
    assert all(o.charger_power_w <= CHARGER_W + 1e-6 for o in outs)
    assert limit <= max(socs) <= limit + 0.02
    assert model.battery.soc == pytest.approx(limit, abs=0.02)
    assert model.speed == 0.0 and all(o.speed_ms == 0.0 for o in outs)


def test_charging_tapers_as_the_cells_fill() -> None:
    model = VehicleModel(3, soc=84.0)
    model.battery.block_temps_c[:] = [25.0, 25.0, 25.0]  # cold cells would take less from the start
    outs, _ = charge(model, limit=100)

    def power_at(soc: float) -> float:
        return next(o.charger_power_w for o in outs if o.charging_phase == "charging" and o.battery_soc >= soc)

    assert power_at(85.0) == pytest.approx(CHARGER_W)  # the charger is the limit at first...
    assert power_at(96.0) < 0.6 * CHARGER_W < power_at(85.0)  # ...then the cells' voltage
    assert power_at(99.5) < 0.2 * CHARGER_W
    assert model.battery.soc == pytest.approx(100.0, abs=0.02)  # and yet the pack fills


def test_no_charge_when_already_above_the_limit() -> None:
    model = VehicleModel(3, soc=75.0)
    outs, socs = charge(model, limit=60)
    assert all(o.charger_power_w == 0.0 for o in outs)
    assert max(socs) <= 75.0
    phases = [o.charging_phase for o in outs]
    assert "plugging" in phases and "unplugging" in phases
    assert outs[-1].charging_phase is None  # parked, plugged, found nothing to do, and left


def test_a_new_limit_during_a_session_is_obeyed_at_once() -> None:
    model = VehicleModel(3, soc=55.0)
    model.set_charge_limit(95)
    model.start_charging()
    while model.battery.soc < 65.0:
        model.step()
    model.set_charge_limit(70)
    while model.session is not None:
        model.step()
        assert model.battery.soc <= 70.02
    assert model.battery.soc == pytest.approx(70.0, abs=0.02)


def test_the_loop_stops_at_a_charger_and_drives_on() -> None:
    """With charge_every = 1, each pass of the (one-cycle) loop ends at the charger."""
    model = VehicleModel(4, cycles=[load_cycle("udds")], charge_every=1, soc=70.0)
    model.set_charge_limit(72)
    phases: list[str] = []
    for _ in range(int(2400 / STEP_S)):
        model.step()
        phase = model.session.phase if model.session is not None else "driving"
        if not phases or phases[-1] != phase:
            phases.append(phase)
    assert phases[:5] == ["driving", "plugging", "charging", "unplugging", "driving"]
    assert model.battery.soc < 72.0  # driving again since it left the charger at the limit


def test_a_nearly_empty_car_goes_to_charge_and_never_goes_below_zero() -> None:
    model = VehicleModel(5, cycles=[load_cycle("hwfet")], charge_every=0, soc=4.0)
    socs = []
    charged = False
    for _ in range(int(1400 / STEP_S)):
        model.step()
        socs.append(model.battery.soc)
        charged = charged or model.session is not None
    assert min(socs) >= 0.0 and max(socs) <= 100.0
    assert min(socs) < 1.0  # it really ran the pack down, crawling as the BMS cut power...
    assert charged and socs[-1] > min(socs) + 5.0  # ...and went to charge at the end of the cycle


def test_a_full_pack_takes_no_regeneration_and_stays_at_100() -> None:
    downhill = DriveCycle("stops", (0.0,) + (20.0,) * 30 + tuple(20.0 - 2 * i for i in range(1, 11)) + (0.0,) * 5)
    full = VehicleModel(6, cycles=[downhill], charge_every=0, soc=100.0)
    half = VehicleModel(6, cycles=[downhill], charge_every=0, soc=50.0)
    regen_full = regen_half = 0.0
    for _ in range(int(downhill.duration_s / STEP_S)):
        for model in (full, half):
            model.step()
            assert 0.0 <= model.battery.soc <= 100.0
        regen_full += max(0.0, -full.outputs().battery_power_w) * STEP_S
        regen_half += max(0.0, -half.outputs().battery_power_w) * STEP_S
    assert regen_half > 100_000.0  # J: the half-full pack took the braking energy
    assert regen_full < 0.15 * regen_half  # the full one hardly could; the friction brakes did it
    assert full.battery.soc <= 100.0


@pytest.mark.parametrize("value", [49, 101, 80.5, "80", None, True])
def test_bad_charge_limits_are_refused_and_change_nothing(value: object) -> None:
    model = VehicleModel(1)
    with pytest.raises(ValueError, match="charge_limit"):
        model.set_charge_limit(value)  # type: ignore[arg-type]
    assert model.charge_limit == 80


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    soc=st.floats(0.0, 100.0),
    cold=st.booleans(),
    actions=st.lists(
        st.tuples(
            st.integers(1, 250),  # steps before the action
            st.sampled_from(["drive_mode", "regen_level", "charge_limit", "charge"]),
            st.integers(0, 3),
        ),
        max_size=6,
    ),
)
def test_state_of_charge_and_every_value_stay_in_bounds_whatever_the_screen_does(
    soc: float, cold: bool, actions: list[tuple[int, str, int]]
) -> None:
    model = VehicleModel(8, soc=soc)
    if cold:  # a winter morning: stiff cells, slow charging
        model.weather.temp_c = model.weather.mean_temp_c = -20.0
        model.battery.block_temps_c[:] = [-20.0, -20.0, -20.0]
    modes, levels = ["eco", "normal", "sport", "normal"], ["off", "low", "standard", "high"]
    for steps, what, pick in actions:
        for _ in range(steps):
            model.step()
            assert 0.0 <= model.battery.soc <= 100.0
        if what == "drive_mode":
            model.set_drive_mode(modes[pick])
        elif what == "regen_level":
            model.set_regen_level(levels[pick])
        elif what == "charge_limit":
            model.set_charge_limit(50 + 16 * pick)
        else:
            model.start_charging()
    for _ in range(200):
        model.step()
    values = model.telemetry()
    assert 0.0 <= values["battery_soc"] <= 100.0 and values["range_km"] >= 0.0
    assert 0.0 <= values["efficiency_score"] <= 10.0 and 0.0 <= values["humidity"] <= 100.0
    assert all(isinstance(v, int) or math.isfinite(v) for v in values.values())
