"""Where user text meets rich: the one error line of every command, and text shown as written.

rich reads ``[...]`` in a plain string as markup and drops it, so a path like ``/tmp/[x]/nope.log``
or a message naming ``[server]`` would lose those words. Everything here builds :class:`rich.text.Text`
from the user's (or a file's, or a server's) text, which rich never parses.

rich is imported inside the functions: ``evscreen can-dump`` reaches :func:`report_error` without
the rest of the CLI, and pays for rich only when there is an error to show.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.text import Text

    from evscreen.errors import EvscreenError


def literal(text: object, style: str = "") -> Text:
    """``text`` as a rich renderable that shows every character as written (no markup)."""
    from rich.text import Text

    return Text(str(text), style=style)


def print_error(message: str) -> None:
    """One red ``error:`` line on stderr, the message exactly as written."""
    from rich.console import Console
    from rich.text import Text

    Console(stderr=True, highlight=False, soft_wrap=True).print(Text.assemble(("error:", "bold red"), " ", message))


def report_error(exc: EvscreenError) -> int:
    """The one way a command ends on an :class:`EvscreenError`: its line on stderr; returns its exit code."""
    print_error(str(exc))
    return exc.exit_code
