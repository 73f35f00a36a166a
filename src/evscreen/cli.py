"""The ``evscreen`` command: one thin function per subcommand, calling the modules that do the work.

Heavy libraries (websockets, python-can, cantools) are imported inside the subcommands that use
them, so ``evscreen --help`` stays fast on a Raspberry Pi.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from evscreen import __version__
from evscreen.errors import EvscreenError, UsageError

app = typer.Typer(
    name="evscreen",
    help="Backend of an EV infotainment screen: live telemetry and commands over WebSocket.\n\n"
    "Reads real hardware on a Raspberry Pi (CAN, GPS, DHT11, Bluetooth) and runs a simulated vehicle elsewhere.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
config_app = typer.Typer(help="Show, create and locate the configuration file.", no_args_is_help=True)
app.add_typer(config_app, name="config")
obd_app = typer.Typer(help="Ask the car's ECUs over OBD-II / UDS: scan, DTCs, one request, a profile's values.",
                      no_args_is_help=True)
app.add_typer(obd_app, name="obd")
service_app = typer.Typer(help="Run evscreen as a systemd service (start at boot, restart on failure).",
                          no_args_is_help=True)
app.add_typer(service_app, name="service")
vehicles_app = typer.Typer(help="The vehicle profiles: which cars evscreen reads, and how.")
app.add_typer(vehicles_app, name="vehicles")

_debug = False

ConfigOption = typer.Option(
    None, "--config", "-c", envvar="EVSCREEN_CONFIG", help="Config file to use instead of the default location.",
    dir_okay=False,
)
UrlOption = typer.Option(
    "ws://127.0.0.1:8765", "--url", "-u", envvar="EVSCREEN_URL", help="URL of a running server (ws:// or wss://)."
)
TokenOption = typer.Option(
    None, "--token", envvar="EVSCREEN_TOKEN", help="The server's token, if it requires one.", show_default=False
)
CaFileOption = typer.Option(
    None, "--ca-file", envvar="EVSCREEN_CA_FILE", help="CA certificate (PEM) to verify a wss:// server with.",
    dir_okay=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"evscreen {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", "-V", callback=_version, is_eager=True, help="Print the version."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
) -> None:
    global _debug
    _debug = debug


def _load(config_file: Optional[Path], flags: dict[str, Any] | None = None) -> Any:
    from evscreen.config import load_config

    return load_config(config_file, flags=flags)


def _err(message: str) -> None:
    from rich.console import Console

    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[bold red]error:[/] {message}", markup=True)


# --- serve -------------------------------------------------------------------------------------


@app.command()
def serve(
    config_file: Optional[Path] = ConfigOption,
    host: Optional[str] = typer.Option(None, "--host", help="Address to listen on [default: 127.0.0.1]."),
    port: Optional[int] = typer.Option(None, "--port", "-p", help="TCP port [default: 8765]."),
    telemetry_interval: Optional[float] = typer.Option(
        None, "--telemetry-interval", "-i", help="Seconds between telemetry messages [default: 1.0]."
    ),
    simulation: Optional[str] = typer.Option(
        None, "--simulation", help="auto (real hardware on a Pi, simulated elsewhere), on or off."
    ),
    log_level: Optional[str] = typer.Option(None, "--log-level", help="debug, info, warning or error."),
    insecure_no_auth: bool = typer.Option(
        False, "--insecure-no-auth", help="Serve a non-loopback address without a token (not recommended)."
    ),
    sim_speed: Optional[float] = typer.Option(
        None, "--sim-speed", metavar="FACTOR",
        help="Simulated seconds per real second, 0.01-1000 (e.g. 20 for a quick demo; default 1).",
    ),
    vehicle: Optional[str] = typer.Option(
        None, "--vehicle", metavar="NAME",
        help="Vehicle profile to read the CAN bus with (evscreen vehicles lists them) [default: vehicle.name].",
    ),
    replay: Optional[Path] = typer.Option(
        None, "--replay", metavar="FILE", dir_okay=False,
        help="Play a recorded CAN log as the vehicle (candump, asc, blf, trc, csv, SavvyCAN GVRET; .gz too),"
        " through the same decoding as a live bus.",
    ),
    replay_speed: Optional[float] = typer.Option(
        None, "--replay-speed", metavar="FACTOR", help="With --replay: 1 real time (default), 2 twice as fast,"
        " 0 as fast as possible.",
    ),
    replay_bus: Optional[str] = typer.Option(
        None, "--replay-bus", metavar="BUS", help="With --replay: which bus of a multi-bus log (0, 1, can1...)"
        " [default: the profile's log_bus, else every frame].",
    ),
    loop: bool = typer.Option(False, "--loop", help="With --replay: start again at the end of the log."),
    record: Optional[Path] = typer.Option(
        None, "--record", metavar="DIR", file_okay=False,
        help="Record every CAN frame received into rotating .log.gz files in DIR [default: recording.dir].",
    ),
) -> None:
    """Run the WebSocket server that screens connect to (simulated vehicle off a Pi).

    \b
    Examples:
      evscreen serve
      evscreen serve --vehicle hyundai-kona-ev              # a real Kona on [can]'s interface
      evscreen serve --replay drive.log.gz --vehicle hyundai-kona-ev --loop
      evscreen serve --simulation on --record ~/recordings
    """
    import asyncio

    from evscreen.app import serve_forever
    from evscreen.host.logging_setup import configure_logging

    flags: dict[str, Any] = {
        "server.host": host,
        "server.port": port,
        "server.telemetry_interval": telemetry_interval,
        "simulation.mode": simulation,
        "logging.level": log_level,
        "server.insecure_no_auth": True if insecure_no_auth else None,
        "simulation.speed": sim_speed,
        "vehicle.name": vehicle,
        "recording.dir": str(record) if record is not None else None,
    }
    flags.update(_replay_flags(replay, replay_speed, replay_bus, loop, simulation))
    loaded = _load(config_file, flags)
    configure_logging(loaded.config.logging.level, loaded.config.logging.file)
    try:
        asyncio.run(serve_forever(loaded))
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        pass


def _replay_flags(replay: Optional[Path], speed: Optional[float], bus: Optional[str], loop: bool,
                  simulation: Optional[str]) -> dict[str, Any]:
    """``--replay FILE`` and its options as config values: the CAN source reads the log, nothing is simulated."""
    if replay is None:
        given = [name for name, value in (("--replay-speed", speed), ("--replay-bus", bus), ("--loop", loop or None))
                 if value is not None]
        if given:
            raise UsageError(f"{', '.join(given)} {'needs' if len(given) == 1 else 'need'} --replay FILE")
        return {}
    if simulation == "on":
        raise UsageError("--replay plays a recording as the vehicle; it cannot be combined with --simulation on")
    if speed is not None and not 0 <= speed <= 1e6:
        raise UsageError(f"--replay-speed: must be 0 (as fast as possible) or a factor such as 1 or 10, got {speed:g}")
    options = {"speed": repr(float(speed if speed is not None else 1.0))}
    if bus is not None:
        if not bus.strip():
            raise UsageError("--replay-bus: name a bus (0, 1, can1...)")
        options["bus"] = bus.strip()
    if loop:
        options["loop"] = "true"
    # The log is the vehicle: the ordinary CAN source reads it, the simulated car stays off.
    return {"simulation.mode": "off", "can.enabled": True, "can.interface": "replay", "can.channel": str(replay),
            "can.options": options}


# --- vehicles ------------------------------------------------------------------------------------


@vehicles_app.callback(invoke_without_command=True)
def vehicles(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON: every profile, or why it cannot be loaded."),
) -> None:
    """List the vehicle profiles: built-in and yours (in the config directory's profiles/ folder).

    Exit code 1 when one of your profiles cannot be loaded (it is listed with the reason).

    \b
    Examples:
      evscreen vehicles
      evscreen vehicles show hyundai-kona-ev
      evscreen serve --vehicle hyundai-kona-ev
    """
    if ctx.invoked_subcommand is not None:
        return
    from evscreen.tools.vehicles import list_command

    raise typer.Exit(list_command(as_json))


@vehicles_app.command("show")
def vehicles_show(
    name: str = typer.Argument(..., help="The profile's name, as `evscreen vehicles` lists it."),
    as_json: bool = typer.Option(False, "--json", help="Print the profile as JSON."),
) -> None:
    """Print one vehicle profile, checked against its DBC: buses, every mapped signal, diagnostics."""
    from evscreen.tools.vehicles import show_command

    raise typer.Exit(show_command(name, as_json))


# --- send and watch ----------------------------------------------------------------------------


@app.command()
def send(
    action: str = typer.Argument(..., help="The action, e.g. set_drive_mode, play_music, set_volume."),
    value: Optional[str] = typer.Argument(None, help="The value, if the action takes one (eco, 80, true, 0.7...)."),
    url: str = UrlOption,
    as_json: bool = typer.Option(False, "--json", help="Print the raw JSON response."),
    timeout: float = typer.Option(5.0, "--timeout", help="Seconds to wait for the server."),
    token: Optional[str] = TokenOption,
    ca_file: Optional[Path] = CaFileOption,
) -> None:
    """Send one command to a running server and print its response.

    Exit code 0 on success, 1 when the server answers with an error, 2 when it cannot be reached.

    \b
    Examples:
      evscreen send set_drive_mode eco
      evscreen send set_volume 0.7
      evscreen send connect_bluetooth 00:1A:7D:DA:71:13
    """
    from evscreen.protocol import Rejected, command_from_text
    from evscreen.tools.client import send_command

    try:
        command = command_from_text(action, value)
    except Rejected as exc:
        raise UsageError(str(exc)) from None
    response = send_command(url, command, timeout=timeout, token=token, ca_file=str(ca_file) if ca_file else None)
    if as_json:
        typer.echo(json.dumps(response))
    elif response.get("status") == "success":
        typer.echo(f"{action}: ok")
    else:
        _err(f"{action}: {response.get('error')} ({response.get('code')})")
    raise typer.Exit(0 if response.get("status") == "success" else 1)


@app.command()
def watch(
    url: str = UrlOption,
    timeout: float = typer.Option(5.0, "--timeout", help="Seconds to wait for the server."),
    token: Optional[str] = TokenOption,
    ca_file: Optional[Path] = CaFileOption,
) -> None:
    """Watch live telemetry in the terminal, updating in place (Ctrl-C to quit)."""
    from evscreen.tools.client import check_url
    from evscreen.tools.watch import watch_telemetry

    check_url(url)
    try:
        watch_telemetry(url, timeout, token, str(ca_file) if ca_file else None)
    except KeyboardInterrupt:
        pass


# --- probe -------------------------------------------------------------------------------------


@app.command()
def probe(
    target: str = typer.Argument(..., help="What to probe: can, obd, gps, dht11, bluetooth, mqtt, or all."),
    config_file: Optional[Path] = ConfigOption,
    port: Optional[str] = typer.Option(None, "--port", help="GPS serial device, e.g. /dev/ttyUSB0 [default: gps.port]."),
    baud: Optional[int] = typer.Option(None, "--baud", help="GPS serial speed [default: gps.baud]."),
    gps_source: Optional[str] = typer.Option(None, "--gps-source", help="serial or gpsd [default: gps.source]."),
    pin: Optional[int] = typer.Option(None, "--pin", help="DHT data pin, BCM GPIO number [default: dht11.pin]."),
    model: Optional[str] = typer.Option(None, "--model", help="DHT11 or DHT22 [default: dht11.model]."),
    interface: Optional[str] = typer.Option(None, "--interface", help="python-can interface [default: can.interface]."),
    channel: Optional[str] = typer.Option(None, "--channel", help="CAN channel, e.g. can0 [default: can.channel]."),
    bitrate: Optional[int] = typer.Option(None, "--bitrate", help="CAN bitrate [default: can.bitrate]."),
    dbc: Optional[str] = typer.Option(None, "--dbc", help="DBC file [default: can.dbc, else evscreen's own]."),
    broker: Optional[str] = typer.Option(None, "--broker", help="MQTT broker host [default: mqtt.broker]."),
    broker_port: Optional[int] = typer.Option(None, "--broker-port", help="MQTT broker port [default: mqtt.port]."),
    duration: Optional[float] = typer.Option(None, "--duration", "-d", help="Seconds to read [default: per probe]."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON result and nothing else on stdout."),
) -> None:
    """Check a sensor while wiring it: a live view while it reads, then a verdict and what to check.

    Exit code 0 when it works, 1 when it does not, 2 for bad arguments.

    \b
    Examples:
      evscreen probe can --interface socketcan --channel can0
      evscreen probe obd --interface socketcan --channel can0
      evscreen probe gps --port /dev/ttyUSB0 --baud 9600
      evscreen probe dht11 --pin 4
      evscreen probe bluetooth --json
      evscreen probe mqtt --broker 10.0.0.5 --broker-port 1883
    """
    import logging

    from evscreen.tools.probe import run_probe_command

    if not _debug:
        # The verdict says what went wrong; the sources' own log lines would only break the view.
        logging.getLogger().addHandler(logging.NullHandler())
    loaded = _load(config_file, {
        "gps.port": port, "gps.baud": baud, "gps.source": gps_source,
        "dht11.pin": pin, "dht11.model": model.upper() if model else None,
        "mqtt.broker": broker, "mqtt.port": broker_port,
        "can.interface": interface, "can.channel": channel, "can.bitrate": bitrate, "can.dbc": dbc,
    })
    raise typer.Exit(run_probe_command(target, loaded.config, duration, as_json, debug=_debug))


# --- obd ---------------------------------------------------------------------------------------

SimulatedOption = typer.Option(False, "--simulated", help="Ask the simulated car's ECUs instead of a bus.")
InterfaceOption = typer.Option(None, "--interface", "-i", help="python-can interface [default: can.interface].")
ChannelOption = typer.Option(None, "--channel", help="CAN channel, e.g. can0 [default: can.channel].")
BitrateOption = typer.Option(None, "--bitrate", help="CAN bitrate [default: can.bitrate].")
JsonOption = typer.Option(False, "--json", help="Print JSON instead of text.")


def _obd_config(config_file: Optional[Path], interface: Optional[str], channel: Optional[str],
                bitrate: Optional[int]) -> Any:
    return _load(config_file, {"can.interface": interface, "can.channel": channel, "can.bitrate": bitrate}).config


@obd_app.command("scan")
def obd_scan(config_file: Optional[Path] = ConfigOption, interface: Optional[str] = InterfaceOption,
             channel: Optional[str] = ChannelOption, bitrate: Optional[int] = BitrateOption,
             simulated: bool = SimulatedOption, as_json: bool = JsonOption) -> None:
    """Which ECUs answer OBD-II, their supported PIDs, VIN, names and stored DTCs. Exit 1: none answered."""
    from evscreen.tools.obd import run_scan

    raise typer.Exit(run_scan(_obd_config(config_file, interface, channel, bitrate), simulated=simulated,
                              as_json=as_json))


@obd_app.command("dtc")
def obd_dtc(config_file: Optional[Path] = ConfigOption, interface: Optional[str] = InterfaceOption,
            channel: Optional[str] = ChannelOption, bitrate: Optional[int] = BitrateOption,
            clear: bool = typer.Option(False, "--clear", help="Clear the stored DTCs (asks first: type 'yes')."),
            yes: bool = typer.Option(False, "--yes", help="With --clear: do not ask."),
            simulated: bool = SimulatedOption, as_json: bool = JsonOption) -> None:
    """Read the stored and pending DTCs of every ECU that answers OBD-II; --clear clears them, after asking."""
    from evscreen.tools.obd import run_dtc

    raise typer.Exit(run_dtc(_obd_config(config_file, interface, channel, bitrate), simulated=simulated, clear=clear,
                             yes=yes, as_json=as_json))


@obd_app.command("query")
def obd_query(tx: str = typer.Argument(..., help="Request ID, e.g. 0x7E4 (0x7DF: functional)."),
              rx: str = typer.Argument(..., help="Response ID, e.g. 0x7EC."),
              request: str = typer.Argument(..., help="Request bytes in hex, e.g. 220101 (read services only)."),
              config_file: Optional[Path] = ConfigOption, interface: Optional[str] = InterfaceOption,
              channel: Optional[str] = ChannelOption, bitrate: Optional[int] = BitrateOption,
              timeout: float = typer.Option(2.0, "--timeout", help="Seconds to wait for the answer."),
              simulated: bool = SimulatedOption, as_json: bool = JsonOption) -> None:
    """Send one request and print the decoded answer. Exit 1: a negative answer or none.

    \b
    Examples:
      evscreen obd query 0x7E4 0x7EC 220101        # the Kona/Niro BMS
      evscreen obd query 0x7DF 0x7E8 010D          # vehicle speed, functional
    """
    from evscreen.tools.obd import run_query

    raise typer.Exit(run_query(_obd_config(config_file, interface, channel, bitrate), tx, rx, request,
                               simulated=simulated, timeout=timeout, as_json=as_json))


@obd_app.command("poll")
def obd_poll(vehicle: str = typer.Option(..., "--vehicle", help="Vehicle profile whose requests to poll."),
             config_file: Optional[Path] = ConfigOption, interface: Optional[str] = InterfaceOption,
             channel: Optional[str] = ChannelOption, bitrate: Optional[int] = BitrateOption,
             count: Optional[int] = typer.Option(None, "--count", "-n", min=1, help="Stop after this many rounds."),
             simulated: bool = SimulatedOption, as_json: bool = JsonOption) -> None:
    """A live table of a profile's values, asked round after round (Ctrl-C stops)."""
    from evscreen.tools.obd import run_poll

    raise typer.Exit(run_poll(_obd_config(config_file, interface, channel, bitrate), vehicle, simulated=simulated,
                              count=count, as_json=as_json))


# --- can-dump ----------------------------------------------------------------------------------


@app.command(
    "can-dump",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def can_dump(ctx: typer.Context) -> None:
    """Decode CAN frames with a DBC: live from any python-can interface, or from a log file (--help for options).

    Its options are parsed by evscreen.tools.can_dump, which `evscreen can-dump` also reaches
    without loading this CLI, so that decoding a log starts as fast as the tools it replaces.
    """
    from evscreen.tools.can_dump import main as can_dump_main

    raise typer.Exit(can_dump_main(list(ctx.args)))


# --- simulate ----------------------------------------------------------------------------------


@app.command()
def simulate(
    # Text, checked by the tool: a bad value is one line naming the option, like every error here.
    duration: Optional[str] = typer.Option(None, "--duration", "-d", metavar="SECONDS",
                                           help="Simulated seconds to drive (required)."),
    output: Optional[str] = typer.Option(None, "--output", "-o", metavar="FILE",
                                         help="candump log to write, '-' for stdout (required)."),
    seed: Optional[str] = typer.Option(None, "--seed", metavar="N",
                                       help="Seed of the drive [default: simulation.seed]."),
    drive_mode: str = typer.Option("normal", "--drive-mode", metavar="MODE", help="eco, normal or sport."),
    regen_level: str = typer.Option("standard", "--regen-level", metavar="LEVEL", help="off, low, standard or high."),
    charge_limit: str = typer.Option("80", "--charge-limit", metavar="PERCENT",
                                     help="Charging stops at this SoC, 50-100."),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite an existing file."),
    config_file: Optional[Path] = ConfigOption,
) -> None:
    """Drive the simulated car as fast as possible and write its CAN bus as a candump log.

    The log (evscreen's own DBC) reads in `evscreen can-dump`, `cantools decode` and SavvyCAN.
    Exit code 2 for bad arguments or a file that cannot be written.

    \b
    Examples:
      evscreen simulate --duration 600 --output drive.log
      evscreen simulate -d 3600 -o sport.log --seed 7 --drive-mode sport
      evscreen simulate -d 60 -o - | cantools decode src/evscreen/can/dbc/evscreen.dbc
    """
    from evscreen.tools.simulate import run_simulate

    try:
        code = run_simulate(output, duration, seed, drive_mode, regen_level, charge_limit, force, config_file)
    except KeyboardInterrupt:
        _err("interrupted; no log written")
        code = 130
    raise typer.Exit(code)


# --- config ------------------------------------------------------------------------------------


@config_app.command("show")
def config_show(
    config_file: Optional[Path] = ConfigOption,
    as_json: bool = typer.Option(False, "--json", help="Print JSON: {key: {value, source}}."),
) -> None:
    """Print the effective configuration and where each value came from (secrets masked)."""
    from evscreen.config import display_value, key_specs

    loaded = _load(config_file)
    rows = []
    for spec in key_specs():
        value = getattr(getattr(loaded.config, spec.section), spec.name)
        rows.append((spec, value, loaded.origins[spec.path]))
    if as_json:
        out = {
            spec.path: {"value": "********" if spec.secret and value else value, "source": origin}
            for spec, value, origin in rows
        }
        typer.echo(json.dumps(out, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{loaded.path}{'' if loaded.file_found else ' (not found: defaults)'}", title_justify="left")
    table.add_column("key")
    table.add_column("value")
    table.add_column("source")
    for spec, value, origin in rows:
        table.add_row(spec.path, display_value(spec, value), origin if origin == "default" else f"[bold]{origin}[/]")
    Console().print(table)


@config_app.command("init")
def config_init(
    path: Optional[Path] = typer.Option(None, "--path", help="Where to write [default: the default config path]."),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite an existing file."),
) -> None:
    """Write a commented config file with every key at its default."""
    from evscreen.config import default_config_path, default_config_text

    target = path or default_config_path()
    if target.exists() and not force:
        raise UsageError(f"{target} already exists; use --force to overwrite it")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(default_config_text(), encoding="utf-8")
        if os.name == "posix":
            target.chmod(0o600)  # it may come to hold secrets
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None
    typer.echo(f"wrote {target}")


@config_app.command("path")
def config_path(config_file: Optional[Path] = ConfigOption) -> None:
    """Print the paths in use: config file, data (settings) and logs."""
    from evscreen.config import data_dir, default_config_path, log_dir

    typer.echo(f"config: {config_file or default_config_path()}")
    typer.echo(f"data:   {data_dir()}")
    typer.echo(f"logs:   {log_dir()}")


@service_app.command("install")
def service_install(
    user: bool = typer.Option(False, "--user", help="A user unit (~/.config/systemd/user) instead of a system one."),
    print_only: bool = typer.Option(False, "--print", help="Print the unit instead of writing it."),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite an existing unit file."),
) -> None:
    """Write a systemd unit for `evscreen serve`: Type=notify, watchdog, Restart=always, sandboxing."""
    from evscreen.host.systemd_unit import plan

    unit = plan(user_mode=user)
    if print_only:
        typer.echo(unit.text, nl=False)
        return
    if unit.path.exists() and not force:
        raise UsageError(f"{unit.path} already exists; use --force to overwrite it")
    try:
        unit.path.parent.mkdir(parents=True, exist_ok=True)
        unit.path.write_text(unit.text, encoding="utf-8")
        for folder in unit.writable:
            folder.mkdir(parents=True, exist_ok=True)
    except PermissionError:
        raise UsageError(
            f"no permission to write {unit.path}: run it with sudo, or use --user, or --print and copy the unit"
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot write {unit.path}: {exc.strerror or exc}") from None
    typer.echo(f"wrote {unit.path}\nnext:")
    for step in unit.next_steps():
        typer.echo(f"  {step}")


def main() -> None:
    try:
        app(prog_name="evscreen")
    except EvscreenError as exc:
        if _debug:
            raise
        _err(str(exc))
        sys.exit(exc.exit_code)
