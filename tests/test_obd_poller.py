"""The diagnostics poller on python-can's virtual bus, through the CAN source, against ECUs that
answer with can-isotp: multi-frame answers, every NRC path, silent ECUs, listen-only, the guards."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import can
import pytest

from conftest import wait_for
from evscreen.can.transport import RequestRefused, check_service
from obdhelpers import Running, ScriptedEcu, channel, kona_2101, profile, request

CURRENT = {"target": "battery_current", "byte": 13, "length": 2, "signed": True, "scale": 0.1}
VOLTAGE = {"target": "battery_voltage", "byte": 15, "length": 2, "scale": 0.1}
SOH = {"target": "battery_soh", "byte": 28, "length": 2, "scale": 0.1}
BMS_2101 = request("bms_2101", 0x7E4, 0x7EC, "220101", [CURRENT, VOLTAGE])


def kona_2105() -> bytes:
    r = bytearray(46)
    r[0:3] = b"\x62\x01\x05"
    r[28:30] = (953).to_bytes(2, "big")
    return bytes(r)


def bms(req: bytes) -> list[tuple[float, bytes]]:
    if req == bytes.fromhex("220101"):
        return [(0.0, kona_2101())]
    if req == bytes.fromhex("220105"):
        return [(0.0, kona_2105())]
    return [(0.0, bytes([0x7F, req[0], 0x31]))]


@pytest.fixture
def cleanup() -> Iterator[list[Any]]:
    things: list[Any] = []
    yield things
    for thing in reversed(things):
        (thing.stop if isinstance(thing, Running) else thing.close)()


def test_multi_frame_answer_reaches_the_state(cleanup):
    chan = channel()
    ecu = ScriptedEcu(chan, 0x7E4, 0x7EC, bms)
    cleanup.append(ecu)
    run = Running(chan, profile(BMS_2101))
    cleanup.append(run)
    wait_for(lambda: run.get("battery_current") is not None)
    assert run.get("battery_current") == -123.4
    assert run.get("battery_voltage") == 380.5
    wait_for(lambda: run.source()["state"] == "live")


def test_response_pending_is_waited_out(cleanup):
    chan = channel()
    ecu = ScriptedEcu(chan, 0x7E4, 0x7EC, bms)
    ecu.script[bytes.fromhex("220101")] = [[(0.0, bytes.fromhex("7F2278")), (0.2, bytes.fromhex("7F2278")),
                                            (0.2, kona_2101())]]
    cleanup.append(ecu)
    run = Running(chan, profile(BMS_2101))
    cleanup.append(run)
    wait_for(lambda: run.get("battery_voltage") == 380.5)
    assert ecu.count("220101") >= 1
    assert ecu.asked[0] == bytes.fromhex("220101")
    # the pending answers did not make the poller ask again meanwhile: the first answer is the one
    assert run.obd.answers >= 1 and not run.obd.scheduler.stopped()


def test_busy_is_retried(cleanup):
    chan = channel()
    ecu = ScriptedEcu(chan, 0x7E4, 0x7EC, bms)
    ecu.script[bytes.fromhex("220101")] = [[(0.0, bytes.fromhex("7F2221"))], [(0.0, bytes.fromhex("7F2221"))]]
    cleanup.append(ecu)
    run = Running(chan, profile(request("bms_2101", 0x7E4, 0x7EC, "220101", [VOLTAGE], interval=60)))
    cleanup.append(run)
    wait_for(lambda: run.get("battery_voltage") == 380.5)
    # two busy answers, then the answer: within one 60 s interval, so retried, not rescheduled
    assert ecu.count("220101") == 3


@pytest.mark.parametrize("nrc, name", [(0x11, "serviceNotSupported"), (0x12, "subFunctionNotSupported"),
                                       (0x31, "requestOutOfRange")])
def test_not_supported_stops_the_request_with_one_log_line(cleanup, caplog, nrc, name):
    caplog.set_level(logging.INFO, logger="evscreen.drivers.obd")
    chan = channel()
    ecu = ScriptedEcu(chan, 0x7E4, 0x7EC, lambda req: bms(req) if req != bytes.fromhex("220199")
                      else [(0.0, bytes([0x7F, 0x22, nrc]))])
    cleanup.append(ecu)
    run = Running(chan, profile(BMS_2101, request("bms_2199", 0x7E4, 0x7EC, "220199", [SOH])))
    cleanup.append(run)
    wait_for(lambda: ecu.count("220101") >= 4)
    assert ecu.count("220199") == 1
    lines = [r.getMessage() for r in caplog.records if "stopped" in r.getMessage()]
    assert lines == [f"obd: request bms_2199 stopped: ECU 0x7EC answered 0x{nrc:02X} {name}; not asking it again"]


def test_silent_ecu_is_logged_once_and_shown_stale(cleanup, caplog):
    caplog.set_level(logging.INFO, logger="evscreen.drivers.obd")
    chan = channel()
    run = Running(chan, profile(request("bms_2101", 0x7E4, 0x7EC, "220101", [VOLTAGE], timeout=0.2)))
    cleanup.append(run)
    wait_for(lambda: run.source().get("detail") == "no ECU answers")
    assert run.source()["state"] in ("offline", "stale")
    silent = [r.getMessage() for r in caplog.records if "does not answer" in r.getMessage()]
    assert silent == ["obd: ECU 0x7EC does not answer bms_2101; asking it less often"]


def test_offline_until_the_can_source_reads_the_bus(cleanup):
    run = Running(channel(), profile(BMS_2101), can_source=False)
    cleanup.append(run)
    wait_for(lambda: "the CAN source is not reading" in run.source().get("detail", ""), timeout=60)
    assert run.source()["state"] == "offline"


def test_listen_only_transmits_nothing_and_reads_another_testers_answers(cleanup):
    chan = channel()
    monitor = can.Bus(interface="virtual", channel=chan)
    cleanup.append(type("Closer", (), {"close": lambda self: monitor.shutdown()})())
    run = Running(chan, profile(BMS_2101), listen_only=True)
    cleanup.append(run)
    wait_for(lambda: run.source().get("state") is not None and run.obd.share is not None)
    tester = can.Bus(interface="virtual", channel=chan)
    try:
        answer = kona_2101()
        frames = [bytes.fromhex("0322010100000000")]  # the other tester's request (to 0x7E4)
        ff = bytes([0x10, len(answer)]) + answer[:6]
        cfs = [bytes([0x20 | (i + 1) & 0xF]) + answer[6 + 7 * i:13 + 7 * i] for i in range(8)]
        tester.send(can.Message(arbitration_id=0x7E4, is_extended_id=False, data=frames[0]))
        tester.send(can.Message(arbitration_id=0x7EC, is_extended_id=False, data=ff))
        tester.send(can.Message(arbitration_id=0x7E4, is_extended_id=False, data=bytes.fromhex("3000000000000000")))
        for cf in cfs:
            tester.send(can.Message(arbitration_id=0x7EC, is_extended_id=False, data=cf.ljust(8, b"\xaa")))
        wait_for(lambda: run.get("battery_voltage") == 380.5)
        assert run.get("battery_current") == -123.4
    finally:
        tester.shutdown()
    # everything on the bus came from the tester: the poller sent not one frame
    seen = []
    while (msg := monitor.recv(0)) is not None:
        seen.append(msg.arbitration_id)
    assert seen.count(0x7E4) == 2 and seen.count(0x7EC) == 9 and len(seen) == 11


def test_no_polling_while_the_car_sleeps(cleanup):
    chan = channel()
    ecu = ScriptedEcu(chan, 0x7E4, 0x7EC, bms)
    cleanup.append(ecu)
    run = Running(chan, profile(BMS_2101), wake_policy="traffic", sleep_after=2.0)
    cleanup.append(run)
    wait_for(lambda: run.source().get("detail") == "car asleep (no traffic yet); polling paused")
    assert ecu.asked == []
    # the car wakes up: its ECUs talk on the bus
    stop = threading.Event()

    def car() -> None:
        bus = can.Bus(interface="virtual", channel=chan)
        while not stop.wait(0.05):
            bus.send(can.Message(arbitration_id=0x100, is_extended_id=False, data=b"\x01\x02"))
        bus.shutdown()

    thread = threading.Thread(target=car, daemon=True)
    thread.start()
    try:
        wait_for(lambda: run.get("battery_voltage") == 380.5)
    finally:
        stop.set()
        thread.join(5)
    # silence again: polling stops, the values stay (shown stale)
    wait_for(lambda: "car asleep (no traffic for" in run.source().get("detail", ""))
    asked = len(ecu.asked)
    wait_for(lambda: run.source()["state"] == "stale")
    assert len(ecu.asked) == asked
    assert run.get("battery_voltage") == 380.5


def test_the_poller_never_writes():
    for text in ("2E010100", "31010203", "1101", "14FFFFFF", "04", "2701", "3D00"):
        with pytest.raises(RequestRefused):
            check_service(bytes.fromhex(text))
    check_service(bytes.fromhex("14FFFFFF"), clear=True)  # only as the confirmed clear command
    check_service(bytes.fromhex("04"), clear=True)
    with pytest.raises(RequestRefused):
        check_service(bytes.fromhex("2E0101"), clear=True)
    for text in ("220101", "0100", "0902", "190208", "2101", "3E00", "03", "07", "0A"):
        check_service(bytes.fromhex(text))


def test_kona_profile_fills_battery_pack_in_the_telemetry(cleanup):
    import json
    from pathlib import Path

    import jsonschema

    from evscreen.settings import DEFAULT_SETTINGS
    from evscreen.state import build_telemetry
    from evscreen.vehicles.loader import load_profile

    chan = channel()
    ecu = ScriptedEcu(chan, 0x7E4, 0x7EC, bms)
    cleanup.append(ecu)
    run = Running(chan, load_profile("hyundai-kona-ev"))
    cleanup.append(run)
    wait_for(lambda: run.get("battery_soh") is not None and run.get("battery_pack.aux_voltage") is not None)
    telemetry = run.call(lambda: build_telemetry(run.state, {**DEFAULT_SETTINGS, "volume": 0.5}))
    schema = json.loads((Path(__file__).parent.parent / "docs" / "schema" / "telemetry.json").read_text())
    jsonschema.validate(telemetry, schema)
    assert telemetry["battery_soh"] == 95.3
    assert telemetry["battery_current"] == -123.4 and telemetry["battery_voltage"] == 380.5
    assert telemetry["battery_pack"] == {
        "cell_voltage_min": 3.9, "cell_voltage_max": 4.0, "cell_voltage_min_id": 81, "cell_voltage_max_id": 37,
        "temp_min": -3, "temp_max": 25, "aux_voltage": 12.4, "max_charge_power_kw": 75.0,
        "max_discharge_power_kw": 98.45, "energy_charged_kwh": 12345.6, "energy_discharged_kwh": 11876.5,
    }
    assert telemetry["sources"]["obd"]["state"] == "live"


def test_no_polling_below_the_12v_threshold(cleanup):
    low = bytearray(kona_2101())
    low[32] = 115  # 11.5 V
    chan = channel()
    ecu = ScriptedEcu(chan, 0x7E4, 0x7EC, lambda req: [(0.0, bytes(low))] if req == bytes.fromhex("220101")
                      else bms(req))
    cleanup.append(ecu)
    aux = {"target": "battery_pack.aux_voltage", "byte": 32, "scale": 0.1}
    run = Running(chan, profile(request("bms_2101", 0x7E4, 0x7EC, "220101", [VOLTAGE, aux])))
    cleanup.append(run)
    wait_for(lambda: run.source().get("detail") == "12 V battery at 11.5 V, below 12.0 V; polling paused")
    asked = len(ecu.asked)
    assert asked == 1
    # the car is switched on: its DC-DC converter charges the 12 V battery, polling resumes
    run.call(lambda: run.state.update("can", {"vehicle.ready": True}))
    wait_for(lambda: len(ecu.asked) > asked)


def test_obd2_profile_asks_only_the_pids_the_ecu_supports(cleanup, caplog):
    from evscreen.vehicles.loader import load_profile

    caplog.set_level(logging.INFO, logger="evscreen.drivers.obd")
    bitmaps = {0x00: "00080001", 0x20: "00000001", 0x40: "44000000"}  # 0D, then 20; 40; 42 and 46: no 5B, no A6

    def ecu(req: bytes) -> list[tuple[float, bytes]]:
        if req[0] == 0x01 and req[1] in bitmaps:
            return [(0.0, bytes([0x41, req[1]]) + bytes.fromhex(bitmaps[req[1]]))]
        values = {0x0D: "3C", 0x46: "3C", 0x42: "3A98"}
        if req[0] == 0x01 and req[1] in values:
            return [(0.0, bytes([0x41, req[1]]) + bytes.fromhex(values[req[1]]))]
        return []  # an unsupported PID asked functionally: no answer at all, as real ECUs do

    chan = channel()
    server = ScriptedEcu(chan, 0x7E0, 0x7E8, ecu, functional_id=0x7DF)
    cleanup.append(server)
    run = Running(chan, load_profile("obd2"))
    cleanup.append(run)
    wait_for(lambda: run.get("speed") == 60 and run.get("ambient_temp") == 20
             and run.get("battery_pack.aux_voltage") == 15.0)
    assert not any(req in (bytes.fromhex("01A6"), bytes.fromhex("015B")) for req in server.asked)
    stopped = sorted(r.getMessage() for r in caplog.records if "stopped" in r.getMessage())
    assert stopped == [
        "obd: request battery_remaining stopped: PID 5B is not among ECU 0x7E8's supported PIDs; not asking it again",
        "obd: request odometer stopped: PID A6 is not among ECU 0x7E8's supported PIDs; not asking it again"]
    assert run.obd.scheduler.silent_ecus() == []  # the unasked PIDs cost no timeouts


def test_29_bit_addressing(cleanup):
    chan = channel()
    ecu = ScriptedEcu(chan, 0x18DA10F1, 0x18DAF110, bms, extended=True)
    cleanup.append(ecu)
    run = Running(chan, profile(request("bms_2101", 0x18DA10F1, 0x18DAF110, "220101", [CURRENT, VOLTAGE])))
    cleanup.append(run)
    wait_for(lambda: run.get("battery_voltage") == 380.5)
    assert run.obd.requests[0].extended
    assert ecu.asked[0] == bytes.fromhex("220101")


class RefusingBus(can.BusABC):
    """A virtual bus whose adapter refuses to transmit while ``refuse`` is set (bus-off, unplugged)."""

    def __init__(self, chan: str) -> None:
        super().__init__(channel=chan)
        self.inner = can.Bus(interface="virtual", channel=chan)
        self.refuse = False

    def send(self, msg: can.Message, timeout: float | None = None) -> None:
        if self.refuse:
            raise can.CanOperationError("Cannot operate on a closed bus")
        self.inner.send(msg, timeout)

    def _recv_internal(self, timeout: float | None) -> tuple[can.Message | None, bool]:
        return self.inner.recv(timeout), False

    def shutdown(self) -> None:
        self.inner.shutdown()
        super().shutdown()


def test_a_refused_frame_fails_its_request_and_the_link_lives_on(cleanup):
    """can-isotp sends from its own thread; a frame the interface refuses there must not end that thread
    (every later request on the link would time out) nor escape as an unhandled thread exception."""
    from evscreen.can.share import BusShare
    from evscreen.can.transport import DiagTransport
    from evscreen.errors import SourceUnavailable

    chan = channel()
    ecu = ScriptedEcu(chan, 0x7E4, 0x7EC, bms)
    cleanup.append(ecu)
    bus = RefusingBus(chan)
    share = BusShare(bus, f"virtual {chan}")
    reader = can.Notifier(bus, [share.dispatch])
    transport = DiagTransport(share)
    failures: list[threading.ExceptHookArgs] = []
    previous, threading.excepthook = threading.excepthook, failures.append
    try:
        bus.refuse = True
        with pytest.raises(SourceUnavailable, match="cannot send on virtual"):
            transport.request(0x7E4, 0x7EC, bytes.fromhex("220101"), timeout=30)
        bus.refuse = False
        answer = transport.request(0x7E4, 0x7EC, bytes.fromhex("220101"), timeout=30)
        assert answer.kind == "positive" and answer.payload == kona_2101()
    finally:
        threading.excepthook = previous
        transport.close()
        reader.stop()
        bus.shutdown()
    assert failures == []
