"""The ``evscreen`` command: one thin function per subcommand, calling the modules that do the work.

Heavy libraries (websockets, python-can, cantools) are imported inside the subcommands that use
them, so ``evscreen --help`` stays fast on a Raspberry Pi.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperCommand

from evscreen import __version__
from evscreen.errors import EvscreenError, UsageError
from evscreen.protocol import DEFAULT_SETTINGS
from evscreen.tools.terminal import literal, print_error, report_error

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


def _load(config_file: Path | None, flags: dict[str, Any] | None = None) -> Any:
    from evscreen.config import load_config

    return load_config(config_file, flags=flags)


# --- serve -------------------------------------------------------------------------------------


@app.command()
def serve(
    config_file: Path | None = ConfigOption,
    host: str | None = typer.Option(None, "--host", help="Address to listen on [default: 127.0.0.1]."),
    port: int | None = typer.Option(None, "--port", "-p", help="TCP port [default: 8765]."),
    telemetry_interval: float | None = typer.Option(
        None, "--telemetry-interval", help="Seconds between telemetry messages [default: 1.0]."
    ),
    simulation: str | None = typer.Option(
        None, "--simulation", help="auto (real hardware on a Pi, simulated elsewhere), on or off."
    ),
    log_level: str | None = typer.Option(None, "--log-level", help="debug, info, warning or error."),
    insecure_no_auth: bool = typer.Option(
        False, "--insecure-no-auth", help="Serve a non-loopback address without a token (not recommended)."
    ),
    sim_speed: float | None = typer.Option(
        None, "--sim-speed", metavar="FACTOR",
        help="Simulated seconds per real second, 0.01-1000 (e.g. 20 for a quick demo; default 1).",
    ),
    vehicle: str | None = typer.Option(
        None, "--vehicle", metavar="NAME",
        help="Vehicle profile to read the CAN bus with (evscreen vehicles lists them) [default: vehicle.name].",
    ),
    replay: Path | None = typer.Option(
        None, "--replay", metavar="FILE", dir_okay=False,
        help="Play a recorded CAN log as the vehicle (candump, asc, blf, trc, csv, SavvyCAN GVRET; .gz too),"
        " through the same decoding as a live bus.",
    ),
    replay_speed: float | None = typer.Option(
        None, "--replay-speed", metavar="FACTOR", help="With --replay: 1 real time (default), 2 twice as fast,"
        " 0 as fast as possible.",
    ),
    replay_bus: str | None = typer.Option(
        None, "--replay-bus", metavar="BUS", help="With --replay: which bus of a multi-bus log (0, 1, can1...)"
        " [default: the profile's log_bus, else every frame].",
    ),
    loop: bool = typer.Option(False, "--loop", help="With --replay: start again at the end of the log."),
    record: Path | None = typer.Option(
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


def _replay_flags(replay: Path | None, speed: float | None, bus: str | None, loop: bool,
                  simulation: str | None) -> dict[str, Any]:
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


def _send_help() -> str:
    """send's --help, with every action and its values taken from the protocol's own table."""
    from evscreen.protocol import actions_help

    rows = actions_help()
    width = max(len(action) for action, _ in rows)
    actions = "\n".join(f"  {action:<{width}}  {values}" for action, values in rows)
    return (
        "Send one command to a running server and print its response.\n\n"
        "Exit code 0 when the server carried it out, 1 when it answered with an error, 2 for a usage "
        "error (unknown action, missing or extra value, bad option), 3 when the server could not be "
        "reached or refused the connection (token, certificate).\n\n"
        f"\b\nActions and their values:\n{actions}\n\n"
        "\b\nExamples:\n"
        "  evscreen send set_drive_mode eco\n"
        "  evscreen send set_theme dark\n"
        "  evscreen send set_volume 0.7\n"
        "  evscreen send connect_bluetooth 00:1A:7D:DA:71:13"
    )


@app.command(help=_send_help())
def send(
    action: str = typer.Argument(..., help="The action (see the list above)."),
    value: str | None = typer.Argument(None, help="The value, if the action takes one (see the list above)."),
    url: str = UrlOption,
    as_json: bool = typer.Option(False, "--json", help="Print the raw JSON response."),
    timeout: float = typer.Option(5.0, "--timeout", help="Seconds to wait for the server."),
    token: str | None = TokenOption,
    ca_file: Path | None = CaFileOption,
) -> None:
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
        print_error(f"{action}: {response.get('error')} ({response.get('code')})")
    raise typer.Exit(0 if response.get("status") == "success" else 1)


@app.command()
def watch(
    url: str = UrlOption,
    timeout: float = typer.Option(5.0, "--timeout", help="Seconds to wait for the server."),
    token: str | None = TokenOption,
    ca_file: Path | None = CaFileOption,
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
    config_file: Path | None = ConfigOption,
    device: str | None = typer.Option(None, "--device",
                                      help="GPS serial device, e.g. /dev/ttyUSB0 [default: gps.port]."),
    old_port: str | None = typer.Option(None, "--port", hidden=True),
    baud: int | None = typer.Option(None, "--baud", help="GPS serial speed [default: gps.baud]."),
    gps_source: str | None = typer.Option(None, "--gps-source", help="serial or gpsd [default: gps.source]."),
    pin: int | None = typer.Option(None, "--pin", help="DHT data pin, BCM GPIO number [default: dht11.pin]."),
    model: str | None = typer.Option(None, "--model", help="DHT11 or DHT22 [default: dht11.model]."),
    interface: str | None = typer.Option(None, "--interface", help="python-can interface [default: can.interface]."),
    channel: str | None = typer.Option(None, "--channel", help="CAN channel, e.g. can0 [default: can.channel]."),
    bitrate: int | None = typer.Option(None, "--bitrate", help="CAN bitrate [default: can.bitrate]."),
    dbc: str | None = typer.Option(None, "--dbc", help="DBC file [default: can.dbc, else evscreen's own]."),
    broker: str | None = typer.Option(None, "--broker", help="MQTT broker host [default: mqtt.broker]."),
    broker_port: int | None = typer.Option(None, "--broker-port", help="MQTT broker port [default: mqtt.port]."),
    duration: float | None = typer.Option(None, "--duration", "-d", help="Seconds to read [default: per probe]."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON result and nothing else on stdout."),
) -> None:
    """Check a sensor while wiring it: a live view while it reads, then a verdict and what to check.

    Exit code 0 when it works, 1 when it does not, 2 for bad arguments.

    \b
    Examples:
      evscreen probe can --interface socketcan --channel can0
      evscreen probe obd --interface socketcan --channel can0
      evscreen probe gps --device /dev/ttyUSB0 --baud 9600
      evscreen probe dht11 --pin 4
      evscreen probe bluetooth --json
      evscreen probe mqtt --broker 10.0.0.5 --broker-port 1883
    """
    import logging

    from evscreen.tools.probe import run_probe_command

    if old_port is not None:
        raise UsageError(f"probe takes the GPS serial device as --device (--device {old_port}); "
                         "--port is the TCP port of `evscreen serve`")
    if not _debug:
        # The verdict says what went wrong; the sources' own log lines would only break the view.
        logging.getLogger().addHandler(logging.NullHandler())
    loaded = _load(config_file, {
        "gps.port": device, "gps.baud": baud, "gps.source": gps_source,
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


def _obd_config(config_file: Path | None, interface: str | None, channel: str | None,
                bitrate: int | None) -> Any:
    return _load(config_file, {"can.interface": interface, "can.channel": channel, "can.bitrate": bitrate}).config


@obd_app.command("scan")
def obd_scan(config_file: Path | None = ConfigOption, interface: str | None = InterfaceOption,
             channel: str | None = ChannelOption, bitrate: int | None = BitrateOption,
             simulated: bool = SimulatedOption, as_json: bool = JsonOption) -> None:
    """Which ECUs answer OBD-II, their supported PIDs, VIN, names and stored DTCs. Exit 1: none answered."""
    from evscreen.tools.obd import run_scan

    raise typer.Exit(run_scan(_obd_config(config_file, interface, channel, bitrate), simulated=simulated,
                              as_json=as_json))


@obd_app.command("dtc")
def obd_dtc(config_file: Path | None = ConfigOption, interface: str | None = InterfaceOption,
            channel: str | None = ChannelOption, bitrate: int | None = BitrateOption,
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
              config_file: Path | None = ConfigOption, interface: str | None = InterfaceOption,
              channel: str | None = ChannelOption, bitrate: int | None = BitrateOption,
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
             config_file: Path | None = ConfigOption, interface: str | None = InterfaceOption,
             channel: str | None = ChannelOption, bitrate: int | None = BitrateOption,
             count: int | None = typer.Option(None, "--count", "-n", min=1, help="Stop after this many rounds."),
             simulated: bool = SimulatedOption, as_json: bool = JsonOption) -> None:
    """A live table of a profile's values, asked round after round (Ctrl-C stops)."""
    from evscreen.tools.obd import run_poll

    raise typer.Exit(run_poll(_obd_config(config_file, interface, channel, bitrate), vehicle, simulated=simulated,
                              count=count, as_json=as_json))


# --- can-dump ----------------------------------------------------------------------------------


class _CanDumpCommand(TyperCommand):
    """can-dump parses its own options (evscreen.tools.can_dump.options, which `evscreen can-dump`
    also reaches without loading this CLI, so that decoding a log starts fast): click declares them
    only for --help and for the tests that look at every command's options."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if any(arg in ctx.help_option_names for arg in args):
            typer.echo(self.get_help(ctx), color=ctx.color)
            ctx.exit()
        ctx.args = list(args)
        return ctx.args


def _with_can_dump_options(function: Any) -> Any:
    """Give ``function`` one typer option per entry of can-dump's option table (the table is the one
    place they are declared; typer reads them from the signature)."""
    import inspect

    from evscreen.tools.can_dump.options import OPTIONS

    params = [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)]
    for opt in OPTIONS:
        names = [opt.long, *([opt.short] if opt.short else [])]
        metavar = f"[{'|'.join(opt.choices)}]" if opt.choices else opt.metavar
        annotation: Any
        if opt.metavar is None:
            annotation, default = bool, typer.Option(False, *names, help=opt.help)
        else:
            # Real union objects (types.UnionType), evaluated now: typer reads them from the signature,
            # as it reads the `str | None` annotations of the other commands.
            annotation = list[str] | None if opt.repeatable else int | None if opt.integer else str | None
            default = typer.Option(None, *names, help=opt.help, metavar=metavar, show_default=False,
                                   envvar=opt.envvar)
        params.append(inspect.Parameter(opt.dest, inspect.Parameter.KEYWORD_ONLY, default=default,
                                        annotation=annotation))
    function.__signature__ = inspect.Signature(params, return_annotation=None)
    function.__annotations__ = {p.name: p.annotation for p in params} | {"return": None}
    return function


@app.command("can-dump", cls=_CanDumpCommand)
@_with_can_dump_options
def can_dump(ctx: typer.Context, **_options: Any) -> None:
    """Decode CAN frames with a DBC: live from any python-can interface, or from a log file.

    A summary goes to stderr at the end: the frames read per bus, then what was shown of them.
    Exit code 0; 1 when the filters let no frame through (stderr says what the log has);
    2 for bad arguments or a file or DBC that cannot be read.

    \b
    Examples:
      evscreen can-dump --file drive.log --dbc car.dbc --format line
      evscreen can-dump --file kona.csv --dbc pcan.dbc -b 0 -m 'BMS.*' --format jsonl
      evscreen can-dump -i socketcan --channel can0 --id 0x500:0x700
    """
    from evscreen.tools.can_dump.command import main as can_dump_main

    raise typer.Exit(can_dump_main(list(ctx.args)))


# --- simulate ----------------------------------------------------------------------------------


@app.command()
def simulate(
    # Text, checked by the tool: a bad value is one line naming the option, like every error here.
    duration: str | None = typer.Option(None, "--duration", "-d", metavar="SECONDS",
                                           help="Simulated seconds to drive (required)."),
    output: str | None = typer.Option(None, "--output", "-o", metavar="FILE",
                                         help="candump log to write, '-' for stdout (required)."),
    seed: str | None = typer.Option(None, "--seed", metavar="N",
                                       help="Seed of the drive [default: simulation.seed]."),
    drive_mode: str = typer.Option(DEFAULT_SETTINGS["drive_mode"], "--drive-mode", metavar="MODE",
                                   help="eco, normal or sport."),
    regen_level: str = typer.Option(DEFAULT_SETTINGS["regen_level"], "--regen-level", metavar="LEVEL",
                                    help="off, low, standard or high."),
    charge_limit: str = typer.Option(str(DEFAULT_SETTINGS["charge_limit"]), "--charge-limit", metavar="PERCENT",
                                     help="Charging stops at this SoC, 50-100."),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite an existing file."),
    config_file: Path | None = ConfigOption,
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
        print_error("interrupted; no log written")
        code = 130
    raise typer.Exit(code)


# --- trips, charges ----------------------------------------------------------------------------


def _history_command(kind: str, examples: str) -> Any:
    def command(
        as_json: bool = typer.Option(False, "--json", help="Print a JSON list (the keys of docs/journal.md)."),
        as_csv: bool = typer.Option(False, "--csv", help="Print CSV with a header row."),
        since: str | None = typer.Option(
            None, "--since", metavar="DATE",
            help="Only those that started then or later: YYYY-MM-DD[THH:MM], local time.",
        ),
        limit: str | None = typer.Option(None, "--limit", metavar="N", help="At most N, the latest [default: 1000]."),
        journal: Path | None = typer.Option(
            None, "--journal", metavar="FILE", dir_okay=False,
            help="Journal file [default: journal.sqlite3 in the data folder].",
        ),
    ) -> None:
        from evscreen.tools.history import run_history

        raise typer.Exit(run_history(kind, as_json=as_json, as_csv=as_csv, since=since, limit=limit, journal=journal))

    command.__doc__ = examples
    return command


app.command("trips")(_history_command("trips", """List the trips the journal recorded, the latest first, with totals.

    Reads the journal directly: works with or without a running server. Energy is net at the
    battery; 'measured by' says whether it came from the BMS's counters or V x I, and the distance
    from the odometer or the speed (docs/journal.md).

    \b
    Examples:
      evscreen trips
      evscreen trips --since 2024-05-01 --csv > may.csv
      evscreen trips --limit 1 --json
    """))
app.command("charges")(_history_command("charges", """List the charge sessions the journal recorded, with totals.

    Reads the journal directly: works with or without a running server. --json includes each
    session's charge curve (power against SoC).

    \b
    Examples:
      evscreen charges
      evscreen charges --since 2024-05-01 --json
    """))


# --- config ------------------------------------------------------------------------------------


@config_app.command("show")
def config_show(
    config_file: Path | None = ConfigOption,
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

    title = f"{loaded.path}{'' if loaded.file_found else ' (not found: defaults)'}"
    table = Table(title=literal(title, "table.title"), title_justify="left")
    table.add_column("key")
    table.add_column("value")
    table.add_column("source")
    for spec, value, origin in rows:
        table.add_row(spec.path, literal(display_value(spec, value)),
                      literal(origin, "" if origin == "default" else "bold"))
    Console().print(table)


@config_app.command("init")
def config_init(
    path: Path | None = typer.Option(
        None, "--path", envvar="EVSCREEN_CONFIG", dir_okay=False,
        help="Where to write [default: the default config path, as for `serve` and `config show`].",
    ),
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
def config_path(config_file: Path | None = ConfigOption) -> None:
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
        sys.exit(report_error(exc))
