"""``evscreen watch``: live telemetry in a rich table, updated in place."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from evscreen.errors import ServerUnreachable
from evscreen.tools.client import telemetry_stream
from evscreen.tools.terminal import literal

UNITS = {
    "speed": "km/h", "wheel_speed": "km/h", "speed_gps": "km/h", "range_km": "km", "battery_soc": "%",
    "battery_soh": "%", "battery_voltage": "V", "battery_current": "A", "power_kw": "kW", "motor_rpm": "rpm",
    "motor_temp": "°C", "ambient_temp": "°C", "cabin_temp": "°C", "humidity": "%", "altitude": "m",
    "front_left": "psi", "front_right": "psi", "rear_left": "psi", "rear_right": "psi", "block_a": "°C",
    "block_b": "°C", "block_c": "°C", "duration": "s", "position": "s", "heading": "°",
}
SOURCE_STYLE = {"live": "green", "simulated": "cyan", "stale": "yellow", "offline": "red", "starting": "dim"}


def _fmt(name: str, value: Any) -> Text:
    if value is None:
        return Text("—", style="dim")
    if isinstance(value, bool):
        return Text("yes" if value else "no", style="green" if value else "dim")
    unit = UNITS.get(name)
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return Text(f"{text} {unit}" if unit else text)


#: Longer values (a track title) end in "…" rather than wrap and push the layout around.
MAX_VALUE_WIDTH = 28


def _header(message: dict[str, Any], url: str) -> Text:
    stamp = str(message.get("timestamp") or "")
    # "2025-06-01T12:00:00.123456+00:00" -> "2025-06-01 12:00:00": the seconds are what moves.
    when = stamp[:19].replace("T", " ") if len(stamp) >= 19 else stamp
    header = Text.assemble(("evscreen telemetry", "bold"), "   ", url, "   ", when, no_wrap=True, overflow="ellipsis")
    return header


def _group(name: str, values: dict[str, Any]) -> Table:
    # min_width: a group whose values are narrower than its name still shows the whole name.
    table = Table(title=literal(name, "table.title"), title_justify="left", title_style="bold", show_header=False,
                  box=None, min_width=len(name), padding=(0, 1), pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(no_wrap=True, overflow="ellipsis", max_width=MAX_VALUE_WIDTH)
    for k, v in values.items():
        table.add_row(literal(k), _fmt(k, v))
    return table


def render(message: dict[str, Any], url: str) -> Group:
    """One screen of ``watch``: no line wraps; the groups flow into as many columns as fit."""
    from rich.columns import Columns

    main = Table(show_header=False, expand=False, box=None, padding=(0, 2), pad_edge=False)
    main.add_column(style="bold", no_wrap=True)
    main.add_column(no_wrap=True)
    main.add_column(style="bold", no_wrap=True)
    main.add_column(no_wrap=True)
    scalars = [(k, v) for k, v in message.items() if not isinstance(v, dict) and k not in ("type", "timestamp")]
    for i in range(0, len(scalars), 2):
        cells: list[Any] = []
        for k, v in scalars[i:i + 2]:
            cells += [literal(k), _fmt(k, v)]
        main.add_row(*cells)
    groups = Columns([_group(k, v) for k, v in message.items() if isinstance(v, dict) and k != "sources"],
                     padding=(1, 4))
    sources = Text("sources: ", style="bold")
    for name, info in (message.get("sources") or {}).items():
        state = info.get("state", "?")
        age = info.get("age")
        sources.append(f"{name} {state}" + ("" if age is None else f" ({age:.1f} s)") + "   ",
                       style=SOURCE_STYLE.get(state, ""))
    return Group(_header(message, url), Text(""), main, Text(""), groups, Text(""), sources)


def watch_telemetry(url: str, timeout: float, token: str | None = None, ca_file: str | None = None) -> None:
    console = Console()
    with Live(Text(f"connecting to {url}..."), console=console, auto_refresh=False) as live:
        while True:
            try:
                for message in telemetry_stream(url, timeout, token, ca_file):
                    live.update(render(message, url), refresh=True)
                live.update(Text(f"{url} closed the connection; reconnecting...", style="yellow"), refresh=True)
            except ServerUnreachable as exc:
                live.update(Text(f"{exc}; retrying...", style="yellow"), refresh=True)
            time.sleep(1.0)
