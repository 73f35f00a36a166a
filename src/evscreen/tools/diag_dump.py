"""``evscreen can-dump --diag``: the diagnostic conversations on a bus or in a log, one entry per
complete message.

Frames of diagnostic IDs (11-bit 0x700–0x7FF, 29-bit 0x18DA/0x18DB) are reassembled passively
(:class:`~evscreen.can.diag.isotp.Reassembler`) and each complete message — a single frame or a
reassembled multi-frame one; flow-control frames are not messages — is decoded
(:func:`~evscreen.can.diag.decode.decode_payload`) and written as a line, a JSON line
(``{"kind": "diag", "timestamp", "bus", "id", "data", "service", "decoded"}``) or a table row per
ID. A message ISO-TP had to drop (a missing or out-of-sequence frame, a timeout) is shown as such
(``"kind": "diag_error"``), never as if it were whole. The counts go to stderr at the end.

can-dump's own module parses the options and hands ``--diag`` runs to :func:`run_diag_dump`.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

from evscreen.can.diag.decode import Decoded, decode_payload
from evscreen.can.diag.isotp import (
    DiagMessage,
    FlowControl,
    IsoTpError,
    Reassembler,
    id_text,
    is_diagnostic_id,
)
from evscreen.can.logs import DATA, LogFrame, bus_matches

#: Values a vehicle profile reads from a message, if one is chosen: message -> {field: value}.
FieldReader = Callable[[DiagMessage], dict[str, Any]]


@dataclass
class DiagSummary:
    frames: int = 0
    diagnostic_frames: int = 0
    shown: int = 0
    flow_control: int = 0
    corrupt: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    ids: set[tuple[str, int, bool]] = field(default_factory=set)

    def lines(self) -> list[str]:
        types = ", ".join(f"{kind.replace('_', ' ')}s: {n}" for kind, n in sorted(self.by_type.items()))
        errors = ", ".join(f"{kind.replace('_', ' ')}: {n}" for kind, n in sorted(self.errors.items()))
        return [
            f"frames: {self.frames}, diagnostic frames: {self.diagnostic_frames} on {len(self.ids)} IDs",
            f"diagnostic messages: {sum(self.by_type.values())}" + (f" ({types})" if types else "")
            + f", shown: {self.shown}",
            f"flow-control frames: {self.flow_control}",
            f"incomplete or invalid ISO-TP: {sum(self.errors.values())}" + (f" ({errors})" if errors else ""),
            f"corrupt lines: {self.corrupt}",
        ]


@dataclass
class DiagFilter:
    ids: list[tuple[int, int]] = field(default_factory=list)  # (id, mask), as can-dump's --id
    bus: str | None = None

    def accepts(self, channel: str, frame_id: int) -> bool:
        if self.bus is not None and not bus_matches(channel, self.bus):
            return False
        return not self.ids or any(frame_id & mask == value for value, mask in self.ids)


# --- one message as text ------------------------------------------------------------------------


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _dtc_text(dtc: dict[str, Any]) -> str:
    text = dtc["code"]
    if "failure" in dtc:
        text += f"-{dtc['failure_type']:02X} ({dtc['failure']})"
    if dtc.get("meaning"):
        text += f" {dtc['meaning']}"
    if dtc.get("status_bits") is not None:
        text += f" [{', '.join(dtc['status_bits']) or 'no status bits'}]"
    return text


def describe(decoded: Decoded, fields: dict[str, Any] | None = None) -> str:
    """One readable line: what the message asks or answers."""
    service, c = decoded
    kind = c.get("type")
    if kind == "negative_response":
        if "nrc" not in c:
            return f"{service} negative response ({c.get('error')})"
        return f"{service} negative response: 0x{c['nrc']} {c['nrc_name']}"
    parts: list[str] = []
    for pid in c.get("pids", []):
        if "supported" in pid:
            parts.append(f"{pid['name']}: {' '.join(pid['supported']) or 'none'}")
        elif "value" in pid:
            parts.append(f"{pid['name']} = {_number(pid['value'])}{' ' + pid['unit'] if pid['unit'] else ''}")
        elif kind == "request":
            parts.append(f"PID {pid['pid']}" + (f" {pid['name']}" if pid.get("name") else ""))
        else:
            parts.append(f"PID {pid['pid']}" + (f" {pid['name']}" if pid.get("name") else "")
                         + f" = {pid.get('raw', '')}" + (f" ({pid['error']})" if "error" in pid else ""))
    if "info_type" in c:
        value = c.get("value", c.get("supported", c.get("raw", "")))
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value) or "none"
        elif value == "":
            value = "(empty)"
        parts.append(f"{c.get('name') or 'info type ' + c['info_type']}" + (f": {value}" if kind == "response" else ""))
    for key in ("report", "session", "did", "local_id", "group", "status_mask"):
        if key in c:
            parts.append(f"{key.replace('_', ' ')} {c[key]}" if key != "report" else c[key])
    if "dids" in c:
        parts.append("DID " + " ".join(c["dids"]))
    if "dtcs" in c:
        parts.append(f"{len(c['dtcs'])} DTC{'s' if len(c['dtcs']) != 1 else ''}"
                     + (": " + "; ".join(_dtc_text(d) for d in c["dtcs"]) if c["dtcs"] else ""))
    for key in ("data", "raw", "trailing", "error"):
        if c.get(key):
            parts.append(f"{key} {c[key]}")
    if fields:
        parts.append(", ".join(f"{name} = {_number(v)}" for name, v in fields.items()))
    head = f"{service} {'request' if kind == 'request' else 'response'}"
    return head + (": " + "; ".join(parts) if parts else "")


def _record(msg: DiagMessage, decoded: Decoded, fields: dict[str, Any] | None) -> dict[str, Any]:
    content = dict(decoded.content)
    if fields:
        content["fields"] = fields
    return {"kind": "diag", "timestamp": msg.timestamp, "bus": msg.bus, "id": msg.arbitration_id,
            "extended": msg.extended, "frames": msg.frames, "data": msg.payload.hex().upper(),
            "service": decoded.service, "decoded": content}


def _error_record(err: IsoTpError) -> dict[str, Any]:
    return {"kind": "diag_error", "timestamp": err.timestamp, "bus": err.bus, "id": err.arbitration_id,
            "extended": err.extended, "error": err.kind, "detail": err.detail, "partial": err.partial.hex().upper()}


# --- the pipeline -------------------------------------------------------------------------------


class DiagDump:
    """Frames in; for each complete message ``on_message``, for each dropped one ``on_error``."""

    def __init__(self, flt: DiagFilter, summary: DiagSummary, read_fields: FieldReader | None = None) -> None:
        self.flt = flt
        self.summary = summary
        self.read_fields = read_fields
        self.reassembler = Reassembler()

    def feed(self, frame: LogFrame) -> list[tuple[DiagMessage, Decoded, dict[str, Any] | None] | IsoTpError]:
        summary = self.summary
        summary.frames += 1
        timestamp, channel, frame_id, extended, data, kind = frame
        if kind != DATA or not is_diagnostic_id(frame_id, extended) or not self.flt.accepts(channel, frame_id):
            return []
        summary.diagnostic_frames += 1
        summary.ids.add((channel, frame_id, extended))
        return self._events(self.reassembler.feed(timestamp, channel, frame_id, extended, data))

    def finish(self) -> list[tuple[DiagMessage, Decoded, dict[str, Any] | None] | IsoTpError]:
        return self._events(self.reassembler.flush())

    def _events(self, events: list[Any]) -> list[tuple[DiagMessage, Decoded, dict[str, Any] | None] | IsoTpError]:
        out: list[tuple[DiagMessage, Decoded, dict[str, Any] | None] | IsoTpError] = []
        for event in events:
            if isinstance(event, DiagMessage):
                decoded = decode_payload(event.payload)
                self.summary.by_type[decoded.content.get("type", "invalid")] += 1
                fields = self.read_fields(event) if self.read_fields is not None else None
                out.append((event, decoded, fields))
            elif isinstance(event, FlowControl):
                self.summary.flow_control += 1
            else:
                self.summary.errors[event.kind] += 1
                out.append(event)
        return out


def write_lines(frames: Iterable[LogFrame], dump: DiagDump, fmt: str, out: TextIO, count: int | None = None,
                realtime: bool = False) -> None:
    import json

    jsonl = fmt == "jsonl"
    summary = dump.summary
    buffer: list[str] = []

    def emit(items: list[Any]) -> bool:
        for item in items:
            if isinstance(item, IsoTpError):
                if jsonl:
                    buffer.append(json.dumps(_error_record(item)))
                else:
                    buffer.append(f"({item.timestamp:.6f}) {item.bus} {id_text(item.arbitration_id, item.extended)[2:]}"
                                  f"  !! ISO-TP {item.kind.replace('_', ' ')}: {item.detail}")
                continue
            msg, decoded, fields = item
            summary.shown += 1
            if jsonl:
                buffer.append(json.dumps(_record(msg, decoded, fields), ensure_ascii=False))
            else:
                buffer.append(f"({msg.timestamp:.6f}) {msg.bus} {id_text(msg.arbitration_id, msg.extended)[2:]}"
                              f"  {msg.payload.hex().upper()}  :: {describe(decoded, fields)}")
            if count is not None and summary.shown >= count:
                return False
        if realtime or len(buffer) >= 512:
            out.write("\n".join(buffer) + "\n")
            buffer.clear()
            if realtime:
                out.flush()
        return True

    going = True
    for frame in frames:
        items = dump.feed(frame)
        if items and not emit(items):
            going = False
            break
    if going:
        emit(dump.finish())
    if buffer:
        out.write("\n".join(buffer) + "\n")
    out.flush()


@dataclass
class Row:
    bus: str
    frame_id: int
    extended: bool
    count: int = 0
    errors: int = 0
    last: float = 0.0
    text: str = ""


def show_table(frames: Iterable[LogFrame], dump: DiagDump, title: str, live: bool, count: int | None = None) -> None:
    """One row per (bus, ID): how many messages, the last one readably (rich, in the CLI layer)."""
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

    rows: dict[tuple[str, int, bool], Row] = {}

    def add(items: list[Any]) -> None:
        for item in items:
            if isinstance(item, IsoTpError):
                key = (item.bus, item.arbitration_id, item.extended)
                row = rows.setdefault(key, Row(*key))
                row.errors += 1
                continue
            msg, decoded, fields = item
            key = (msg.bus, msg.arbitration_id, msg.extended)
            row = rows.setdefault(key, Row(*key))
            row.count += 1
            row.last = msg.timestamp
            row.text = describe(decoded, fields)
            dump.summary.shown += 1

    def render() -> Table:
        table = Table(title=title, title_justify="left", header_style="bold")
        for column in ("bus", "ID", "messages", "dropped", "last message"):
            table.add_column(column, justify="right" if column in ("messages", "dropped") else "left",
                             no_wrap=column != "last message")
        for key in sorted(rows, key=lambda k: (k[0], k[2], k[1])):
            row = rows[key]
            table.add_row(row.bus, id_text(row.frame_id, row.extended), str(row.count), str(row.errors or ""),
                          row.text)
        return table

    console = Console()
    if not live:
        for frame in frames:
            add(dump.feed(frame))
            if count is not None and dump.summary.shown >= count:
                break
        add(dump.finish())
        console.print(render())
        return
    with Live(render(), console=console, auto_refresh=False) as view:
        next_paint = 0.0
        for frame in frames:
            add(dump.feed(frame))
            now = time.monotonic()
            if now >= next_paint:
                view.update(render(), refresh=True)
                next_paint = now + 0.1
            if count is not None and dump.summary.shown >= count:
                break
        add(dump.finish())
        view.update(render(), refresh=True)


def profile_fields(profile: Any) -> FieldReader:
    """The profile's fields of each answer to one of its requests (matched by response ID and the
    echo of the request: the DID, the PID...)."""
    from evscreen.drivers.obd import read_fields, response_prefix

    wanted: dict[tuple[int, bool], list[tuple[bytes, Any]]] = {}
    for request in profile.diagnostics:
        wanted.setdefault((request.response_id, request.extended), []).append((response_prefix(request), request))

    def read(msg: DiagMessage) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for prefix, request in wanted.get((msg.arbitration_id, msg.extended), ()):
            if msg.payload.startswith(prefix):
                values.update(read_fields(request, msg.payload))
        return values

    return read


# --- the command --------------------------------------------------------------------------------


def run_diag_dump(args: Any, fmt: str, live: bool, cfg: Any, read_fields: FieldReader | None = None) -> int:
    """can-dump's options (``args``), already checked by can-dump, for a ``--diag`` run."""
    from evscreen.can.bus import parse_options
    from evscreen.can.logs import open_log
    from evscreen.errors import UsageError
    from evscreen.tools.can_dump.filters import parse_id_filters
    from evscreen.tools.can_dump.options import parse_option_pairs
    from evscreen.tools.can_dump.sources import bus_frames, open_live_bus, paced

    if args.message:
        raise UsageError("--message names DBC messages; with --diag, choose with --id (e.g. --id 0x7EC)")
    if read_fields is None and getattr(args, "vehicle", None):
        from evscreen.vehicles.loader import load_profile

        read_fields = profile_fields(load_profile(args.vehicle))
    summary = DiagSummary()
    dump = DiagDump(DiagFilter(parse_id_filters(args.id), args.bus), summary, read_fields)
    bus = None
    try:
        if not live:
            reader = open_log(args.file, args.log_format)
            frames: Iterable[LogFrame] = reader
            title = f"{args.file} ({reader.format}) — diagnostics"
        else:
            options = parse_options({**cfg.options, **parse_option_pairs(args.option)})
            interface, channel = args.interface or cfg.interface, args.channel or cfg.channel
            bus = open_live_bus(interface, channel, args.bitrate or cfg.bitrate, options)
            frames = bus_frames(bus, channel)
            title = f"{interface} {channel} — diagnostics"
        if args.realtime:
            frames = paced(frames)
        try:
            if fmt == "table":
                show_table(frames, dump, title, live or args.realtime, args.count)
            else:
                write_lines(frames, dump, fmt, sys.stdout, args.count, realtime=live or args.realtime)
        finally:
            if not live:
                summary.corrupt = reader.corrupt
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        import os

        try:  # whoever read our output went away (`| head`): stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError:
            pass
        return 0
    finally:
        if bus is not None:
            try:
                bus.shutdown()
            except Exception:  # an unplugged adapter cannot be shut down cleanly
                pass
    sys.stderr.write("\n".join(summary.lines()) + "\n")
    return 0
