"""The simulated car answers diagnostics like a real one, and simulated mode polls it through the
real poller: battery_pack and sources.obd fill in simulation."""

from __future__ import annotations

from typing import Any

from websockets.sync.client import connect

from conftest import recv_until
from evscreen.can.diag.decode import decode_payload
from evscreen.can.diag.fields import extract
from evscreen.sim.diag_ecus import CELLS, SimulatedBms, SimulatedObdEcu, aux_voltage
from evscreen.sim.vehicle import VehicleModel
from evscreen.vehicles.loader import load_profile


def driven(steps: int = 600) -> Any:
    model = VehicleModel(3)
    for _ in range(steps):
        model.step()
    return model.outputs()


def test_bms_answers_in_the_kona_layout_from_the_physics():
    out = driven()
    bms = SimulatedBms(3, lambda: out)
    [(_, answer)] = bms.respond(bytes.fromhex("220101"))
    assert len(answer) == 62 and answer[:3] == b"\x62\x01\x01"
    kona = {f.target: f for r in load_profile("hyundai-kona-ev").diagnostics if r.name == "bms_2101"
            for f in r.fields}

    def field(name: str) -> Any:
        f = kona[name]
        return extract(answer, f.byte, f.length, f.signed, f.scale, f.offset)

    assert field("battery_voltage") == round(out.battery_voltage, 1)
    assert field("battery_current") == round(out.battery_current, 1)
    assert out.battery_current > 0  # driving: the pack discharges, and the sign says so
    cells = bms.cell_voltages(out)
    assert len(cells) == CELLS
    assert abs(sum(cells) - out.battery_voltage) < 0.5  # the cells add up to the pack
    assert field("battery_pack.cell_voltage_max") == round(max(cells) * 50) / 50
    assert field("battery_pack.cell_voltage_min") == round(min(cells) * 50) / 50
    assert cells[field("battery_pack.cell_voltage_max_id") - 1] == max(cells)
    assert cells[field("battery_pack.cell_voltage_min_id") - 1] == min(cells)
    assert field("battery_pack.temp_max") == round(max(out.battery_temps_c))
    assert field("battery_pack.temp_min") == round(min(out.battery_temps_c))
    assert field("battery_pack.aux_voltage") == round(aux_voltage(out), 1)
    assert field("battery_pack.energy_discharged_kwh") == round(out.battery_discharged_wh / 1000, 1)
    assert field("battery_pack.energy_charged_kwh") == round(out.battery_charged_wh / 1000, 1)
    assert field("battery_pack.max_discharge_power_kw") == round(out.battery_discharge_limit_w / 1000, 2)
    [(_, answer)] = bms.respond(bytes.fromhex("220105"))
    assert extract(answer, 28, 2, scale=0.1) == round(out.battery_soh, 1)
    # the cell blocks: 32 voltages each from byte 7
    [(_, block)] = bms.respond(bytes.fromhex("220103"))
    assert [extract(block, 7 + i, 1, scale=0.02) for i in range(32)] == [round(v * 50) / 50 for v in cells[32:64]]
    # what it does not know, it says so as a real BMS does
    assert bms.respond(bytes.fromhex("220199")) == [(0.0, bytes.fromhex("7F2231"))]
    assert bms.respond(bytes.fromhex("2E0101")) == [(0.0, bytes.fromhex("7F2E11"))]


def test_energy_counters_follow_the_drive():
    model = VehicleModel(3)
    before = model.outputs()
    for _ in range(600):
        model.step()
    after = model.outputs()
    assert after.battery_discharged_wh > before.battery_discharged_wh
    assert after.battery_charged_wh >= before.battery_charged_wh  # regen


def test_obd_ecu_answers_generic_obd2():
    out = driven()
    ecu = SimulatedObdEcu(lambda: out)
    assert ecu.supported() == [0x0D, 0x20, 0x40, 0x42, 0x46, 0x5B, 0x60, 0x80, 0xA0, 0xA6]
    [(_, answer)] = ecu.respond(bytes.fromhex("010D4642"))
    values = {p["pid"]: p["value"] for p in decode_payload(answer).content["pids"]}
    assert values == {"0D": round(out.speed_ms * 3.6), "46": round(out.ambient_temp_c),
                      "42": round(aux_voltage(out), 3)}
    assert decode_payload(ecu.respond(bytes.fromhex("0902"))[0][1]).content["value"] == "EVSCRNSIM00000001"
    assert ecu.respond(bytes.fromhex("03")) == [(0.0, b"\x43\x00")]
    assert ecu.respond(bytes.fromhex("04")) == [(0.0, b"\x44")]  # a clear is accepted (nothing is stored)


def test_simulated_mode_polls_the_bms_through_the_real_poller(live_server):
    rt = live_server(**{"simulation.speed": 2.0, "server.telemetry_interval": 0.05})
    with connect(rt.url) as ws:
        message = recv_until(ws, lambda m: m.get("type") == "telemetry"
                             and (m.get("battery_pack") or {}).get("aux_voltage") is not None
                             and m["sources"].get("obd", {}).get("state") == "simulated", timeout=30)
    pack = message["battery_pack"]
    assert set(pack) == {"cell_voltage_min", "cell_voltage_max", "cell_voltage_min_id", "cell_voltage_max_id",
                         "temp_min", "temp_max", "aux_voltage", "max_charge_power_kw", "max_discharge_power_kw",
                         "energy_charged_kwh", "energy_discharged_kwh"}
    assert all(v is not None for v in pack.values()), pack
    assert 3.0 <= pack["cell_voltage_min"] <= pack["cell_voltage_max"] <= 4.2
    assert 1 <= pack["cell_voltage_min_id"] <= CELLS and 1 <= pack["cell_voltage_max_id"] <= CELLS
    assert 14.0 <= pack["aux_voltage"] <= 14.4
    assert pack["energy_charged_kwh"] > pack["energy_discharged_kwh"] > 1000
    obd = next(s for s in rt.runtime.sources if s.name == "obd")
    assert obd.profile.id == "evscreen" and obd.simulated and obd.answers >= 1
