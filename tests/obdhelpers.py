"""Running the CAN source and the diagnostics poller against simulated ECUs on a virtual bus."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Callable, Sequence
from typing import Any

import can

from evscreen.can.ecu_server import EcuServer
from evscreen.config import load_config
from evscreen.state import VehicleState
from evscreen.vehicles.profile import Profile, profile_from_dict

_channels = itertools.count(1)


def channel() -> str:
    return f"obd-test-{next(_channels)}"


def profile(*requests: dict[str, Any]) -> Profile:
    return profile_from_dict({"vehicle": {"name": "test car"}, "buses": {"obd": {}},
                              "diagnostics": {"requests": list(requests)}}, "test-car")


def request(name: str, tx: int, rx: int, hex_request: str, fields: Sequence[dict[str, Any]],
            interval: float = 0.2, **more: Any) -> dict[str, Any]:
    return {"name": name, "request_id": tx, "response_id": rx, "request": hex_request,
            "intervals": {"off": interval, "on": interval, "charging": interval}, "fields": list(fields), **more}


def kona_2101() -> bytes:
    """The BMS's 0x220101 answer, built from the byte layout in issue 16."""
    r = bytearray(62)
    r[0:3] = b"\x62\x01\x01"
    r[7] = 155  # SoC 77.5 %
    r[8:10] = (7500).to_bytes(2, "big")  # max regen 75.00 kW
    r[10:12] = (9845).to_bytes(2, "big")  # max discharge 98.45 kW
    r[13:15] = (-1234).to_bytes(2, "big", signed=True)  # -123.4 A
    r[15:17] = (3805).to_bytes(2, "big")  # 380.5 V
    r[17] = 25
    r[18] = (-3) & 0xFF
    r[26], r[27] = 200, 37  # max cell 4.00 V, cell 37
    r[28], r[29] = 195, 81  # min cell 3.90 V, cell 81
    r[32] = 124  # 12.4 V
    r[41:45] = (123456).to_bytes(4, "big")  # 12345.6 kWh charged
    r[45:49] = (118765).to_bytes(4, "big")  # 11876.5 kWh discharged
    return bytes(r)


class ScriptedEcu:
    """An ECU on its own virtual bus instance: answers from a script, then a default, per request."""

    def __init__(self, channel: str, request_id: int, response_id: int,
                 default: Callable[[bytes], Sequence[tuple[float, bytes]]] | None = None,
                 functional_id: int | None = None, extended: bool = False) -> None:
        self.bus = can.Bus(interface="virtual", channel=channel)
        self.notifier = can.Notifier(self.bus, [])
        self.script: dict[bytes, list[Sequence[tuple[float, bytes]]]] = {}
        self.default = default or (lambda req: [(0.0, bytes([0x7F, req[0], 0x11]))])
        self.asked: list[bytes] = []
        self.server = EcuServer(self.bus, self.notifier, request_id, response_id, self._respond,
                                functional_id=functional_id, extended=extended).start()

    def _respond(self, req: bytes) -> Sequence[tuple[float, bytes]]:
        self.asked.append(req)
        queue = self.script.get(req)
        if queue:
            return queue.pop(0)
        return self.default(req)

    def count(self, hex_request: str) -> int:
        return self.asked.count(bytes.fromhex(hex_request))

    def close(self) -> None:
        self.server.stop()
        self.notifier.stop()
        self.bus.shutdown()


class Running:
    """The CAN source and the obd source under the supervisor, in an event loop of their own."""

    def __init__(self, chan: str, prof: Profile, *, can_source: bool = True, **obd: Any) -> None:
        from evscreen.drivers.can import CanSource
        from evscreen.drivers.obd import ObdSource

        flags = {"can.enabled": True, "can.interface": "virtual", "can.channel": chan, "can.timeout": 0.5,
                 "obd.enabled": True, "obd.wake_policy": "answers", "obd.max_requests_per_s": 50.0,
                 **{f"obd.{k}": v for k, v in obd.items()}}
        self.config = load_config(env={}, flags=flags).config
        self.state = VehicleState()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.sources: list[Any] = []
        if can_source:
            self.sources.append(self.call(lambda: CanSource(self.config, self.state)))
        self.obd = self.call(lambda: ObdSource(self.config, self.state, profile=prof))
        self.sources.append(self.obd)
        self.tasks = [self.call(lambda s=s: self.loop.create_task(s.run())) for s in self.sources]

    def call(self, fn: Callable[[], Any]) -> Any:
        async def wrapper() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop).result(10)

    def get(self, path: str) -> Any:
        return self.call(lambda: self.state.get(path))

    def source(self, name: str = "obd") -> dict[str, Any]:
        return self.call(lambda: self.state.describe_sources()[name])

    def stop(self) -> None:
        async def stop() -> None:
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(20)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()
