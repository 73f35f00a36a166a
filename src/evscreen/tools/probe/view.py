"""The terminal side of ``evscreen probe``: a live table while a probe reads, then its verdict.

Titles are lines of their own (a table title wraps to the table's width, which cut phrases in
half when piped), readings are shown as words (yes/no, lists joined), not Python reprs, and what
the verdict line already says is not repeated below it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from evscreen.tools.probe import ProbeResult, Rows

#: Readings the verdict shows in its own words (summary, likely cause, advice).
VERDICT_KEYS = frozenset({"ok", "summary", "advice", "error", "problem", "cause"})


def _table(title: str, rows: Rows) -> Group:
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for label, value in rows:
        table.add_row(Text(label), Text(value))  # Text: a value like "evscreen[pi]" is not markup
    return Group(Text(title, style="bold"), table)


def _repeats(cause: str, summary: str) -> bool:
    cause, summary = cause.strip().lower(), summary.strip().lower()
    return cause in summary or summary in cause


def verdict(result: ProbeResult) -> Group:
    parts: list[Text | Table] = []
    if result.ok:
        parts.append(Text.assemble(("✔ ", "bold green"), (f"{result.probe} works", "bold green"),
                                   f": {result.summary}"))
    else:
        parts.append(Text.assemble(("✘ ", "bold red"), (f"{result.probe} does not work", "bold red"),
                                   f": {result.summary}"))
    if result.cause and not _repeats(result.cause, result.summary):
        parts.append(Text.assemble(("likely cause: ", "bold"), result.cause))
    if result.advice:
        parts.append(Text("check:" if not result.ok else "note:", style="bold"))
        bullets = Table.grid(padding=(0, 1))
        bullets.add_column(width=3, justify="right")
        bullets.add_column()
        for line in result.advice:
            bullets.add_row("•", Text(line))  # wrapped lines stay indented under their text
        parts.append(bullets)
    return Group(*parts)


def tally(results: list[ProbeResult]) -> Text:
    """``probe all``'s last line: how many sources work, and which do not."""
    working = [r.probe for r in results if r.ok]
    failing = [r.probe for r in results if not r.ok]
    text = Text(f"{len(working)} of {len(results)} sources work", style="bold green" if not failing else "bold")
    if working:
        text.append(f": {', '.join(working)}")
    if failing:
        text.append(f"; not working: {', '.join(failing)}", style="red")
    return text


def show_probe(name: str, run: Callable[[Callable[[Rows], None]], ProbeResult]) -> ProbeResult:
    console = Console(highlight=False)
    title = f"probing {name}…"
    with Live(Text(title, style="dim"), console=console, auto_refresh=False, transient=True) as live:
        def show(rows: Rows) -> None:
            live.update(_table(title, rows), refresh=True)

        result = run(show)
    readings = [(k, _fmt(v)) for k, v in result.readings.items() if not isinstance(v, dict) and k not in VERDICT_KEYS]
    if readings:
        console.print(_table(f"{name}: what it read", readings))
    console.print(verdict(result))
    return result


def show_tally(results: list[ProbeResult]) -> None:
    Console(highlight=False).print(tally(results))


def _fmt(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{round(value, 7):g}" if abs(value) < 1e-3 else str(round(value, 7))
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(_fmt(v) for v in value) if value else "none"
    return str(value)
