"""``evscreen obd``: ask the car's ECUs directly — scan, DTCs, one raw request, a profile's values.

Every command opens the bus ``[can]`` names (or ``--interface``/``--channel``), or with
``--simulated`` the simulated car's ECUs on a private virtual bus, and talks through the same
transport as the poller (:class:`~evscreen.can.transport.DiagTransport`): only read services,
except the DTC clear, which asks first.
"""

from __future__ import annotations

import itertools
import queue
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from evscreen.can.diag.decode import decode_payload
from evscreen.can.diag.isotp import DiagMessage, Reassembler, id_text
from evscreen.can.diag.obd import INFO_TYPES, decode_dtc_list, supported_pids
from evscreen.can.diag.services import NEGATIVE_RESPONSE
from evscreen.errors import SourceUnavailable, UsageError

if TYPE_CHECKING:
    from evscreen.can.share import BusShare
    from evscreen.can.transport import Answer, DiagTransport
    from evscreen.config import Config
    from evscreen.vehicles.profile import Profile

FUNCTIONAL_ID = 0x7DF
OBD_RESPONSES = range(0x7E8, 0x7F0)


@dataclass
class Session:
    share: BusShare
    transport: DiagTransport
    where: str
    timeout: float = 1.0

    def request(self, tx: int, rx: int, payload: bytes, *, clear: bool = False) -> Answer:
        return self.transport.request(tx, rx, payload, timeout=self.timeout, clear=clear)

    def broadcast(self, payload: bytes, wait: float) -> dict[int, bytes]:
        """Send a functional OBD-II request (0x7DF) and collect every ECU's answer for ``wait`` s."""
        import can

        answers: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.share.notifier.add_listener(answers.put)
        try:
            frame = bytes([len(payload)]) + payload
            self.share.send(can.Message(arbitration_id=FUNCTIONAL_ID, is_extended_id=False,
                                        data=frame.ljust(8, b"\xaa")))
            reassembler = Reassembler()
            out: dict[int, bytes] = {}
            deadline = time.monotonic() + wait
            while (left := deadline - time.monotonic()) > 0:
                try:
                    msg = answers.get(timeout=left)
                except queue.Empty:
                    break
                if msg.arbitration_id not in OBD_RESPONSES or msg.is_extended_id:
                    continue
                for event in reassembler.feed(time.monotonic(), "", msg.arbitration_id, False, bytes(msg.data)):
                    if isinstance(event, DiagMessage) and event.payload[:1] == bytes([payload[0] + 0x40]):
                        out[event.arbitration_id] = event.payload
            return out
        finally:
            self.share.notifier.remove_listener(answers.put)


@contextmanager
def open_session(config: Config, *, simulated: bool = False, timeout: float = 1.0) -> Iterator[Session]:
    """The bus of ``[can]`` (or the simulated car's), read in a thread, with a transport on it."""
    from evscreen.can.share import BusShare, start_reader
    from evscreen.can.transport import DiagTransport

    closers: list[Any] = []
    try:
        if simulated:
            bus, where = _simulated_car(closers)
        else:
            from evscreen.can.bus import check_interface, open_bus, parse_options

            cfg = config.can
            check_interface(cfg.interface, "--interface")
            where = f"{cfg.interface} {cfg.channel}"
            try:
                bus = open_bus(cfg.interface, cfg.channel, cfg.bitrate, parse_options(cfg.options))
            except Exception as exc:
                raise SourceUnavailable(f"cannot open CAN interface {where}: {exc}") from None
            closers.append(bus.shutdown)
        share = BusShare(bus, where)
        closers.append(share.close)
        closers.append(start_reader(share))
        transport = DiagTransport(share)
        closers.append(transport.close)
        yield Session(share, transport, where, timeout)
    finally:
        for close in reversed(closers):
            try:
                close()
            except Exception:  # an adapter that went away cannot be closed cleanly
                pass


def _simulated_car(closers: list[Any]) -> tuple[Any, str]:
    """The simulated car's diagnostic ECUs on a private virtual bus; returns the tester's side."""
    import os

    import can

    from evscreen.can.ecu_server import EcuServer
    from evscreen.sim.diag_ecus import SimulatedBms, SimulatedObdEcu
    from evscreen.sim.vehicle import VehicleModel

    channel = f"evscreen-obd-sim-{os.getpid()}-{next(_sim_numbers)}"
    car_bus = can.Bus(interface="virtual", channel=channel)
    closers.append(car_bus.shutdown)
    notifier = can.Notifier(car_bus, [])
    closers.append(notifier.stop)
    model = VehicleModel(1)
    for _ in range(100):  # on the road for a few seconds: the values are not all zero
        model.step()
    out = model.outputs()
    for ecu in (EcuServer(car_bus, notifier, 0x7E4, 0x7EC, SimulatedBms(1, lambda: out).respond),
                EcuServer(car_bus, notifier, 0x7E0, 0x7E8, SimulatedObdEcu(lambda: out).respond,
                          functional_id=FUNCTIONAL_ID)):
        closers.append(ecu.start().stop)
    tester = can.Bus(interface="virtual", channel=channel)
    closers.append(tester.shutdown)
    return tester, f"the simulated car (virtual {channel})"


_sim_numbers = itertools.count(1)


# --- scan ---------------------------------------------------------------------------------------


@dataclass
class EcuReport:
    response_id: int
    supported_pids: list[int] = field(default_factory=list)
    vin: str | None = None
    names: list[str] = field(default_factory=list)
    calibration_ids: list[str] = field(default_factory=list)
    dtcs: list[dict[str, Any]] = field(default_factory=list)
    pending_dtcs: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"response_id": id_text(self.response_id, False), "request_id": id_text(self.response_id - 8, False),
                "supported_pids": [f"{p:02X}" for p in self.supported_pids], "vin": self.vin,
                "ecu_names": self.names, "calibration_ids": self.calibration_ids, "dtcs": self.dtcs,
                "pending_dtcs": self.pending_dtcs}


def find_ecus(session: Session, wait: float = 0.5) -> list[int]:
    """The response IDs of the ECUs that answer a functional mode 01 PID 00."""
    return sorted(session.broadcast(b"\x01\x00", wait))


def scan(session: Session, with_dtcs: bool = True) -> list[EcuReport]:
    reports = []
    for rx in find_ecus(session):
        tx = rx - 8
        report = EcuReport(rx)
        base = 0
        while base <= 0xE0:
            answer = session.request(tx, rx, bytes([0x01, base]))
            if answer.kind != "positive" or len(answer.payload) < 6:
                break
            pids = supported_pids(base, answer.payload[2:6])
            report.supported_pids += [p for p in pids if p % 0x20]
            if base + 0x20 not in pids:
                break
            base += 0x20
        for info, attr in ((0x02, "vin"), (0x0A, "names"), (0x04, "calibration_ids")):
            answer = session.request(tx, rx, bytes([0x09, info]))
            if answer.kind == "positive":
                value = decode_payload(answer.payload).content.get("value")
                if attr == "vin":
                    report.vin = value or None
                elif isinstance(value, list):
                    getattr(report, attr).extend(value)
                elif value:
                    getattr(report, attr).append(value)
        if with_dtcs:
            report.dtcs, report.pending_dtcs = read_dtcs(session, rx)
        reports.append(report)
    return reports


def read_dtcs(session: Session, rx: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Stored (mode 03) and pending (mode 07) DTCs of one ECU, with their generic meaning."""
    out: list[list[dict[str, Any]]] = []
    for mode in (0x03, 0x07):
        answer = session.request(rx - 8, rx, bytes([mode]))
        out.append(decode_dtc_list(answer.payload[1:])["dtcs"] if answer.kind == "positive" else [])
    return out[0], out[1]


def clear_dtcs(session: Session) -> dict[int, str]:
    """Mode 04 to every ECU that answers: {response ID: "cleared" or why not}."""
    results = {}
    for rx in find_ecus(session):
        answer = session.request(rx - 8, rx, b"\x04", clear=True)
        if answer.kind == "positive":
            results[rx] = "cleared"
        elif answer.kind == "negative":
            results[rx] = describe_answer(answer)
        else:
            results[rx] = "no answer"
    return results


# --- query and poll -----------------------------------------------------------------------------


def parse_id(text: str, what: str) -> int:
    try:
        value = int(text, 16) if not text.lower().startswith("0x") else int(text, 0)
    except ValueError:
        raise UsageError(f"{what}: {text!r} is not a hex CAN ID (e.g. 0x7E4)") from None
    if not 0 <= value <= 0x1FFFFFFF:
        raise UsageError(f"{what}: {text!r} is beyond 29 bits")
    return value


def parse_request(text: str) -> bytes:
    try:
        payload = bytes.fromhex(text.replace(" ", ""))
    except ValueError:
        raise UsageError(f"HEX: {text!r} is not hex bytes (e.g. 220101 or 01 0D)") from None
    if not payload:
        raise UsageError("HEX: the request needs at least its service byte")
    from evscreen.can.transport import RequestRefused, check_service

    try:
        check_service(payload)
    except RequestRefused as exc:
        raise UsageError(str(exc)) from None
    return payload


def describe_answer(answer: Answer) -> str:
    if answer.kind == "timeout":
        return "no answer"
    service, content = decode_payload(answer.payload)
    if answer.payload[:1] == bytes([NEGATIVE_RESPONSE]):
        return f"{service}: negative response 0x{content.get('nrc')} {content.get('nrc_name')}"
    return service


def poll_profile(session: Session, profile: Profile) -> dict[str, Any]:
    """One round of the profile's requests: {field: value}, and {request: why} for those that failed."""
    from evscreen.drivers.obd import read_fields

    values: dict[str, Any] = {}
    failed: dict[str, str] = {}
    for request in profile.diagnostics:
        answer = session.request(request.request_id, request.response_id, request.request)
        if answer.kind == "positive":
            values.update(read_fields(request, answer.payload))
        else:
            failed[request.name] = describe_answer(answer)
    return {"values": values, "failed": failed}


def info_name(info: int) -> str:
    return INFO_TYPES.get(info, f"info type {info:02X}")


# --- the commands (printing: the CLI layer) -------------------------------------------------------


def _print_json(data: Any) -> None:
    import json
    import sys

    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")


def run_scan(config: Config, *, simulated: bool, as_json: bool) -> int:
    with open_session(config, simulated=simulated) as session:
        reports = scan(session)
        where = session.where
    if as_json:
        _print_json({"bus": where, "ecus": [r.as_dict() for r in reports]})
        return 0 if reports else 1
    from rich.console import Console

    console = Console()
    if not reports:
        console.print(f"no ECU answered an OBD-II request on {where}: is the car on (ignition or Ready)? "
                      "Is this the OBD-II port's bus, at its bitrate (500000 on most cars)? `evscreen probe obd` "
                      "says more.", style="red")
        return 1
    for r in reports:
        console.print(f"[bold]ECU {id_text(r.response_id, False)}[/] (asked on {id_text(r.response_id - 8, False)})")
        console.print(f"  supported PIDs: {' '.join(f'{p:02X}' for p in r.supported_pids) or 'none'}")
        if r.vin:
            console.print(f"  VIN: {r.vin}")
        for name in r.names:
            console.print(f"  name: {name}")
        for cal in r.calibration_ids:
            console.print(f"  calibration: {cal}")
        console.print(f"  stored DTCs: {_dtc_list(r.dtcs)}; pending: {_dtc_list(r.pending_dtcs)}")
    return 0


def _dtc_list(dtcs: list[dict[str, Any]]) -> str:
    if not dtcs:
        return "none"
    return ", ".join(d["code"] + (f" ({d['meaning']})" if d.get("meaning") else "") for d in dtcs)


def run_dtc(config: Config, *, simulated: bool, clear: bool, yes: bool, as_json: bool) -> int:
    import sys

    with open_session(config, simulated=simulated) as session:
        ecus = find_ecus(session)
        found = {rx: read_dtcs(session, rx) for rx in ecus}
        result: dict[str, Any] = {"bus": session.where, "ecus": {
            id_text(rx, False): {"dtcs": d, "pending_dtcs": p} for rx, (d, p) in found.items()}}
        if clear and ecus:
            if not yes:
                if not sys.stdin.isatty() and as_json:
                    raise UsageError("--clear with --json needs --yes (there is no one to ask)")
                sys.stderr.write(f"Clear the stored DTCs of {len(ecus)} ECU(s) on {session.where}? This also "
                                 "resets the emission readiness monitors. Type 'yes' to clear: ")
                sys.stderr.flush()
                answer = sys.stdin.readline().strip().lower()
                if answer != "yes":
                    sys.stderr.write("not cleared\n")
                    result["cleared"] = None
                    if as_json:
                        _print_json(result)
                    return 1
            result["cleared"] = {id_text(rx, False): why for rx, why in clear_dtcs(session).items()}
    if as_json:
        _print_json(result)
    else:
        from rich.console import Console

        console = Console()
        if not found:
            console.print("no ECU answered an OBD-II request: is the car on?", style="red")
        for rx, (stored, pending) in found.items():
            console.print(f"ECU {id_text(rx, False)}: stored {_dtc_list(stored)}; pending {_dtc_list(pending)}")
        for rx_text, why in (result.get("cleared") or {}).items():
            console.print(f"ECU {rx_text}: {why}")
    return 0 if found else 1


def run_query(config: Config, tx: str, rx: str, hex_request: str, *, simulated: bool, timeout: float,
              as_json: bool) -> int:
    request_id, response_id = parse_id(tx, "TX"), parse_id(rx, "RX")
    payload = parse_request(hex_request)
    with open_session(config, simulated=simulated, timeout=timeout) as session:
        answer = session.transport.request(request_id, response_id, payload, extended=request_id > 0x7FF,
                                           timeout=timeout)
    decoded = decode_payload(answer.payload) if answer.payload else None
    if as_json:
        _print_json({"kind": answer.kind, "data": answer.payload.hex().upper(), "pending": answer.pending,
                     "service": decoded.service if decoded else None,
                     "decoded": decoded.content if decoded else None})
    else:
        from evscreen.tools.diag_dump import describe

        if decoded is None:
            print(f"no answer from {id_text(response_id, response_id > 0x7FF)} within {timeout:g} s")
        else:
            print(f"{answer.payload.hex().upper()}  :: {describe(decoded)}")
    return 0 if answer.kind == "positive" else 1


def run_poll(config: Config, vehicle: str, *, simulated: bool, count: int | None, as_json: bool) -> int:
    from evscreen.vehicles.loader import load_profile

    profile = load_profile(vehicle)
    if not profile.diagnostics:
        raise UsageError(f"--vehicle: profile {vehicle} has no [[diagnostics.requests]]")
    rounds = 0
    with open_session(config, simulated=simulated) as session:
        if as_json:
            while count is None or rounds < count:
                _print_json(poll_profile(session, profile))
                rounds += 1
            return 0
        from rich.console import Console
        from rich.live import Live
        from rich.table import Table

        def table(result: dict[str, Any]) -> Table:
            t = Table(title=f"{profile.name} — {session.where}", title_justify="left")
            for column in ("field", "value", "request"):
                t.add_column(column)
            for request in profile.diagnostics:
                for f in request.fields:
                    value = result["values"].get(f.target)
                    t.add_row(f.target, "—" if value is None else f"{value:g}" if isinstance(value, float)
                              else str(value), request.name + (f" ({result['failed'][request.name]})"
                                                               if request.name in result["failed"] else ""))
            return t

        with Live(console=Console(), auto_refresh=False) as view:
            try:
                while count is None or rounds < count:
                    view.update(table(poll_profile(session, profile)), refresh=True)
                    rounds += 1
            except KeyboardInterrupt:
                pass
    return 0
