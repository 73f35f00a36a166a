"""``evscreen can-dump ARGS``: options in, frames through the dump, the summary to stderr."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, TextIO

from evscreen.can.logs import LogFrame, open_log
from evscreen.errors import UsageError
from evscreen.tools.can_dump.counting import Tally
from evscreen.tools.can_dump.filters import (
    FrameFilter,
    match_messages,
    parse_id_filters,
)
from evscreen.tools.can_dump.options import DumpOptions, parse_args, parse_option_pairs

#: The exit code when the filters let no frame through (like grep's).
NOTHING_SHOWN = 1


def main(argv: list[str]) -> int:
    """Returns the exit code; errors are EvscreenError subclasses (the caller prints them)."""
    return run_can_dump(parse_args(argv))


def run_dump(frames: Iterable[LogFrame], tally: Tally, opts: DumpOptions, *, title: str, live: bool,
             out: TextIO | None = None) -> None:
    """Feed ``frames`` through the output ``opts`` asks for; the counts end up in ``tally``."""
    writer = None
    if opts.output:
        from evscreen.can.recording import LogWriter, tee

        writer = LogWriter(opts.output)
        frames = tee(frames, writer)
    try:
        if opts.realtime:
            from evscreen.tools.can_dump.sources import paced

            frames = paced(frames)
        if opts.fmt == "table":
            from evscreen.tools.can_dump.table import show_table

            show_table(frames, tally, opts, title, live or opts.realtime)
        else:
            from evscreen.tools.can_dump.lines import write_lines

            write_lines(frames, tally, opts, out or sys.stdout)
    finally:
        if writer is not None:
            writer.close()
            sys.stderr.write(f"saved {writer.frames} frames to {writer.path}\n")


def _log_to_stderr() -> None:
    import logging

    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.WARNING)


def _note(text: str) -> None:
    sys.stderr.write(f"note: {text}\n")


def run_can_dump(args: Any) -> int:
    from evscreen.can.bus import parse_options
    from evscreen.can.dbc.loader import load_decoder

    _log_to_stderr()
    fmt = args.format or ("table" if sys.stdout.isatty() else "line")
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
    flt = FrameFilter(parse_id_filters(args.id), match_messages(decoder, args.message) if args.message else None,
                      args.bus)
    for note in flt.check_against(decoder):
        _note(note)
    opts = DumpOptions(fmt=fmt, choices=not args.no_choices, realtime=args.realtime, count=args.count,
                       output=args.output)
    tally = Tally(decoder, flt, opts.choices)
    corrupt = 0
    source = "the log"
    try:
        if not live:
            reader = open_log(args.file, args.log_format)
            try:
                run_dump(reader, tally, opts, title=f"{args.file} ({reader.format}) — {decoder.name}", live=False)
            finally:
                corrupt = reader.corrupt
        else:
            from evscreen.tools.can_dump.sources import bus_frames, open_live_bus

            assert cfg is not None
            options = parse_options({**cfg.options, **parse_option_pairs(args.option)})
            interface, channel = args.interface or cfg.interface, args.channel or cfg.channel
            source = f"{interface} {channel}"
            bus = open_live_bus(interface, channel, args.bitrate or cfg.bitrate, options)
            try:
                run_dump(bus_frames(bus, channel), tally, opts, title=f"{source} — {decoder.name}", live=True)
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
    notes = tally.nothing_shown(source)
    for note in notes:
        _note(note)
    sys.stderr.write("\n".join(tally.summary(corrupt).lines()) + "\n")
    return NOTHING_SHOWN if notes else 0
