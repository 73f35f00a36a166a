"""Diagnostics: the CPU cost of passive decoding and of polling, and the bus load polling adds.

1. Passive decoding (``can-dump --diag``'s core): the real Kona D-CAN session (every frame a
   diagnostic one), reassembled and decoded, in frames/s; baseline: the compiled DBC decoder on
   the real Kona P-CAN log in the same run (the main CAN path), so the ratio says what a
   diagnostic frame costs against a broadcast one.
2. Polling: the CAN source and the obd source with the Kona profile against the simulated BMS on a
   virtual bus, at the global cap (5 requests/s by default), for ``--seconds``: the process's CPU
   per request and as a share of one core; baseline: the same process with the poller paused
   (the CAN source reading the car's traffic alone).
3. Bus load: the frames each request really took on the bus (counted by a second listener), times
   the worst-case length of a stuffed 11-bit frame (135 bits), for the Kona profile's default
   schedule while on, and for the cap; target: under 2 % of 500 kbit/s.

    python benchmarks/diagnostics.py [--seconds 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))
from benchlib import best_of, figure

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "realdata" / "can" / "kona-ev"
DCAN = DATA / "221210-1-2021-dcan-car-scanner-elm327.csv"
PCAN = DATA / "221217-1-2021-pcan-bcan-no-key.csv"
FRAME_BITS = 135  # an 11-bit frame with 8 data bytes, worst-case bit stuffing
BITRATE = 500_000


def passive(repeat: int) -> None:
    from evscreen.can.logs import open_log
    from evscreen.tools.diag_dump import DiagDump, DiagFilter, DiagSummary

    dcan = list(open_log(str(DCAN))) * 20

    def diag() -> int:
        dump = DiagDump(DiagFilter(), DiagSummary())
        for frame in dcan:
            dump.feed(frame)
        dump.finish()
        return len(dcan)

    from evscreen.can.dbc.loader import load_decoder

    decoder = load_decoder(str(DATA / "pcan.dbc"), cache=False)
    pcan = [(f.arbitration_id, f.is_extended, f.data) for f in open_log(str(PCAN))]

    def dbc() -> int:
        find = decoder.find
        for frame_id, extended, data in pcan:
            message = find(frame_id, extended)
            if message is not None and len(data) >= message.length:
                message.decode(data)
        return len(pcan)

    per_diag, per_dbc = best_of(diag, repeat), best_of(dbc, repeat)
    print(f"passive diagnostics: {1 / per_diag:,.0f} frames/s; DBC decoding: {1 / per_dbc:,.0f} frames/s")
    figure("diag passive decode", round(1 / per_diag), "frames/s", baseline=round(1 / per_dbc),
           baseline_name="compiled DBC decode (Kona P-CAN)",
           target=">= 45,000 frames/s (10x a saturated 500 kbit/s bus)", met=1 / per_diag >= 45_000)


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def polling(seconds: float) -> None:
    import can

    from evscreen.can.ecu_server import EcuServer
    from evscreen.config import load_config
    from evscreen.drivers.can import CanSource
    from evscreen.drivers.obd import ObdSource
    from evscreen.sim.diag_ecus import SimulatedBms
    from evscreen.sim.vehicle import VehicleModel
    from evscreen.state import VehicleState
    from evscreen.vehicles.loader import load_profile

    channel = f"bench-diag-{os.getpid()}"
    model = VehicleModel(1)
    for _ in range(100):
        model.step()
    out = model.outputs()
    car = can.Bus(interface="virtual", channel=channel)
    notifier = can.Notifier(car, [])
    ecu = EcuServer(car, notifier, 0x7E4, 0x7EC, SimulatedBms(1, lambda: out).respond).start()
    tap = can.Bus(interface="virtual", channel=channel)
    stop = threading.Event()

    def traffic() -> None:  # the car's broadcast: 100 frames/s, so the car counts as awake
        while not stop.wait(0.01):
            car.send(can.Message(arbitration_id=0x100, is_extended_id=False, data=bytes(8)))

    threading.Thread(target=traffic, daemon=True).start()
    profile = load_profile("hyundai-kona-ev")
    fast = [r.__class__(**{**r.__dict__, "intervals": {"off": 0.1, "on": 0.1, "charging": 0.1}})
            for r in profile.diagnostics]
    fast_profile = profile.__class__(**{**profile.__dict__, "diagnostics": tuple(fast)})
    config = load_config(env={}, flags={"can.enabled": True, "can.interface": "virtual", "can.channel": channel,
                                        "obd.enabled": True}).config

    async def run(poll: bool) -> tuple[float, int, float]:
        state = VehicleState()
        sources: list[Any] = [CanSource(config, state)]
        obd = ObdSource(config, state, profile=fast_profile) if poll else None
        if obd is not None:
            sources.append(obd)
        tasks = [asyncio.create_task(s.run()) for s in sources]
        await asyncio.sleep(1.0)  # opened, first answers in
        start_cpu, start = cpu(), time.monotonic()
        answers = obd.answers if obd is not None else 0
        await asyncio.sleep(seconds)
        used, wall = cpu() - start_cpu, time.monotonic() - start
        answered = (obd.answers - answers) if obd is not None else 0
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return used, answered, wall

    try:
        idle_cpu, _, idle_wall = asyncio.run(run(False))
        while tap.recv(0) is not None:
            pass
        poll_cpu, answered, poll_wall = asyncio.run(run(True))
        frames = 0
        while (msg := tap.recv(0)) is not None:
            if 0x700 <= msg.arbitration_id <= 0x7FF:
                frames += 1
    finally:
        stop.set()
        ecu.stop()
        notifier.stop()
        car.shutdown()
        tap.shutdown()
    per_request_ms = (poll_cpu - idle_cpu * poll_wall / idle_wall) / max(answered, 1) * 1000
    share = poll_cpu / poll_wall * 100
    print(f"polling: {answered} answers in {poll_wall:.1f} s ({answered / poll_wall:.1f}/s), "
          f"CPU {share:.1f} % of a core (idle {idle_cpu / idle_wall * 100:.1f} %), {per_request_ms:.2f} ms per request")
    figure("diag polling CPU", round(share, 2), "% of a core", baseline=round(idle_cpu / idle_wall * 100, 2),
           baseline_name="CAN source alone, same traffic", target="< 10 % at the cap", met=share < 10,
           higher_is_better=False)
    figure("diag CPU per request", round(per_request_ms, 3), "ms", target="< 5 ms", met=per_request_ms < 5,
           higher_is_better=False)
    frames_per_request = frames / max(answered, 1)
    on = sum(1 / r.intervals["on"] for r in profile.diagnostics if r.intervals["on"])
    default_load = on * frames_per_request * FRAME_BITS / BITRATE * 100
    cap_load = config.obd.max_requests_per_s * frames_per_request * FRAME_BITS / BITRATE * 100
    print(f"bus: {frames_per_request:.1f} frames per request; Kona schedule while on: {on:.3f} requests/s = "
          f"{default_load:.3f} % of 500 kbit/s; at the cap ({config.obd.max_requests_per_s:g}/s): {cap_load:.2f} %")
    figure("diag bus load, Kona schedule", round(default_load, 3), "% of 500 kbit/s", target="< 2 %",
           met=default_load < 2, higher_is_better=False)
    figure("diag bus load at the cap", round(cap_load, 2), "% of 500 kbit/s", target="< 2 %", met=cap_load < 2,
           higher_is_better=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    passive(args.repeat)
    polling(args.seconds)


if __name__ == "__main__":
    main()
