"""``--format line`` and ``--format jsonl``: one line per frame, written in blocks.

This loop is the whole cost of decoding a log (``benchmarks/can_dump.py`` measures it), so it
works on locals and on the per-(ID, bus) :class:`~.counting.IdRecord`: the message, the filters'
verdict, the decode function, the formatter and the fixed text of the line are found once per ID,
and a payload seen before on an ID is printed from the line rendered the first time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, TextIO

from evscreen.can.dbc.codegen import UnknownMux
from evscreen.can.logs import DATA, ERROR, REMOTE, LogFrame
from evscreen.tools.can_dump.counting import RENDERED_PER_ID, Tally
from evscreen.tools.can_dump.options import DumpOptions


def write_lines(frames: Iterable[LogFrame], tally: Tally, opts: DumpOptions, out: TextIO) -> None:
    dumps = json.dumps
    jsonl = opts.fmt == "jsonl"
    choices = opts.choices
    get = tally.records.get
    add = tally.add
    buffer: list[str] = []
    append = buffer.append
    flush_every = 1 if opts.realtime else 1024
    limit = opts.count if opts.count is not None else -1
    shown = 0
    for timestamp, channel, frame_id, extended, data, kind in frames:
        rec = get((frame_id, extended, channel, kind))
        if rec is None:
            rec = add((frame_id, extended, channel, kind))
        rec.frames += 1
        if not rec.accepted:
            continue
        shown += 1
        message = rec.message
        line = None
        if message is not None and kind == DATA:
            rec.decoded += 1
            full = len(data) == rec.length
            if full and not jsonl:
                # Buses repeat payloads (idle ECUs, slow signals): a payload seen before on this ID
                # is the same line after the timestamp, so it is decoded and formatted once.
                text = rec.rendered.get(data)
                if text is not None:
                    line = f"({timestamp:.6f}){rec.prefix}{text}"
            if line is None:
                missing: tuple[str, ...] = ()
                bad_mux = None
                if full:
                    try:
                        signals = rec.decode(data)
                    except UnknownMux:
                        signals, missing, bad_mux = rec.decode_counted(data, choices)
                else:
                    signals, missing, bad_mux = rec.decode_counted(data, choices)
                if jsonl:
                    line = dumps(_record(timestamp, channel, frame_id, extended, data, kind, message.name, signals,
                                         missing, bad_mux))
                else:
                    assert rec.formatter is not None
                    text = f"{data.hex().upper()}{rec.label}{rec.formatter.format(signals)})"
                    if missing:
                        text += f" [short: {len(data)} of {rec.length} bytes, missing {', '.join(missing)}]"
                    if bad_mux:
                        text += f" [undefined multiplexer value {bad_mux}]"
                    elif not missing and len(rec.rendered) < RENDERED_PER_ID:
                        rec.rendered[data] = text
                    line = f"({timestamp:.6f}){rec.prefix}{text}"
        elif jsonl:
            line = dumps(_record(timestamp, channel, frame_id, extended, data, kind,
                                 message.name if message is not None else None, None, (), None))
        elif kind == ERROR:
            line = f"({timestamp:.6f}){rec.prefix}{data.hex().upper()} :: error frame"
        elif kind == REMOTE:
            line = f"({timestamp:.6f}){rec.prefix}R :: remote request"
        else:
            line = f"({timestamp:.6f}){rec.prefix}{data.hex().upper()}{rec.label}"
        append(line)
        if shown % flush_every == 0:
            out.write("\n".join(buffer) + "\n")
            buffer.clear()
            if opts.realtime:
                out.flush()
        if shown == limit:
            break
    if buffer:
        out.write("\n".join(buffer) + "\n")
    out.flush()


def _record(timestamp: float, channel: str, frame_id: int, extended: bool, data: bytes, kind: int,
            message: str | None, signals: dict[str, Any] | None, missing: tuple[str, ...], bad_mux: str | None
            ) -> dict[str, Any]:
    """One ``--format jsonl`` object; a NaN or infinite value (a float signal) becomes null."""
    if signals and not all(not isinstance(v, float) or v - v == 0 for v in signals.values()):
        signals = {k: (None if isinstance(v, float) and v - v != 0 else v) for k, v in signals.items()}
    record: dict[str, Any] = {
        "timestamp": timestamp, "bus": channel, "id": frame_id, "extended": extended,
        "dlc": len(data), "data": data.hex().upper(), "message": message, "signals": signals,
    }
    if kind != DATA:
        record["kind"] = "error" if kind == ERROR else "remote"
    if missing:
        record["missing"] = list(missing)
    if bad_mux:
        record["undefined_mux"] = bad_mux
    return record
