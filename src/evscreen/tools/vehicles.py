"""``evscreen vehicles`` and ``evscreen vehicles show NAME``: the vehicle profiles, readably or as JSON."""

from __future__ import annotations

import json
from typing import Any

from evscreen.vehicles.loader import (
    ProfileListing,
    list_profiles,
    load_profile,
    shipped,
    user_profiles_dir,
)
from evscreen.vehicles.profile import CONFIDENCE, Profile


def origin(entry: ProfileListing) -> str:
    """Where a listed profile comes from: built-in, the user's, or the user's over a built-in."""
    if entry.user_path is None:
        return "built-in"
    profile = entry.profile
    if entry.builtin:
        extends_own = profile is not None and profile.extends == entry.name
        return f"user, {'extends' if extends_own else 'overrides'} the built-in"
    if profile is not None and profile.extends:
        return f"user, extends {profile.extends}"
    return "user"


def profile_json(profile: Profile) -> dict[str, Any]:
    return {
        "name": profile.id,
        "display_name": profile.name,
        "description": profile.description,
        "usable_capacity_kwh": profile.usable_capacity_kwh,
        "builtin": profile.builtin,
        "path": str(profile.path) if profile.path is not None else None,
        "extends": profile.extends,
        "buses": [{"name": b.name, "dbc": str(profile.dbc_path(b)) if b.dbc else None, "log_bus": b.log_bus,
                   "bitrate": b.bitrate, "about": b.about} for b in profile.buses],
        "signals": {s.field: {"signal": s.ref.text(), "confidence": s.confidence, "about": s.about}
                    for s in profile.signals},
        "diagnostics": [{
            "name": r.name, "ecu": r.ecu, "bus": r.bus, "request_id": r.request_id, "response_id": r.response_id,
            "extended": r.extended, "request": r.request.hex().upper(), "intervals": dict(r.intervals),
            "timeout": r.timeout, "response_length": r.response_length, "about": r.about,
            "fields": [{"target": f.target, "byte": f.byte, "length": f.length, "signed": f.signed,
                        "byte_order": f.byte_order, "scale": f.scale, "offset": f.offset,
                        "confidence": f.confidence, "about": f.about} for f in r.fields],
        } for r in profile.diagnostics],
    }


def list_command(as_json: bool) -> int:
    """Print every profile; exit 1 when one of the user's cannot be loaded (it is listed with why)."""
    entries = list_profiles()
    broken = any(e.error for e in entries)
    if as_json:
        print(json.dumps([{"name": e.name, "origin": origin(e), "error": e.error,
                           "profile": profile_json(e.profile) if e.profile else None} for e in entries], indent=2))
        return 1 if broken else 0
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(highlight=False)
    table = Table(title="vehicle profiles", title_justify="left", header_style="bold")
    for column in ("name", "car", "from", "buses", "signals", "diagnostics", "usable kWh"):
        table.add_column(column, justify="right" if column in ("signals", "diagnostics", "usable kWh") else "left")
    for e in entries:
        p = e.profile
        if p is None:
            table.add_row(e.name, f"[red]cannot be loaded: {escape(e.error or '')}[/]", origin(e), "", "", "", "")
            continue
        buses = ", ".join(b.name + (f" (log bus {b.log_bus})" if b.log_bus else "") for b in p.buses)
        capacity = f"{p.usable_capacity_kwh:g}" if p.usable_capacity_kwh is not None else "—"
        table.add_row(e.name, escape(p.name), origin(e), buses, str(len(p.signals)), str(len(p.diagnostics)), capacity)
    console.print(table)
    console.print(f"your profiles: {user_profiles_dir()}/NAME.toml (docs/vehicles.md says how to write one); "
                  "`evscreen vehicles show NAME` prints one")
    return 1 if broken else 0


def show_command(name: str, as_json: bool) -> int:
    """Print one profile, checked against its DBC (a mismatch is a ConfigError: exit 2)."""
    from evscreen.can.dbc.loader import load_decoder
    from evscreen.can.dbc.mapping import build_signal_map

    profile = load_profile(name)
    primary_dbc = profile.dbc_path()
    if primary_dbc is not None:
        decoder = load_decoder(str(primary_dbc), quiet=shipped(primary_dbc))
        build_signal_map([s.ref for s in profile.signals], decoder, f"{profile.path}: signals")
    if as_json:
        print(json.dumps(profile_json(profile), indent=2))
        return 0
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(highlight=False)
    where = "built-in" if profile.builtin else str(profile.path)
    if profile.overrides_builtin:
        where += f" ({'extends' if profile.extends == profile.id else 'overrides'} the built-in)"
    console.print(f"[bold]{profile.id}[/]: {escape(profile.name)}  [dim]({escape(where)})[/]")
    if profile.description:
        console.print(escape(profile.description))
    if profile.usable_capacity_kwh is not None:
        console.print(f"usable capacity: {profile.usable_capacity_kwh:g} kWh")
    buses = Table(title="buses (the first is the one the CAN source reads)", title_justify="left",
                  header_style="bold")
    for column in ("bus", "DBC", "log bus", "bitrate", "about"):
        buses.add_column(column)
    for bus in profile.buses:
        buses.add_row(bus.name, escape(str(profile.dbc_path(bus))) if bus.dbc else "—", escape(bus.log_bus or "—"),
                      str(bus.bitrate or "—"), escape(bus.about))
    console.print(buses)
    signals = Table(title="signals", title_justify="left", header_style="bold")
    for column in ("field", "signal", "confidence", "what it is"):
        signals.add_column(column, overflow="fold")
    colour = {"confirmed": "green", "likely": "yellow", "guess": "red"}
    for s in profile.signals:
        sure = f"[{colour[s.confidence]}]{s.confidence}[/]" if s.confidence else "—"
        signals.add_row(s.field, s.ref.text(), sure, escape(s.about))
    console.print(signals)
    if profile.diagnostics:
        diag = Table(title="diagnostic requests (polled over ISO-TP)", title_justify="left", header_style="bold")
        for column in ("request", "ECU", "ids", "bytes", "every (off/on/charging)", "fields"):
            diag.add_column(column, overflow="fold")
        for r in profile.diagnostics:
            width = 8 if r.extended else 3
            every = " / ".join(f"{r.intervals[s]:g} s" if r.intervals[s] else "—" for s in ("off", "on", "charging"))
            fields = ", ".join(f"{f.target} (byte {f.byte}{f'+{f.length}' if f.length > 1 else ''})" for f in r.fields)
            diag.add_row(r.name, escape(r.ecu) or "—", f"{r.request_id:0{width}X} → {r.response_id:0{width}X}",
                         r.request.hex().upper(), every, fields)
        console.print(diag)
    console.print("[dim]confidence: " + "; ".join(f"{k}: {v}" for k, v in CONFIDENCE.items()) + "[/]")
    return 0
