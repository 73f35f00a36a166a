"""The persisted settings store: the screen's settings and the media volume, surviving restarts.

Written atomically (temporary file, fsync, rename), so a crash or power cut mid-write leaves
either the old file or the new one, never a torn one. Writes happen on a writer thread, so a burst
of changes never blocks the event loop on fsync; bursts coalesce into one write of the latest
values. A file that cannot be read is moved aside with a warning and defaults are used: a corrupt
file must never stop the car's screen.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evscreen.protocol import DEFAULT_SETTINGS, SETTING_CHECKS

log = logging.getLogger(__name__)

Listener = Callable[[str, Any], None]


class SettingsStore:
    """Current settings, loaded from and saved to one JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._values = dict(DEFAULT_SETTINGS)
        self._listeners: list[Listener] = []
        self._dirty = False
        self._writing = False
        self._cond = threading.Condition()
        self._writer: threading.Thread | None = None
        self._load()

    @property
    def values(self) -> dict[str, Any]:
        """The live settings mapping (read it, do not change it: use :meth:`set`)."""
        return self._values

    def get(self, name: str) -> Any:
        return self._values[name]

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(name, value)`` after every change."""
        self._listeners.append(listener)

    def set(self, name: str, value: Any) -> None:
        """Validate, apply and persist one setting. Raises ValueError for a value out of its domain."""
        if name not in DEFAULT_SETTINGS:
            raise KeyError(name)
        value = SETTING_CHECKS[name](value)
        if self._values.get(name) == value and type(self._values.get(name)) is type(value):
            return
        self._values[name] = value
        self._schedule_save()
        for listener in self._listeners:
            try:
                listener(name, value)
            except Exception:  # a broken listener must not undo a saved setting
                log.exception("settings listener failed for %s", name)

    def _load(self) -> None:
        # Temporary files of writes that a power cut interrupted: the rename never happened.
        for leftover in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            try:
                leftover.unlink()
            except OSError:
                pass
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("cannot read settings %s (%s); using defaults", self.path, exc)
            return
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except (ValueError, UnicodeDecodeError) as exc:
            corrupt = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
            aside: Path | None = corrupt  # None when it could not be moved
            try:
                os.replace(self.path, corrupt)
            except OSError:
                aside = None
            log.warning(
                "settings file %s is corrupt (%s); moved aside to %s, using defaults", self.path, exc, aside
            )
            return
        for name, value in data.items():
            if name not in DEFAULT_SETTINGS:
                log.warning("settings file %s: ignoring unknown setting %r", self.path, name)
                continue
            try:
                self._values[name] = SETTING_CHECKS[name](value)
            except ValueError as exc:
                log.warning("settings file %s: %s; using the default %r", self.path, exc, DEFAULT_SETTINGS[name])

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every change so far is on disk. Returns False if that took over ``timeout``."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._dirty and not self._writing, timeout)

    def _schedule_save(self) -> None:
        with self._cond:
            self._dirty = True
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_loop, name="settings-writer", daemon=True)
                self._writer.start()
            self._cond.notify_all()

    def _write_loop(self) -> None:
        # One long-lived writer: threads started per burst of changes would each leave glibc a
        # malloc arena behind, which shows as resident memory creeping up over weeks.
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._dirty)
                self._dirty = False
                self._writing = True
                data = json.dumps(self._values, indent=2, sort_keys=True).encode() + b"\n"
            try:
                atomic_write(self.path, data)
            except OSError as exc:
                log.error("cannot save settings to %s: %s", self.path, exc)
            finally:
                with self._cond:
                    self._writing = False
                    self._cond.notify_all()


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new content, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if os.name == "posix":  # make the rename itself durable
        try:
            dir_fd = os.open(path.parent, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
