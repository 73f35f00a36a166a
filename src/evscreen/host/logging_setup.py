"""Logging for the long-running server: readable lines on stderr, optionally a rotated file.

Under systemd (``JOURNAL_STREAM`` set) stderr lines carry no timestamp of their own (journald
adds one) and start with the ``<N>`` syslog priority prefix, so the journal records their level.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

from evscreen.errors import ConfigError

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
JOURNAL_FORMAT = "%(name)s: %(message)s"

#: syslog priorities (sd-daemon.h): 3 err, 4 warning, 6 info, 7 debug; 2 crit.
_PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7}


class JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        priority = _PRIORITY.get(record.levelno, 6 if record.levelno < logging.WARNING else 3)
        text = super().format(record)
        # Every line of a traceback gets the prefix, or journald would log them at the default level.
        return "\n".join(f"<{priority}>{line}" for line in text.splitlines())


def under_journald() -> bool:
    return bool(os.environ.get("JOURNAL_STREAM"))


def configure_logging(level: str = "info", file: str | None = None) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(level.upper())
    readable = logging.Formatter(FORMAT, datefmt="%Y-%m-%d %H:%M:%S")
    console = logging.StreamHandler()
    console.setFormatter(JournalFormatter(JOURNAL_FORMAT) if under_journald() else readable)
    root.addHandler(console)
    if file:
        path = Path(file).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            rotating = logging.handlers.RotatingFileHandler(path, maxBytes=5_000_000, backupCount=3,
                                                            encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"logging.file: cannot open {path}: {exc.strerror or exc}") from None
        rotating.setFormatter(readable)
        root.addHandler(rotating)
    # websockets logs every failed handshake (port scanners, health checks) at INFO.
    logging.getLogger("websockets").setLevel(max(root.level, logging.WARNING))
