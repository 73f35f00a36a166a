"""``--format table``: one row per (bus, ID), like cantools monitor or SavvyCAN's sniffer (rich).

The layout fits the terminal (``COLUMNS`` when piped): from about 110 columns every field has its
own column; narrower, each row stacks ID over bus, message over count and rate, and the data over
the signals, so that on an 80-column Pi console the ID is never cut and the signals wrap between
``Name: value`` pairs instead of shrinking away.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from evscreen.can.dbc.codegen import UnknownMux
from evscreen.can.logs import DATA, ERROR, REMOTE, LogFrame
from evscreen.tools.can_dump.counting import Tally
from evscreen.tools.can_dump.formatter import SignalFormatter, id_text
from evscreen.tools.can_dump.options import DumpOptions
from evscreen.tools.terminal import literal

#: Below this many columns for the signals, the table stacks its fields (the narrow layout).
MIN_SIGNALS_WIDTH = 36
#: Longer message names are folded onto a second line.
MAX_MESSAGE_WIDTH = 24
#: Space between two columns.
GAP = 2


@dataclass
class Row:
    channel: str
    frame_id: int
    extended: bool
    name: str
    formatter: SignalFormatter | None
    count: int = 0
    first: float = 0.0
    last: float = 0.0
    data: bytes = b""
    changed: frozenset[int] = frozenset()
    signals: dict[str, Any] | None = None
    note: str = ""

    @property
    def id(self) -> str:
        return id_text(self.frame_id, self.extended)


class SnifferTable:
    def __init__(self, tally: Tally, opts: DumpOptions) -> None:
        self.tally = tally
        self.opts = opts
        self.rows: dict[tuple[str, int, bool], Row] = {}
        self.shown = 0
        self.now = 0.0

    def add(self, frame: LogFrame) -> None:
        key = (frame.arbitration_id, frame.is_extended, frame.channel, frame.kind)
        rec = self.tally.records.get(key)
        if rec is None:
            rec = self.tally.add(key)
        rec.frames += 1
        if not rec.accepted:
            return
        self.shown += 1
        signals = None
        missing: tuple[str, ...] = ()
        bad_mux = None
        if rec.message is not None and frame.kind == DATA:
            rec.decoded += 1
            if len(frame.data) == rec.length:
                try:
                    signals = rec.decode(frame.data)
                except UnknownMux:
                    signals, missing, bad_mux = rec.decode_counted(frame.data, self.opts.choices)
            else:
                signals, missing, bad_mux = rec.decode_counted(frame.data, self.opts.choices)
        row_key = (frame.channel, frame.arbitration_id, frame.is_extended)
        row = self.rows.get(row_key)
        if row is None:
            row = self.rows[row_key] = Row(frame.channel, frame.arbitration_id, frame.is_extended,
                                           rec.message.name if rec.message is not None else "—", rec.formatter,
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

    def render(self, title: str, width: int) -> Any:
        """The table for a console ``width`` columns wide: no line is longer."""
        from rich.table import Table

        rows = [self.rows[k] for k in sorted(self.rows, key=lambda k: (k[0], k[2], k[1]))]
        cells = [_Cells(row, self.now) for row in rows]
        bus_w = max([3, *(len(r.channel) for r in rows)])
        id_w = max([2, *(len(r.id) for r in rows)])
        name_w = min(MAX_MESSAGE_WIDTH, max([7, *(len(r.name) for r in rows)]))
        count_w = max([5, *(len(c.count) for c in cells)])
        rate_w = max([4, *(len(c.rate) for c in cells)])
        data_w = max([4, *(min(23, 3 * len(r.data) - 1) for r in rows)])
        fixed = bus_w + id_w + name_w + count_w + rate_w + 3 + data_w + 7 * GAP
        # File names and channels are shown as written ("/tmp/[x]/drive.log"), never read as markup.
        table = Table(title=literal(title, "table.title"), title_justify="left", box=None, padding=(0, GAP // 2), pad_edge=False,
                      header_style="bold", collapse_padding=False)
        if width - fixed >= MIN_SIGNALS_WIDTH:
            signals_w = width - fixed
            for name, w, justify in (("bus", bus_w, "left"), ("ID", id_w, "right"), ("message", name_w, "left"),
                                     ("count", count_w, "right"), ("rate", rate_w, "right"), ("DLC", 3, "right"),
                                     ("data", data_w, "left"), ("signals", signals_w, "left")):
                table.add_column(name, justify=justify, width=w, overflow="fold")  # type: ignore[arg-type]
            for row, c in zip(rows, cells, strict=True):
                table.add_row(literal(row.channel), row.id, literal(row.name), c.count, c.rate, str(len(row.data)),
                              _data(row, data_w), c.signals(signals_w), style=c.style)
            return table
        # Narrow: ID over bus | message over count and rate | data over signals.
        first_w = max(id_w, bus_w)
        second_w = min(MAX_MESSAGE_WIDTH, max([name_w, *(len(c.count_rate) for c in cells)]))
        third_w = max(8, width - first_w - second_w - 2 * GAP)
        table.add_column("ID\nbus", justify="left", width=first_w, overflow="fold")
        table.add_column("message\ncount, rate", justify="left", width=second_w, overflow="fold")
        table.add_column("data\nsignals", justify="left", width=third_w, overflow="fold")
        from rich.text import Text

        for row, c in zip(rows, cells, strict=True):
            last = [_data(row, third_w), c.signals(third_w)]
            table.add_row(Text(f"{row.id}\n{row.channel}"), Text(f"{row.name}\n{c.count_rate}"),
                          Text("\n").join([t for t in last if t.plain]), style=c.style)
        return table


class _Cells:
    """The texts of one row that do not depend on the layout."""

    def __init__(self, row: Row, now: float) -> None:
        self.row = row
        span = row.last - row.first
        rate = (row.count - 1) / span if span > 0 else 0.0
        period = 1.0 / rate if rate else 1.0
        self.style = "dim" if now - row.last > max(1.0, 3 * period) else None
        self.count = str(row.count)
        self.rate = f"{rate:.1f}/s"
        self.count_rate = f"{row.count} × {self.rate}"

    def signals(self, width: int) -> Any:
        """The signals wrapped to ``width``, breaking only between ``Name: value`` pairs (a pair
        longer than a line is folded)."""
        from rich.text import Text

        row = self.row
        if row.formatter is not None and row.signals is not None:
            text = Text("\n".join(_wrap(row.formatter.items(row.signals), width)))
        else:
            text = Text("unknown ID" if row.formatter is None else "", style="italic")
        if row.note:
            note = f"[{row.note}]"
            last = text.plain.rsplit("\n", 1)[-1]
            text.append(("  " if last and len(last) + 2 + len(note) <= width else "\n" if last else "") + note,
                        style="red")
        return text


def _wrap(items: list[str], width: int) -> list[str]:
    lines: list[str] = []
    line = ""
    for item in items:
        if line and len(line) + 2 + len(item) + 1 <= width:
            line += f", {item}"
            continue
        if line:
            lines.append(line + ",")
        line = item
    if line:
        lines.append(line)
    return lines


def _data(row: Row, width: int) -> Any:
    """The payload in hex, changed bytes highlighted, as many bytes per line as ``width`` holds."""
    from rich.text import Text

    per_line = max(1, min(8, (width + 1) // 3))
    text = Text()
    for i, b in enumerate(row.data):
        if i:
            text.append("\n" if i % per_line == 0 else " ")
        text.append(f"{b:02X}", style="bold yellow" if i in row.changed else "")
    return text


def show_table(frames: Iterable[LogFrame], tally: Tally, opts: DumpOptions, title: str, live: bool) -> None:
    from rich.console import Console
    from rich.live import Live

    console = Console()
    sniffer = SnifferTable(tally, opts)
    if not live:  # replaying a file as fast as possible: show where it ended
        for frame in frames:
            sniffer.add(frame)
            if opts.count is not None and sniffer.shown >= opts.count:
                break
        console.print(sniffer.render(title, console.width))
        return
    with Live(sniffer.render(title, console.width), console=console, auto_refresh=False, transient=False) as view:
        next_paint = 0.0
        for frame in frames:
            sniffer.add(frame)
            now = time.monotonic()
            if now >= next_paint:
                view.update(sniffer.render(title, console.width), refresh=True)
                next_paint = now + 0.1
            if opts.count is not None and sniffer.shown >= opts.count:
                break
        view.update(sniffer.render(title, console.width), refresh=True)
