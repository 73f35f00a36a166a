"""The terminal side of ``evscreen probe``: a live table while a probe reads, then its verdict."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from evscreen.tools.terminal import literal

if TYPE_CHECKING:
    from evscreen.tools.probe import ProbeResult, Rows


def _table(title: str, rows: Rows) -> Table:
    # Readings are the hardware's and the system's words ("[Errno 19] No such device"): shown as written.
    table = Table(title=literal(title, "table.title"), title_justify="left", show_header=False, box=None,
                  padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    for label, value in rows:
        table.add_row(literal(label), literal(value))
    return table


def verdict(result: ProbeResult) -> Group:
    parts: list[Text | Table] = []
    if result.ok:
        parts.append(Text.assemble(("✔ ", "bold green"), (f"{result.probe} works", "bold green"),
                                   f": {result.summary}"))
    else:
        parts.append(Text.assemble(("✘ ", "bold red"), (f"{result.probe} does not work", "bold red"),
                                   f": {result.summary}"))
    if result.cause and result.cause != result.summary:
        parts.append(Text.assemble(("likely cause: ", "bold"), result.cause))
    if result.advice:
        parts.append(Text("check:" if not result.ok else "note:", style="bold"))
        parts.extend(Text(f"  • {line}") for line in result.advice)
    return Group(*parts)


def show_probe(name: str, run: Callable[[Callable[[Rows], None]], ProbeResult]) -> ProbeResult:
    console = Console(highlight=False)
    title = f"probing {name}…"
    with Live(Text(title, style="dim"), console=console, auto_refresh=False, transient=True) as live:
        def show(rows: Rows) -> None:
            live.update(_table(title, rows), refresh=True)

        result = run(show)
    if result.readings:
        console.print(_table(f"{name}: what it read", [(k, _fmt(v)) for k, v in result.readings.items()
                                                       if not isinstance(v, dict)]))
    console.print(verdict(result))
    return result


def _fmt(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{round(value, 7):g}" if abs(value) < 1e-3 else str(round(value, 7))
    return str(value)
