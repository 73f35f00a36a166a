"""The CAN source on real python-can interfaces: virtual, and slcan on a pseudo-terminal."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import can
import pytest
from websockets.sync.client import connect

from canhelpers import SlcanAdapter, slcan_frame
from conftest import recv_until, wait_for
from evscreen.can.dbc.loader import load_database
from evscreen.config import load_config
from evscreen.drivers.can import CanSource
from evscreen.errors import ConfigError
from evscreen.state import VehicleState, build_telemetry

DB, _ = load_database()


def encode(name: str, **values: Any) -> can.Message:
    """A frame of the project DBC, encoded by cantools (the reference), every other signal raw 0."""
    message = DB.get_message_by_name(name)
    mux = values.get("BlockIndex", 0)
    signals = {s.name: s.offset for s in message.signals if s.multiplexer_ids in (None, [mux])}
    signals.update(values)
    data = message.encode(signals, strict=False)
    return can.Message(arbitration_id=message.frame_id, is_extended_id=message.is_extended_frame, data=data)


class LoopThread:
    """An event loop in a thread, running one CanSource like the server's supervisor does."""

    def __init__(self, source: CanSource) -> None:
        self.source = source
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.task = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(5)

    async def _start(self) -> asyncio.Task[None]:
        return asyncio.create_task(self.source.run())

    def call(self, fn: Any) -> Any:
        """Run ``fn`` on the loop (the state belongs to it) and return its result."""
        async def wrapper() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop).result(5)

    def telemetry(self) -> dict[str, Any]:
        return self.call(lambda: build_telemetry(self.source.state, {}))

    def stop(self) -> None:
        async def stop() -> None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
            await self.source.close()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def make_source(**flags: Any) -> CanSource:
    flags = {"can.enabled": True, "can.timeout": 0.5, **{f"can.{k}": v for k, v in flags.items()}}
    return CanSource(load_config(env={}, flags=flags).config, VehicleState())


@pytest.fixture
def running() -> Iterator[Any]:
    started: list[LoopThread] = []

    def start(source: CanSource) -> LoopThread:
        lt = LoopThread(source)
        started.append(lt)
        return lt

    yield start
    for lt in started:
        lt.stop()


# --- virtual interface ------------------------------------------------------------------------


def test_virtual_bus_frames_become_telemetry(running: Any) -> None:
    source = make_source(interface="virtual", channel="test-values")
    lt = running(source)
    tx = can.Bus(interface="virtual", channel="test-values")
    try:
        wait_for(lambda: source.bus is not None)
        tx.send(encode("BMS_PackStatus", PackVoltage=356.4, PackCurrent=-42.7, PackPower=-15.22))
        tx.send(encode("VCU_VehicleSpeed", VehicleSpeed=87.65))
        tx.send(encode("TPMS_TirePressures", TirePressure_FL=36.25, TirePressure_RR=35.5))
        tx.send(encode("BMS_BlockStatus", BlockIndex=1, BlockB_TempAvg=27.5))
        tx.send(encode("BMS_SoC", SocDisplay=81.3, SoH=96.5))
        tx.send(encode("VCU_DriveSettings", DriveMode="sport", RegenLevel="high", ChargeLimit=80))
        tx.send(can.Message(arbitration_id=0x7AB, is_extended_id=False, data=b"\x01"))  # not in the DBC
        tx.send(can.Message(is_error_frame=True, arbitration_id=0x4, is_extended_id=False))
        wait_for(lambda: source.stats.frames == 8)
        t = wait_for(lambda: (m := lt.telemetry())["speed"] is not None and m["battery_soh"] is not None and m)
    finally:
        tx.shutdown()
    assert t["battery_voltage"] == 356.4
    assert t["battery_current"] == -42.7  # charging: negative
    assert t["power_kw"] == -15.22
    assert t["speed"] == 87.65
    assert t["tire_pressure"] == {"front_left": 36.25, "front_right": 0.0, "rear_left": 0.0, "rear_right": 35.5}
    assert t["battery_cells"]["block_b"] == 27.5 and t["battery_cells"]["block_a"] is None
    assert (t["battery_soc"], t["battery_soh"]) == (81.3, 96.5)
    assert t["connectivity"]["can_bus"] is True and t["sources"]["can"]["state"] == "live"
    assert source.feedback == {"drive_mode": "sport", "regen_level": "high", "charge_limit": 80}
    stats = source.stats
    assert (stats.decoded, stats.unknown, stats.errors) == (6, 1, 1)
    assert stats.unknown_ids == {(0x7AB, False): 1}


def test_can_bus_connectivity_only_while_frames_arrive(running: Any) -> None:
    source = make_source(interface="virtual", channel="test-quiet")
    lt = running(source)
    tx = can.Bus(interface="virtual", channel="test-quiet")
    try:
        wait_for(lambda: source.bus is not None)
        assert lt.telemetry()["connectivity"]["can_bus"] is not True
        tx.send(encode("MCU_Motor", MotorSpeed=-1234, MotorTemp=61))
        t = wait_for(lambda: (m := lt.telemetry())["connectivity"]["can_bus"] and m)
        assert (t["motor_rpm"], t["motor_temp"]) == (-1234, 61)
        # The bus goes quiet (the interface itself is fine): values stay, marked stale.
        t = wait_for(lambda: (m := lt.telemetry())["connectivity"]["can_bus"] is False and m)
        assert t["motor_rpm"] == -1234 and t["sources"]["can"]["state"] == "stale"
        tx.send(encode("MCU_Motor", MotorSpeed=2000, MotorTemp=62))
        t = wait_for(lambda: (m := lt.telemetry())["connectivity"]["can_bus"] and m)
        assert t["motor_rpm"] == 2000 and t["sources"]["can"]["state"] == "live"
    finally:
        tx.shutdown()


def test_through_the_server_to_a_screen(live_server: Any) -> None:
    rt = live_server(**{"simulation.mode": "off", "can.enabled": True, "can.interface": "virtual",
                        "can.channel": "test-server"})
    source = next(s for s in rt.runtime.sources if s.name == "can")
    tx = can.Bus(interface="virtual", channel="test-server")
    try:
        wait_for(lambda: source.bus is not None)
        tx.send(encode("BMS_SoC", SocDisplay=64.2, SoH=91.0))
        with connect(rt.url) as ws:
            msg = recv_until(ws, lambda m: m.get("type") == "telemetry" and m["battery_soc"] == 64.2)
    finally:
        tx.shutdown()
    assert msg["battery_soh"] == 91.0 and msg["connectivity"]["can_bus"] is True
    assert msg["speed"] is None  # never sent: unknown, not invented


# --- slcan on a pseudo-terminal: a real serial adapter protocol -------------------------------


def test_slcan_adapter_frames_loss_and_recovery(tmp_path: Path, running: Any, caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="evscreen.drivers.can")
    adapter = SlcanAdapter(tmp_path / "ttyCAN0").plug()
    source = make_source(interface="slcan", channel=adapter.path, bitrate=500000,
                         options={"sleep_after_open": "0"})
    lt = running(source)
    try:
        assert adapter.opened.wait(10)
        assert adapter.commands[:4] == [b"C", b"S6", b"", b"O"]  # close, 500 kbit/s, open
        pack = encode("BMS_PackStatus", PackVoltage=361.2, PackCurrent=118.5, PackPower=42.8)
        tpms = encode("TPMS_TirePressures", TirePressure_FL=33.0)
        adapter.send(slcan_frame(pack.arbitration_id, pack.data), slcan_frame(tpms.arbitration_id, tpms.data, True))
        t = wait_for(lambda: (m := lt.telemetry())["tire_pressure"]["front_left"] is not None and m)
        assert (t["battery_voltage"], t["battery_current"], t["power_kw"]) == (361.2, 118.5, 42.8)
        assert t["tire_pressure"]["front_left"] == 33.0 and t["connectivity"]["can_bus"] is True

        adapter.unplug()  # cable pulled
        t = wait_for(lambda: (m := lt.telemetry())["sources"]["can"]["state"] == "offline" and m)
        assert t["battery_voltage"] == 361.2  # kept, not invented, not erased
        assert t["connectivity"]["can_bus"] is False
        assert "failed" in t["sources"]["can"]["detail"] or "cannot open" in t["sources"]["can"]["detail"]
        wait_for(lambda: lt.call(lambda: source.state.source_status("can").detail.startswith("cannot open")))

        adapter.plug()  # plugged back in: same device name, new pty
        assert adapter.opened.wait(15)
        pack = encode("BMS_PackStatus", PackVoltage=355.0, PackCurrent=-20.0, PackPower=-7.1)
        adapter.send(slcan_frame(pack.arbitration_id, pack.data))
        t = wait_for(lambda: (m := lt.telemetry())["battery_voltage"] == 355.0 and m)
        assert t["sources"]["can"]["state"] == "live" and t["connectivity"]["can_bus"] is True
        # Counted before the final unplug below, which is an outage of its own.
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "retrying" in r.getMessage()]
        assert len(warnings) == 1, [r.getMessage() for r in warnings]  # one clear line per outage, not per retry
        assert any("is back" in r.getMessage() for r in caplog.records)
    finally:
        adapter.unplug()


def test_interface_missing_at_start_then_appearing(tmp_path: Path, running: Any, caplog: Any) -> None:
    link = tmp_path / "ttyUSB7"
    source = make_source(interface="slcan", channel=str(link), options={"sleep_after_open": "0"})
    lt = running(source)
    t = wait_for(lambda: (m := lt.telemetry())["sources"]["can"]["state"] == "offline" and m)
    assert "cannot open" in t["sources"]["can"]["detail"] and t["battery_voltage"] is None
    adapter = SlcanAdapter(link).plug()
    try:
        assert adapter.opened.wait(15)
        pack = encode("BMS_PackStatus", PackVoltage=300.0)
        adapter.send(slcan_frame(pack.arbitration_id, pack.data))
        wait_for(lambda: lt.telemetry()["battery_voltage"] == 300.0)
    finally:
        adapter.unplug()


def test_garbage_from_the_adapter_is_not_a_frame(tmp_path: Path, running: Any) -> None:
    adapter = SlcanAdapter(tmp_path / "ttyACM0").plug()
    source = make_source(interface="slcan", channel=adapter.path, options={"sleep_after_open": "0"})
    lt = running(source)
    try:
        assert adapter.opened.wait(10)
        adapter.send(b"\x07", b"zzzz\r", b"\r\r")  # error bell, junk, empty answers
        soc = encode("BMS_SoC", SocDisplay=50.5)
        adapter.send(slcan_frame(soc.arbitration_id, soc.data))
        wait_for(lambda: lt.telemetry()["battery_soc"] == 50.5)
    finally:
        adapter.unplug()


# --- configuration ----------------------------------------------------------------------------


def test_unknown_interface_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="can.interface: unknown python-can interface 'socketcann'"):
        make_source(interface="socketcann")


def test_mapping_errors_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"can.signals.speed: no message 'VCU_Speed' .*did you mean VCU_VehicleSpeed"):
        make_source(interface="virtual", signals={"speed": "VCU_Speed.VehicleSpeed"})
    with pytest.raises(ConfigError, match="can.signals.warp: not a telemetry field"):
        make_source(interface="virtual", signals={"warp": "VCU_VehicleSpeed.VehicleSpeed"})


def test_custom_mapping_overrides_one_field(running: Any) -> None:
    source = make_source(interface="virtual", channel="test-override",
                         signals={"speed": "ESC_WheelSpeeds.WheelSpeed_FL * 0.621371", "humidity": ""})
    assert "humidity" not in source.signal_map.refs
    lt = running(source)
    tx = can.Bus(interface="virtual", channel="test-override")
    try:
        wait_for(lambda: source.bus is not None)
        tx.send(encode("ESC_WheelSpeeds", WheelSpeed_FL=100.0))
        tx.send(encode("FATC_Climate", CabinTemp=21.5, CabinHumidity=40))
        t = wait_for(lambda: (m := lt.telemetry())["cabin_temp"] is not None and m)
    finally:
        tx.shutdown()
    assert t["speed"] == pytest.approx(62.1371) and t["humidity"] is None and t["cabin_temp"] == 21.5
