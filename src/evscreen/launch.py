"""The ``evscreen`` entry point.

``evscreen can-dump`` goes straight to :mod:`evscreen.tools.can_dump` without loading the typer
CLI: typer (with click and pydantic) takes longer to import than decoding a whole log takes, and
can-dump is a pipeline tool whose start-up time users feel. Every other command — and can-dump
after a global option such as ``--debug``, or asking for ``--help`` — goes through
:func:`evscreen.cli.main`.
"""

from __future__ import annotations

import sys


def main() -> None:
    args = sys.argv[1:]
    # --help is the CLI's, so that can-dump's help looks like every other command's.
    if args[:1] == ["can-dump"] and not {"-h", "--help"} & set(args):
        from evscreen.errors import EvscreenError
        from evscreen.tools.can_dump.command import main as can_dump_main

        try:
            code = can_dump_main(args[1:])
        except EvscreenError as exc:
            from evscreen.tools.terminal import report_error

            code = report_error(exc)
        sys.exit(code)
    from evscreen.cli import main as cli_main

    cli_main()
