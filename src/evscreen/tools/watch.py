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


def render(message: dict[str, Any], url: str) -> Group:
    main = Table(title=f"evscreen telemetry — {url} — {message.get('timestamp')}", title_justify="left",
                 show_header=False, expand=False, box=None, padding=(0, 2))
    main.add_column(style="bold")
    main.add_column()
    main.add_column(style="bold")
    main.add_column()
    scalars = [(k, v) for k, v in message.items() if not isinstance(v, dict) and k not in ("type", "timestamp")]
    for i in range(0, len(scalars), 2):
        pair = scalars[i:i + 2]
        cells: list[Any] = []
        for k, v in pair:
            cells += [k, _fmt(k, v)]
        main.add_row(*cells)
    groups = Table(show_header=True, box=None, padding=(0, 2))
    names = [k for k, v in message.items() if isinstance(v, dict) and k != "sources"]
    for name in names:
        groups.add_column(name, style="")
    columns = [[Text.assemble((f"{k} ", "bold"), _fmt(k, v)) for k, v in message[name].items()] for name in names]
    for row in range(max((len(c) for c in columns), default=0)):
        groups.add_row(*[c[row] if row < len(c) else Text("") for c in columns])
    sources = Text("sources: ", style="bold")
    for name, info in (message.get("sources") or {}).items():
        state = info.get("state", "?")
        age = info.get("age")
        sources.append(f"{name} {state}" + ("" if age is None else f" ({age:.1f} s)") + "   ",
                       style=SOURCE_STYLE.get(state, ""))
    return Group(main, Text(""), groups, Text(""), sources)


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
