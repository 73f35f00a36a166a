"""Every exception evscreen raises on purpose, rooted at :class:`EvscreenError`.

::

    EvscreenError
    ├── ConfigError            invalid configuration (names the key); exit code 2
    ├── UsageError             a command-line argument that cannot be used; exit code 2
    ├── DbcError               a DBC file that cannot be loaded (names file and line)
    ├── LogFormatError         a CAN log file that cannot be read
    ├── SourceUnavailable      a hardware source that cannot run here (library, device, bus)
    ├── CommandFailed          a valid command that could not be carried out (has an error code)
    ├── ServerUnreachable      a client tool could not reach a running server; exit code 3
    └── AccessDenied           a running server refused a client tool (token, origin); exit code 3

The CLI turns any of these into one short red line; tracebacks only with ``--debug``.
"""

from __future__ import annotations


class EvscreenError(Exception):
    """Base class of every error evscreen raises on purpose."""

    exit_code = 1


class ConfigError(EvscreenError):
    """The configuration is invalid. The message names the key, the value and what is allowed."""

    exit_code = 2


class UsageError(EvscreenError):
    """A command-line argument is invalid."""

    exit_code = 2


class DbcError(EvscreenError):
    """A DBC file cannot be loaded."""

    exit_code = 2


class LogFormatError(EvscreenError):
    """A CAN log file is missing, unreadable or in no format we know."""

    exit_code = 2


class SourceUnavailable(EvscreenError):
    """A hardware source cannot run on this machine (missing library, device or bus).

    ``cause``, when given, is a short key saying why (``"permission"``, ``"no_pin"``...) that
    ``evscreen probe`` turns into advice.
    """

    def __init__(self, message: str, cause: str | None = None) -> None:
        super().__init__(message)
        self.cause = cause


class CommandFailed(EvscreenError):
    """A well-formed command that could not be carried out.

    ``code`` is one of the protocol's error codes (``unavailable``, ``invalid_value``...).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class ServerUnreachable(EvscreenError):
    """A client command (``send``, ``watch``) could not connect to the server.

    Exit code 3, not 2: a script can tell "the server is down" from "my arguments are wrong"."""

    exit_code = 3


class AccessDenied(EvscreenError):
    """A client command reached the server but was refused (missing or wrong token)."""

    exit_code = 3
