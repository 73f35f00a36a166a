"""``evscreen can-dump``: decode a live bus or a log file with a DBC, as a table, lines or JSON lines.

Frames come from :mod:`evscreen.can.logs` (files) or a python-can bus (live), are filtered by ID,
message and bus, decoded by the compiled decoder and printed. A summary goes to stderr at the end
so that ``--format jsonl`` output stays clean for pipes.
"""

from __future__ import annotations

import re
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

from evscreen.can.logs import DATA, ERROR, REMOTE, LogFrame, bus_matches, open_log
from evscreen.can.dbc.codegen import UnknownMux
from evscreen.can.dbc.decoder import CompiledMessage, DbcDecoder
from evscreen.can.dbc.spec import decimals
from evscreen.errors import SourceUnavailable, UsageError

FORMATS = ("table", "line", "jsonl")


# --- filters ----------------------------------------------------------------------------------


def parse_id_filters(texts: Iterable[str]) -> list[tuple[int, int]]:
    """``--id 0x123,0x456`` or ``--id 0x100:0x700`` (id:mask) -> [(id, mask)]."""
    out = []
    for text in texts:
        for item in text.split(","):
            item = item.strip()
            if not item:
                continue
            ident, _, mask = item.partition(":")
            try:
                value = int(ident, 16) if not ident.lower().startswith("0x") else int(ident, 0)
                mask_value = (int(mask, 16) if not mask.lower().startswith("0x") else int(mask, 0)) if mask else 0x1FFFFFFF
            except ValueError:
                raise UsageError(f"--id: {item!r} is not a hex ID or id:mask (e.g. 0x542, 542, 0x500:0x700)") from None
            if not 0 <= value <= 0x1FFFFFFF or not 0 <= mask_value <= 0x1FFFFFFF:
                raise UsageError(f"--id: {item!r} is out of range (29-bit IDs at most)")
            out.append((value & mask_value, mask_value))
    return out


def match_messages(decoder: DbcDecoder, patterns: Iterable[str]) -> set[str]:
    """Message names matching ``--message`` names or regular expressions (case-sensitive, full match)."""
    names: set[str] = set()
    for pattern in patterns:
        if decoder.has_message(pattern):
            names.add(pattern)
            continue
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise UsageError(f"--message: {pattern!r} is neither a message of {decoder.name} nor a regex ({exc})") from None
        found = {m.name for m in decoder.messages if regex.fullmatch(m.name) or regex.search(m.name)}
        if not found:
            raise UsageError(f"--message: nothing in {decoder.name} matches {pattern!r}")
        names |= found
    return names


@dataclass
class FrameFilter:
    ids: list[tuple[int, int]] = field(default_factory=list)
    messages: set[str] | None = None
    bus: str | None = None

    def accepts(self, frame: LogFrame, message: CompiledMessage | None) -> bool:
        if self.bus is not None and not bus_matches(frame.channel, self.bus):
            return False
        if self.ids and not any(frame.arbitration_id & mask == value for value, mask in self.ids):
            return False
        if self.messages is not None and (message is None or message.name not in self.messages):
            return False
        return True

    @property
    def empty(self) -> bool:
        return not self.ids and self.messages is None and self.bus is None


# --- counting ---------------------------------------------------------------------------------


@dataclass
class Summary:
    frames: int = 0
    shown: int = 0
    decoded: int = 0
    unknown: Counter[tuple[str, int, bool]] = field(default_factory=Counter)
    short: Counter[str] = field(default_factory=Counter)
    bad_mux: int = 0
    errors: int = 0
    remote: int = 0
    corrupt: int = 0
    per_bus: Counter[str] = field(default_factory=Counter)
    decoded_per_bus: Counter[str] = field(default_factory=Counter)

    def lines(self) -> list[str]:
        buses = ", ".join(f"bus {b}: {n}" for b, n in sorted(self.per_bus.items()))
        decoded = ", ".join(f"bus {b}: {n}" for b, n in sorted(self.decoded_per_bus.items()))
        out = [
            f"frames: {self.frames}" + (f" ({buses})" if buses else "") + f", shown: {self.shown}",
            f"decoded: {self.decoded}" + (f" ({decoded})" if decoded else ""),
        ]
        total_unknown = sum(self.unknown.values())
        if total_unknown:
            top = ", ".join(
                f"{_id_text(i, e)} on {b}: {n}" for (b, i, e), n in sorted(self.unknown.items())[:40]
            )
            more = "" if len(self.unknown) <= 40 else f", ... ({len(self.unknown) - 40} more)"
            out.append(f"unknown IDs: {total_unknown} frames in {len(self.unknown)} IDs ({top}{more})")
        else:
            out.append("unknown IDs: 0")
        short = ", ".join(f"{name}: {n}" for name, n in sorted(self.short.items()))
        out.append(f"short payloads: {sum(self.short.values())}" + (f" ({short})" if short else ""))
        if self.bad_mux:
            out.append(f"undefined multiplexer values: {self.bad_mux}")
        out.append(f"error frames: {self.errors}, remote frames: {self.remote}, corrupt lines: {self.corrupt}")
        return out


def _id_text(frame_id: int, extended: bool) -> str:
    return f"0x{frame_id:08X}" if extended else f"0x{frame_id:03X}"


def _wire_id(frame_id: int, extended: bool) -> str:
    return f"{frame_id:08X}" if extended else f"{frame_id:03X}"


# --- formatting -------------------------------------------------------------------------------


class SignalFormatter:
    """Formats a message's decoded signals as ``Name: value unit, ...`` without float noise."""

    def __init__(self, message: CompiledMessage) -> None:
        self.parts: dict[str, tuple[str, str]] = {}
        for name, s in message.signals.items():
            spec = ""
            if s["float"]:
                spec = ".7g"
            elif s["conv"] == "linear":
                spec = f".{decimals(s['scale'])}f"
            unit = f" {s['unit']}" if s["unit"] else ""
            self.parts[name] = (spec, unit)
        self.template = None
        # One format string for the usual case (all signals present, no multiplexing).
        names = list(message.signals)
        if names and not message.spec["tree"]["mux"]:
            self.template = ", ".join(
                f"{n}: {{{i}{':' + self.parts[n][0] if self.parts[n][0] else ''}}}{self.parts[n][1]}"
                for i, n in enumerate(names)
            )
            self.names = names

    def value(self, name: str, value: Any) -> str:
        spec, unit = self.parts[name]
        if isinstance(value, str) or not spec:
            return f"{value}{unit}"
        return f"{format(value, spec)}{unit}"

    def format(self, signals: dict[str, Any]) -> str:
        if self.template is not None and len(signals) == len(self.names):
            try:
                return self.template.format(*signals.values())
            except (ValueError, TypeError):  # a value-table name where a number format is set
                pass
        return ", ".join(f"{name}: {self.value(name, v)}" for name, v in signals.items())


# --- the pipeline -----------------------------------------------------------------------------


@dataclass
class DumpOptions:
    fmt: str = "line"
    filter: FrameFilter = field(default_factory=FrameFilter)
    choices: bool = True
    realtime: bool = False
    count: int | None = None
    output: str | None = None  # --output: every frame read is also saved there


def _decoded(frame: LogFrame, decoder: DbcDecoder, summary: Summary, choices: bool
             ) -> tuple[CompiledMessage | None, dict[str, Any] | None, tuple[str, ...], str | None]:
    message = decoder.find(frame.arbitration_id, frame.is_extended)
    if frame.kind != DATA or message is None:
        return message, None, (), None
    summary.decoded += 1
    summary.decoded_per_bus[frame.channel] += 1
    signals, missing, bad_mux = decode_payload(message, frame.data, choices)
    if missing:
        summary.short[message.name] += 1
    if bad_mux:
        summary.bad_mux += 1
    return message, signals, missing, bad_mux


def decode_payload(message: CompiledMessage, data: bytes, choices: bool
                   ) -> tuple[dict[str, Any], tuple[str, ...], str | None]:
    """(signals, missing signals, undefined multiplexer value) of one payload."""
    n = len(data)
    length = message.length
    try:
        if n >= length:
            return message.function(length, choices)(data if n == length else data[:length]), (), None
        return message.function(n, choices)(data), message.missing(n), None
    except UnknownMux as exc:
        return exc.signals, message.missing(n), f"{exc.multiplexer} = {exc.value}"


def _count(frame: LogFrame, message: CompiledMessage | None, summary: Summary) -> None:
    summary.frames += 1
    summary.per_bus[frame.channel] += 1
    if frame.kind == ERROR:
        summary.errors += 1
    elif frame.kind == REMOTE:
        summary.remote += 1
    elif message is None:
        summary.unknown[(frame.channel, frame.arbitration_id, frame.is_extended)] += 1


def _paced(frames: Iterable[LogFrame]) -> Iterator[LogFrame]:
    """Replay at the pace the frames were recorded."""
    start_wall = None
    start_ts = 0.0
    for frame in frames:
        if start_wall is None:
            start_wall, start_ts = time.monotonic(), frame.timestamp
        else:
            delay = (frame.timestamp - start_ts) - (time.monotonic() - start_wall)
            if delay > 0:
                time.sleep(delay)
        yield frame


#: Distinct payloads per ID whose rendered line is remembered (bounds memory on a noisy bus).
RENDERED_PER_ID = 4096


def write_lines(frames: Iterable[LogFrame], decoder: DbcDecoder, opts: DumpOptions, summary: Summary,
                out: TextIO) -> None:
    """``--format line`` and ``--format jsonl``: one line per frame, written in blocks.

    This loop is the whole cost of decoding a log, so it works on locals: per (ID, bus) it looks up
    the message, its generated decode function, its formatter and the line's fixed text once, and
    counts frames there; the per-bus and unknown-ID counts are summed from those at the end.
    """
    import json

    dumps = json.dumps
    flt = opts.filter
    check = not flt.empty
    jsonl = opts.fmt == "jsonl"
    choices = opts.choices
    per_key: dict[tuple[int, bool, str, int], list[Any]] = {}
    buffer: list[str] = []
    append = buffer.append
    flush_every = 1 if opts.realtime else 1024
    limit = opts.count if opts.count is not None else -1
    shown = 0
    try:
        for frame in frames:
            timestamp, channel, frame_id, extended, data, kind = frame
            entry = per_key.get((frame_id, extended, channel, kind))
            if entry is None:
                found = decoder.find(frame_id, extended)
                wire = _wire_id(frame_id, extended)
                entry = per_key[(frame_id, extended, channel, kind)] = [
                    found, f" {channel} {wire}#", f" :: {found.name}(" if found else " :: unknown",
                    SignalFormatter(found) if found else None,
                    found.function(None, choices) if found else None, found.length if found else 0, 0, 0, {},
                ]
            entry[6] += 1  # frames
            if check and not flt.accepts(frame, entry[0]):
                continue
            shown += 1
            message = entry[0]
            signals: dict[str, Any] | None = None
            missing: tuple[str, ...] = ()
            bad_mux = None
            rendered = None
            if not jsonl and message is not None and kind == DATA and len(data) == entry[5]:
                # Buses repeat payloads (idle ECUs, slow signals): a payload seen before on this ID
                # is the same line after the timestamp, so it is decoded and formatted once.
                rendered = entry[8].get(data)
                if rendered is not None:
                    entry[7] += 1  # decoded
                    append(f"({timestamp:.6f}){entry[1]}{rendered}")
            if rendered is not None:
                pass
            elif message is not None and kind == DATA:
                entry[7] += 1  # decoded
                if len(data) == entry[5]:
                    try:
                        signals = entry[4](data)
                    except UnknownMux:
                        signals, missing, bad_mux = decode_payload(message, data, choices)
                else:
                    signals, missing, bad_mux = decode_payload(message, data, choices)
                if missing:
                    summary.short[message.name] += 1
                if bad_mux:
                    summary.bad_mux += 1
            if jsonl:
                record: dict[str, Any] = {
                    "timestamp": timestamp, "bus": channel, "id": frame_id, "extended": extended,
                    "dlc": len(data), "data": data.hex().upper(),
                    "message": message.name if message is not None else None, "signals": signals,
                }
                if kind != DATA:
                    record["kind"] = "error" if kind == ERROR else "remote"
                if missing:
                    record["missing"] = list(missing)
                if bad_mux:
                    record["undefined_mux"] = bad_mux
                if not _finite(signals):
                    record = _nulls(record)
                append(dumps(record))
            elif rendered is not None:
                pass
            elif signals is not None:
                text = f"{data.hex().upper()}{entry[2]}{entry[3].format(signals)})"
                if missing:
                    text += f" [short: {len(data)} of {entry[5]} bytes, missing {', '.join(missing)}]"
                if bad_mux:
                    text += f" [undefined multiplexer value {bad_mux}]"
                elif not missing and len(entry[8]) < RENDERED_PER_ID:
                    entry[8][data] = text
                append(f"({timestamp:.6f}){entry[1]}{text}")
            elif kind == ERROR:
                append(f"({timestamp:.6f}){entry[1]}{data.hex().upper()} :: error frame")
            elif kind == REMOTE:
                append(f"({timestamp:.6f}){entry[1]}R :: remote request")
            else:
                append(f"({timestamp:.6f}){entry[1]}{data.hex().upper()}{entry[2]}")
            if shown % flush_every == 0:
                out.write("\n".join(buffer) + "\n")
                buffer.clear()
                if opts.realtime:
                    out.flush()
            if shown == limit:
                break
    finally:
        _add_counts(summary, per_key, shown)
    if buffer:
        out.write("\n".join(buffer) + "\n")
    out.flush()


def _add_counts(summary: Summary, per_key: dict[tuple[int, bool, str, int], list[Any]], shown: int) -> None:
    summary.shown += shown
    for (frame_id, extended, channel, kind), entry in per_key.items():
        frames, decoded = entry[6], entry[7]
        summary.frames += frames
        summary.per_bus[channel] += frames
        if decoded:
            summary.decoded += decoded
            summary.decoded_per_bus[channel] += decoded
        if kind == ERROR:
            summary.errors += frames
        elif kind == REMOTE:
            summary.remote += frames
        elif entry[0] is None:
            summary.unknown[(channel, frame_id, extended)] += frames


def _finite(signals: dict[str, Any] | None) -> bool:
    if not signals:
        return True
    return all(not isinstance(v, float) or v - v == 0 for v in signals.values())


def _nulls(record: dict[str, Any]) -> dict[str, Any]:
    signals = record["signals"]
    record["signals"] = {k: (None if isinstance(v, float) and v - v != 0 else v) for k, v in signals.items()}
    return record


# --- the live table ---------------------------------------------------------------------------


@dataclass
class Row:
    channel: str
    frame_id: int
    extended: bool
    message: CompiledMessage | None
    count: int = 0
    first: float = 0.0
    last: float = 0.0
    data: bytes = b""
    changed: frozenset[int] = frozenset()
    signals: dict[str, Any] | None = None
    note: str = ""


class SnifferTable:
    """One row per (bus, ID), like cantools monitor or SavvyCAN's sniffer (rich, in the CLI layer)."""

    def __init__(self, decoder: DbcDecoder, opts: DumpOptions, summary: Summary) -> None:
        self.decoder = decoder
        self.opts = opts
        self.summary = summary
        self.rows: dict[tuple[str, int, bool], Row] = {}
        self.formatters: dict[int, SignalFormatter] = {}
        self.now = 0.0

    def add(self, frame: LogFrame) -> None:
        message = self.decoder.find(frame.arbitration_id, frame.is_extended)
        _count(frame, message, self.summary)
        if not self.opts.filter.empty and not self.opts.filter.accepts(frame, message):
            return
        message, signals, missing, bad_mux = _decoded(frame, self.decoder, self.summary, self.opts.choices)
        self.summary.shown += 1
        key = (frame.channel, frame.arbitration_id, frame.is_extended)
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = Row(frame.channel, frame.arbitration_id, frame.is_extended, message,
                                       first=frame.timestamp)
        old = row.data
        row.changed = frozenset(i for i, b in enumerate(frame.data) if row.count and (i >= len(old) or old[i] != b))
        row.count += 1
        row.last = frame.timestamp
        row.data = frame.data
        row.signals = signals
        row.note = ("error frame" if frame.kind == ERROR else "remote request" if frame.kind == REMOTE
                    else f"short: missing {', '.join(missing)}" if missing
                    else f"undefined multiplexer value {bad_mux}" if bad_mux else "")
        self.now = max(self.now, frame.timestamp)

    def render(self, title: str) -> Any:
        from rich.table import Table
        from rich.text import Text

        table = Table(title=title, title_justify="left", expand=False, header_style="bold")
        for column, justify in (("bus", "left"), ("ID", "right"), ("message", "left"), ("count", "right"),
                                ("rate", "right"), ("DLC", "right"), ("data", "left"), ("signals", "left")):
            table.add_column(column, justify=justify, no_wrap=column != "signals")  # type: ignore[arg-type]
        for key in sorted(self.rows, key=lambda k: (k[0], k[2], k[1])):
            row = self.rows[key]
            span = row.last - row.first
            rate = (row.count - 1) / span if span > 0 else 0.0
            period = 1.0 / rate if rate else 1.0
            stale = self.now - row.last > max(1.0, 3 * period)
            data = Text()
            for i, b in enumerate(row.data):
                data.append(f"{b:02X}", style="bold yellow" if i in row.changed else "")
                if i + 1 < len(row.data):
                    data.append(" ")
            if row.message is not None and row.signals is not None:
                fmt = self.formatters.get(row.message.index)
                if fmt is None:
                    fmt = self.formatters[row.message.index] = SignalFormatter(row.message)
                signals = Text(fmt.format(row.signals))
            else:
                signals = Text("unknown ID" if row.message is None else "", style="italic")
            if row.note:
                signals.append(f"  [{row.note}]", style="red")
            table.add_row(
                row.channel, _id_text(row.frame_id, row.extended), row.message.name if row.message else "—",
                str(row.count), f"{rate:.1f}/s", str(len(row.data)), data, signals,
                style="dim" if stale else None,
            )
        return table


def show_table(frames: Iterable[LogFrame], decoder: DbcDecoder, opts: DumpOptions, summary: Summary,
               title: str, live: bool) -> None:
    from rich.console import Console
    from rich.live import Live

    console = Console()
    sniffer = SnifferTable(decoder, opts, summary)
    if not live:  # replaying a file as fast as possible: show where it ended
        for frame in frames:
            sniffer.add(frame)
            if opts.count is not None and summary.shown >= opts.count:
                break
        console.print(sniffer.render(title))
        return
    with Live(sniffer.render(title), console=console, auto_refresh=False, transient=False) as view:
        next_paint = 0.0
        for frame in frames:
            sniffer.add(frame)
            now = time.monotonic()
            if now >= next_paint:
                view.update(sniffer.render(title), refresh=True)
                next_paint = now + 0.1
            if opts.count is not None and summary.shown >= opts.count:
                break
        view.update(sniffer.render(title), refresh=True)


# --- sources of frames ------------------------------------------------------------------------


def bus_frames(bus: Any, channel: str, idle_paint: Any = None) -> Iterator[LogFrame]:
    """Frames from a python-can bus until Ctrl-C; an interface failure ends with SourceUnavailable."""
    while True:
        try:
            msg = bus.recv(0.1)
        except Exception as exc:
            raise SourceUnavailable(f"CAN interface failed: {exc}") from None
        if msg is None:
            continue
        kind = ERROR if msg.is_error_frame else REMOTE if msg.is_remote_frame else DATA
        yield LogFrame(msg.timestamp, str(msg.channel if msg.channel is not None else channel), msg.arbitration_id,
                       msg.is_extended_id, bytes(msg.data), kind)


def open_live_bus(interface: str, channel: str, bitrate: int, options: dict[str, Any]) -> Any:
    from evscreen.can.bus import check_interface, open_bus

    check_interface(interface, "--interface")
    try:
        return open_bus(interface, channel, bitrate, options)
    except Exception as exc:
        raise SourceUnavailable(f"cannot open CAN interface {interface} {channel}: {exc}") from None


def run_dump(frames: Iterable[LogFrame], decoder: DbcDecoder, opts: DumpOptions, *, title: str, live: bool,
             out: TextIO | None = None, summary: Summary | None = None) -> Summary:
    summary = summary if summary is not None else Summary()
    out = out or sys.stdout
    writer = None
    if opts.output:
        from evscreen.can.recording import LogWriter, tee

        writer = LogWriter(opts.output)
        frames = tee(frames, writer)
    try:
        if opts.realtime:
            frames = _paced(frames)
        if opts.fmt == "table":
            show_table(frames, decoder, opts, summary, title, live or opts.realtime)
        else:
            write_lines(frames, decoder, opts, summary, out)
    finally:
        if writer is not None:
            writer.close()
            sys.stderr.write(f"saved {writer.frames} frames to {writer.path}\n")
    return summary


def dump_file(path: str, decoder: DbcDecoder, opts: DumpOptions, fmt_hint: str | None = None,
              out: TextIO | None = None) -> Summary:
    reader = open_log(path, fmt_hint)
    summary = Summary()
    try:
        run_dump(reader, decoder, opts, title=f"{path} ({reader.format}) — {decoder.name}", live=False, out=out,
                 summary=summary)
    finally:
        summary.corrupt = reader.corrupt
    return summary


# --- the command ------------------------------------------------------------------------------


def _log_to_stderr() -> None:
    import logging

    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.WARNING)


def parse_option_pairs(pairs: Iterable[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--option: expected KEY=VALUE, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def build_parser() -> Any:
    import argparse

    from evscreen.can.logs import FORMATS as LOG_FORMATS

    parser = argparse.ArgumentParser(
        prog="evscreen can-dump",
        description="Decode CAN frames with a DBC: live from any python-can interface, or from a log file. "
        "A summary goes to stderr at the end; exit code 2 when the file or the DBC cannot be read.",
        epilog="examples:\n  evscreen can-dump -f drive.log --dbc car.dbc --format line\n"
        "  evscreen can-dump -f kona.csv --dbc pcan.dbc --bus 0 --message 'BMS.*' --format jsonl\n"
        "  evscreen can-dump -i socketcan -c can0 --id 0x500:0x700",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = parser.add_argument_group("input")
    src.add_argument("-f", "--file", help="decode this log (candump .log, .asc, .blf, .trc, python-can .csv, "
                     "SavvyCAN GVRET .csv) instead of a live bus")
    src.add_argument("--log-format", choices=LOG_FORMATS, help="force the file format [default: detected]")
    src.add_argument("--realtime", action="store_true", help="replay a file at its recorded pace "
                     "[default: as fast as possible]")
    src.add_argument("-i", "--interface", help="python-can interface [default: [can] interface]")
    src.add_argument("-c", "--channel", help="interface channel [default: [can] channel]")
    src.add_argument("--bitrate", type=int, help="bitrate in bit/s [default: [can] bitrate]")
    src.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                     help="extra python-can interface argument (repeatable)")
    src.add_argument("--config", help="config file instead of the default location (for the [can] defaults)")
    dec = parser.add_argument_group("decoding and output")
    dec.add_argument("-d", "--dbc", help="DBC file [default: the vehicle's, else [can] dbc, else evscreen's own]")
    dec.add_argument("--vehicle", metavar="NAME", help="decode with this vehicle profile's DBC (evscreen vehicles "
                     "lists them) [default: [vehicle] name]")
    dec.add_argument("--output", metavar="FILE", help="also save every frame read to FILE: .log, .log.gz, .blf, "
                     ".asc, .trc or .csv (the ending picks the format)")
    dec.add_argument("--format", choices=FORMATS, dest="fmt",
                     help="table (live table, default on a terminal), line (one per frame, default otherwise) "
                     "or jsonl")
    dec.add_argument("--no-choices", action="store_true", help="numbers instead of value-table names")
    dec.add_argument("-n", "--count", type=int, help="stop after this many frames shown")
    dec.add_argument("--diag", action="store_true",
                     help="diagnostics instead of DBC signals: reassemble ISO-TP on 0x700-0x7FF and 0x18DA/0x18DB, "
                     "one entry per OBD-II/UDS message, decoded (see docs/diagnostics.md)")
    flt = parser.add_argument_group("filters")
    flt.add_argument("--id", action="append", default=[], dest="ids",
                     help="only these IDs: a list (0x542,0x595) or id:mask (0x500:0x700); repeatable")
    flt.add_argument("-m", "--message", action="append", default=[], dest="messages",
                     help="only messages with this name, or matching this regex; repeatable")
    flt.add_argument("-b", "--bus", help="only this bus of a multi-bus log (0, 1, can1...)")
    return parser


def main(argv: list[str]) -> int:
    """``evscreen can-dump ARGS``: returns the exit code; errors are EvscreenError subclasses."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2, message already printed)
        return int(exc.code or 0)
    if args.count is not None and args.count < 1:
        raise UsageError(f"--count: must be at least 1, got {args.count}")
    return run_can_dump(args)


def run_can_dump(args: Any) -> int:
    from evscreen.can.bus import parse_options
    from evscreen.can.dbc.loader import load_decoder

    _log_to_stderr()
    fmt = args.fmt or ("table" if sys.stdout.isatty() else "line")
    live = args.file is None
    if not live and (args.interface or args.channel or args.bitrate or args.option):
        raise UsageError("--file replays a log; --interface, --channel, --bitrate and --option are for a live bus")
    cfg = None
    config = None
    if live or args.dbc is None or args.config is not None:
        from evscreen.config import load_config

        config = load_config(args.config).config
        cfg = config.can  # the defaults for what the command line leaves out
    if args.diag:
        from evscreen.tools.diag_dump import run_diag_dump

        return run_diag_dump(args, fmt, live, cfg)
    if args.dbc is not None and args.vehicle is None:
        dbc, quiet = args.dbc, False  # the common case: no profile to look up, nothing more to import
    else:
        from evscreen.vehicles.loader import dbc_for_dump

        dbc, quiet = dbc_for_dump(args.dbc, args.vehicle, config)
    decoder = load_decoder(dbc, quiet=quiet)
    opts = DumpOptions(
        fmt=fmt,
        filter=FrameFilter(parse_id_filters(args.ids),
                           match_messages(decoder, args.messages) if args.messages else None, args.bus),
        choices=not args.no_choices, realtime=args.realtime, count=args.count, output=args.output,
    )
    summary: Summary | None = None
    try:
        if not live:
            summary = dump_file(args.file, decoder, opts, args.log_format)
        else:
            assert cfg is not None
            options = parse_options({**cfg.options, **parse_option_pairs(args.option)})
            interface, channel = args.interface or cfg.interface, args.channel or cfg.channel
            bus = open_live_bus(interface, channel, args.bitrate or cfg.bitrate, options)
            summary = Summary()
            try:
                summary = run_dump(bus_frames(bus, channel), decoder, opts,
                                   title=f"{interface} {channel} — {decoder.name}", live=True, summary=summary)
            finally:
                try:
                    bus.shutdown()
                except Exception:  # an unplugged adapter cannot be shut down cleanly
                    pass
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        # Whoever read our output went away (`| head`): stop quietly, like other Unix tools.
        import os

        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError:
            pass
        return 0
    if summary is not None:
        sys.stderr.write("\n".join(summary.lines()) + "\n")
    return 0
