"""``evscreen probe can``: open the CAN interface for a few seconds and count what arrives."""

from __future__ import annotations

import asyncio

from evscreen.drivers.can import CanSource
from evscreen.state import VehicleState
from evscreen.tools.probe import ProbeContext, ProbeResult, Rows, run_source

DEFAULT_DURATION_S = 3.0

SOCKETCAN_ADVICE = [
    "bring the interface up: `sudo ip link set can0 up type can bitrate 500000` (the car's bus rate: "
    "500000 for most powertrain buses, 125000 or 250000 for some body buses)",
    "`ip -details -statistics link show can0` shows its state (ERROR-PASSIVE or BUS-OFF means wrong bitrate "
    "or wiring) and error counters",
]
HAT_ADVICE = [
    "an MCP2515 board needs `dtoverlay=mcp2515-can0,oscillator=16000000,interrupt=25` (the crystal on the "
    "board: 8, 12 or 16 MHz) and `dtparam=spi=on` in /boot/firmware/config.txt, then a reboot; "
    "`dmesg | grep -i mcp251` tells whether it was found",
]
KERNEL_ADVICE = [
    "load SocketCAN: `sudo modprobe can can_raw`, plus the adapter's driver (mcp251x for an MCP2515 HAT, "
    "gs_usb for candleLight/CANable, peak_usb for PCAN-USB); `lsmod | grep can` lists what is loaded",
    "a kernel built without CAN support (some containers, WSL, minimal images) cannot do SocketCAN: use "
    "Raspberry Pi OS's kernel, or a serial adapter with --interface slcan",
    "in a container, SocketCAN comes from the host: run it with the host's network (`--network host`)",
]
NO_DEVICE_ADVICE = [
    "`ip link show type can` lists the CAN interfaces this machine has: is the name right (--channel)?",
    "a USB adapter appears when plugged in (`dmesg | tail`); a HAT only after its overlay is loaded:",
]
QUIET_ADVICE = [
    "the interface is open but nothing arrives: is the car awake (ignition or charging)? Many ECUs sleep "
    "without the key",
    "CAN-H/CAN-L swapped or not connected, or no 120 Ω termination on a bench bus",
    "a bitrate different from the bus's makes the controller see only errors: check --bitrate",
]


def probe_can(ctx: ProbeContext) -> ProbeResult:
    return asyncio.run(_probe(ctx, ctx.seconds(DEFAULT_DURATION_S)))


async def _probe(ctx: ProbeContext, duration: float) -> ProbeResult:
    state = VehicleState()
    source = CanSource(ctx.config, state)
    elapsed = await run_source(source, duration, lambda elapsed: ctx.show(_rows(source, state, elapsed)))
    return _verdict(source, state, elapsed)


def _rows(source: CanSource, state: VehicleState, elapsed: float) -> Rows:
    s = source.stats
    rows: Rows = [("interface", source.where), ("DBC", source.decoder.name), ("elapsed", f"{elapsed:.1f} s"),
                  ("frames", f"{s.frames} ({s.frames / max(elapsed, 1e-9):.0f}/s)"),
                  ("decoded", str(s.decoded)), ("unknown IDs", str(len(s.unknown_ids))),
                  ("error frames", str(s.errors))]
    detail = state.source_status(source.name).detail
    if detail:
        rows.append(("problem", detail))
    return rows


def _verdict(source: CanSource, state: VehicleState, elapsed: float) -> ProbeResult:
    s = source.stats
    readings = {
        "interface": source.cfg.interface, "channel": source.cfg.channel, "bitrate": source.cfg.bitrate,
        "dbc": source.decoder.name, "frames": s.frames, "frames_per_s": round(s.frames / max(elapsed, 1e-9), 1),
        "decoded": s.decoded, "unknown": s.unknown, "error_frames": s.errors, "short": s.short,
        "unknown_ids": {f"0x{i:X}": n for (i, _), n in s.unknown_ids.most_common(20)},
        "values": {k: v for k, v in state.values().items() if not k.startswith("connectivity.")},
    }
    problem = state.source_status(source.name).detail
    socketcan = source.cfg.interface == "socketcan"
    if s.frames and s.decoded:
        advice = [] if s.decoded * 2 >= s.frames else [
            f"most frames ({s.unknown} of {s.frames}) are not in the DBC {source.decoder.name}: is it this bus's DBC?"]
        return ProbeResult("can", True, f"{s.frames} frames in {elapsed:.1f} s, {s.decoded} decoded with "
                           f"{source.decoder.name}", readings=readings, advice=advice)
    if s.frames:
        return ProbeResult("can", False, f"{s.frames} frames arrive but none is in the DBC {source.decoder.name}",
                           readings=readings, cause="the DBC does not describe this bus",
                           advice=["pass the bus's DBC: --dbc FILE (or [can] dbc), and map its signals in "
                                   "[can.signals] (docs/can.md)", "`evscreen can-dump` shows the IDs on the bus"])
    if problem:
        summary = problem if problem.startswith("cannot") else f"cannot read {source.where}: {problem}"
        if socketcan:
            cause, advice = socketcan_cause(problem, source.cfg.channel)
        else:
            cause, advice = problem, [
                "check --interface and --channel (python-can's name for the adapter and its port)",
                "a USB adapter: `ls /dev/ttyACM* /dev/ttyUSB*`; the dialout group for serial ones"]
        return ProbeResult("can", False, summary, readings=readings, cause=cause, advice=advice)
    return ProbeResult("can", False, f"{source.where} is open but no frame arrived in {elapsed:.1f} s",
                       readings=readings, cause="no traffic", advice=QUIET_ADVICE + (SOCKETCAN_ADVICE[1:] if socketcan
                                                                                     else []))


def socketcan_cause(problem: str, channel: str) -> tuple[str, list[str]]:
    """The likely cause of a SocketCAN failure, from the errno in the message, and what to do."""
    if "[Errno 97]" in problem or "Address family not supported" in problem:
        return "this kernel has no SocketCAN: the can modules are not loaded (or not built)", KERNEL_ADVICE
    if "[Errno 19]" in problem or "No such device" in problem:
        return f"there is no CAN interface {channel} on this machine", NO_DEVICE_ADVICE + HAT_ADVICE
    if "[Errno 100]" in problem or "Network is down" in problem:
        return f"{channel} exists but is down", SOCKETCAN_ADVICE
    return problem, SOCKETCAN_ADVICE + HAT_ADVICE
