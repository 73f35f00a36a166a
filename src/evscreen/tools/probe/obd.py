"""``evscreen probe obd``: does any ECU answer OBD-II on the CAN bus? Which, and what do they say?

It opens the bus of ``[can]`` (the simulated car's with ``simulation.mode = on``), sends one
functional request (mode 01 PID 00 on 0x7DF), then asks each ECU that answers for its supported
PIDs, VIN, name and stored DTCs — read services only.
"""

from __future__ import annotations

from evscreen.errors import SourceUnavailable
from evscreen.tools.probe import ProbeContext, ProbeResult

ASLEEP_ADVICE = [
    "is the car on? Most ECUs answer only with the ignition on or the car Ready (or while charging)",
    "is this the OBD-II port's bus (pins 6 and 14), at its bitrate (500000 on most cars)? `evscreen probe can` "
    "tells whether frames arrive at all",
]
GATEWAY_ADVICE = [
    "frames arrive but no ECU answers generic OBD-II: some EVs answer only their maker's requests; try the "
    "vehicle profile's (`evscreen obd poll --vehicle NAME`, `evscreen obd query 0x7E4 0x7EC 220101` on a Kona)",
    "with [obd] listen_only = true nothing is ever sent; a bus in listen-only mode cannot ask either",
]


def probe_obd(ctx: ProbeContext) -> ProbeResult:
    from evscreen.tools.obd import open_session, scan

    simulated = ctx.config.simulation.mode == "on"
    ctx.show([("bus", "the simulated car" if simulated else f"{ctx.config.can.interface} {ctx.config.can.channel}"),
              ("asking", "0x7DF 01 00 (which ECUs answer OBD-II)")])
    try:
        with open_session(ctx.config, simulated=simulated, timeout=ctx.seconds(1.0)) as session:
            reports = scan(session)
            where = session.where
            traffic = session.share.last_frame is not None
    except SourceUnavailable as exc:
        return ProbeResult("obd", False, str(exc), cause=str(exc),
                           advice=["check --interface and --channel (python-can's name for the adapter and its port)",
                                   "`evscreen probe can` checks the interface itself"])
    readings = {"bus": where, "ecus": [r.as_dict() for r in reports]}
    if reports:
        names = ", ".join(f"0x{r.response_id:X}" + (f" ({r.names[0]})" if r.names else "") for r in reports)
        dtcs = sum(len(r.dtcs) for r in reports)
        advice = [f"{dtcs} stored DTC(s): `evscreen obd dtc` lists them"] if dtcs else []
        return ProbeResult("obd", True, f"{len(reports)} ECU(s) answer OBD-II on {where}: {names}",
                           readings=readings, advice=advice)
    if traffic:
        return ProbeResult("obd", False, f"no ECU answers OBD-II on {where}, though frames arrive",
                           readings=readings, cause="no OBD-II answer", advice=GATEWAY_ADVICE)
    return ProbeResult("obd", False, f"nothing answers on {where}: not one frame arrived", readings=readings,
                       cause="no traffic", advice=ASLEEP_ADVICE)
