"""can-dump's command-line options, declared once in :data:`OPTIONS`.

Two things read the table: :func:`parse_args` (argparse, so that ``evscreen can-dump`` starts
without importing click or typer: see :mod:`evscreen.launch`) and :func:`click_options`, which
gives ``evscreen can-dump --help`` the same look as every other command and lets the CLI's tests
see can-dump's flags next to everyone else's.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from evscreen.errors import UsageError

FORMATS = ("table", "line", "jsonl")
#: evscreen.can.logs.FORMATS (a test keeps them equal): importing the log readers here would slow
#: down every `evscreen` command, which reads this table for --help.
LOG_FORMATS = ("candump", "gvret", "csv", "asc", "trc", "blf")


@dataclass(frozen=True)
class Opt:
    """One option: ``metavar`` None means a flag; ``repeatable`` options collect a list."""

    long: str
    help: str
    short: str | None = None
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    repeatable: bool = False
    integer: bool = False
    envvar: str | None = None  # read when the option is not given, as typer does for the other commands

    @property
    def dest(self) -> str:
        return self.long.removeprefix("--").replace("-", "_")


OPTIONS: tuple[Opt, ...] = (
    Opt("--file", "Decode this log (candump .log, .asc, .blf, .trc, python-can .csv, SavvyCAN GVRET .csv) "
        "instead of a live bus.", metavar="<file>"),
    Opt("--log-format", "Force the file format [default: detected].", metavar="<format>", choices=LOG_FORMATS),
    Opt("--realtime", "Replay a file at its recorded pace [default: as fast as possible]."),
    Opt("--interface", "python-can interface of a live bus [default: can.interface].", short="-i",
        metavar="<name>"),
    Opt("--channel", "Channel of the interface, e.g. can0 [default: can.channel].", metavar="<name>"),
    Opt("--bitrate", "Bitrate in bit/s [default: can.bitrate].", metavar="<int>", integer=True),
    Opt("--option", "Extra python-can interface argument (repeatable).", metavar="KEY=VALUE", repeatable=True),
    Opt("--config", "Config file for the [can] defaults, instead of the default location.", short="-c",
        metavar="<file>", envvar="EVSCREEN_CONFIG"),
    Opt("--dbc", "DBC file [default: the vehicle's, else can.dbc, else evscreen's own].", metavar="<file>"),
    Opt("--vehicle", "Decode with this vehicle profile's DBC (`evscreen vehicles` lists them) "
        "[default: vehicle.name].", metavar="<name>"),
    Opt("--format", "table (default on a terminal), line (one per frame, default otherwise) or jsonl.",
        metavar="<format>", choices=FORMATS),
    Opt("--no-choices", "Numbers instead of value-table names."),
    Opt("--diag", "Diagnostics instead of DBC signals: reassemble ISO-TP on 0x700-0x7FF and 0x18DA/0x18DB, one "
        "entry per OBD-II/UDS message, decoded (see docs/diagnostics.md)."),
    Opt("--output", "Also save every frame read to this file: .log, .log.gz, .blf, .asc, .trc or .csv (the "
        "ending picks the format).", short="-o", metavar="<file>"),
    Opt("--count", "Stop after this many frames shown.", short="-n", metavar="<int>", integer=True),
    Opt("--id", "Only these IDs: a list (0x542,0x595) or id:mask (0x500:0x700); repeatable.", metavar="<ids>",
        repeatable=True),
    Opt("--message", "Only messages with this name, or matching this regex; repeatable.", short="-m",
        metavar="<name>", repeatable=True),
    Opt("--bus", "Only this bus of a multi-bus log (0, 1, can1...).", short="-b", metavar="<bus>"),
)


@dataclass
class DumpOptions:
    """How the dump shows the frames that pass the filters (the filters themselves live in the Tally)."""

    fmt: str = "line"
    choices: bool = True
    realtime: bool = False
    count: int | None = None
    output: str | None = None  # --output: every frame read is also saved there


def parse_args(argv: list[str]) -> Any:
    """The options of ``argv`` as an argparse namespace (attributes named by :attr:`Opt.dest`).

    Raises UsageError for anything argparse rejects; ``--help`` is the CLI's (see the module doc).
    """
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> Any:  # argparse would print usage and exit; we raise
            raise UsageError(f"{message} (see `evscreen can-dump --help`)")

    parser = Parser(prog="evscreen can-dump", add_help=False, allow_abbrev=False)
    for opt in OPTIONS:
        names = [opt.long] + ([opt.short] if opt.short else [])
        if opt.metavar is None:
            parser.add_argument(*names, dest=opt.dest, action="store_true")
        else:
            parser.add_argument(*names, dest=opt.dest, action="append" if opt.repeatable else "store",
                                default=[] if opt.repeatable else None, type=int if opt.integer else str,
                                choices=opt.choices, metavar=opt.metavar)
    args = parser.parse_args(argv)
    for opt in OPTIONS:
        if opt.envvar and getattr(args, opt.dest) is None:
            setattr(args, opt.dest, os.environ.get(opt.envvar) or None)
    if args.count is not None and args.count < 1:
        raise UsageError(f"--count: must be at least 1, got {args.count}")
    return args


def click_options() -> list[Any]:
    """The options as click parameters, for ``--help`` and introspection only (argparse parses)."""
    import click

    params = []
    for opt in OPTIONS:
        names = [opt.long] + ([opt.short] if opt.short else [])
        if opt.metavar is None:
            params.append(click.Option([*names, opt.dest], is_flag=True, help=opt.help))
        else:
            params.append(click.Option([*names, opt.dest], multiple=opt.repeatable, help=opt.help,
                                       metavar=opt.metavar if not opt.choices else f"[{'|'.join(opt.choices)}]"))
    return params


def parse_option_pairs(pairs: Iterable[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--option: expected KEY=VALUE, got {pair!r}")
        out[key.strip()] = value.strip()
    return out
