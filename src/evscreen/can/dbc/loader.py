"""Load DBC files the way real ones are: leniently, with a warning for each repair.

cantools' parser is strict. Real files (like the community Kona ``pcan.dbc``) often lack the
``BS_:``/``BU_:`` lines, carry ``VAL_`` tables for signals that no longer exist, assign attributes
that were never defined, or have overlapping signals. Those files are still usable, so we repair
them in memory — keeping every line where it was, so that errors still point at the right line —
and warn. A file that is truly broken stops with a :class:`~evscreen.errors.DbcError` naming the
file and the line.

A loaded DBC is cached (spec + compiled code, with :mod:`marshal`) under the user cache directory,
keyed by the file's content, so the next run decodes without importing cantools at all.
"""

from __future__ import annotations

import hashlib
import logging
import marshal
import os
import re
import sys
from pathlib import Path
from typing import Any

from evscreen.can.dbc import PROJECT_DBC
from evscreen.can.dbc.decoder import DbcDecoder, compile_spec
from evscreen.can.dbc.spec import SPEC_VERSION, DbcSpec, spec_from_cantools
from evscreen.errors import DbcError

log = logging.getLogger(__name__)

MAX_DBC_BYTES = 64 * 1024 * 1024
_MAX_REPAIRS = 50

_UNUSED_VAL = re.compile(r"^\s*VAL_\s+(\d+)\s+(\w+)\s*$")
_SECTION_START = re.compile(r"^(BU_|BO_|BO_TX_BU_|CM_|BA_DEF_|BA_|VAL_TABLE_|VAL_|SIG_|EV_|SG_MUL_VAL_)\b", re.M)


def read_dbc_text(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_DBC_BYTES:
            raise DbcError(f"{path}: {size} bytes is too large for a DBC file")
        raw = path.read_bytes()
    except IsADirectoryError:
        raise DbcError(f"{path}: is a directory, not a DBC file") from None
    except FileNotFoundError:
        raise DbcError(f"{path}: DBC file not found") from None
    except OSError as exc:
        raise DbcError(f"{path}: cannot read DBC file: {exc.strerror or exc}") from None
    if b"\x00" in raw[:4096]:
        raise DbcError(f"{path}:1: not a DBC file (binary data)")
    for encoding in ("utf-8", "cp1252"):  # Vector tools write cp1252
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            pass
    return raw.decode("latin-1")


def parse_dbc(text: str, name: str = "<dbc>") -> tuple[Any, list[str]]:
    """Parse DBC text with cantools, repairing what real files get wrong. Returns (database, warnings)."""
    import cantools
    from cantools.database.errors import Error as CantoolsError

    warnings: list[str] = []
    text = _add_missing_sections(text, name, warnings)
    strict = True
    for _ in range(_MAX_REPAIRS):
        try:
            db = cantools.database.load_string(text, database_format="dbc", strict=strict)
        except CantoolsError as exc:
            parse_error = getattr(exc, "e_dbc", None) or exc
            message = str(parse_error)
            repaired = _repair(text, message, name, warnings)
            if repaired is not None:
                text = repaired
                continue
            if strict and _is_layout_error(message):
                warnings.append(f"{name}: {message}; loaded without cantools' strict signal checks")
                strict = False
                continue
            raise DbcError(_describe(parse_error, name)) from None
        except (KeyError, ValueError, TypeError, IndexError, AttributeError) as exc:
            # cantools turns a few semantic problems into bare exceptions.
            raise DbcError(f"{name}: cannot load DBC: {type(exc).__name__}: {exc}") from None
        if not db.messages:
            raise DbcError(f"{name}: defines no messages (BO_ lines); is it a DBC file?")
        return db, warnings
    raise DbcError(f"{name}: too many problems to repair")


def _add_missing_sections(text: str, name: str, warnings: list[str]) -> str:
    has_bs = re.search(r"^\s*BS_\s*:", text, re.M) is not None
    has_bu = re.search(r"^\s*BU_\s*:", text, re.M) is not None
    if has_bs and has_bu:
        return text
    match = _SECTION_START.search(text)
    if match is None:
        return text  # nothing that looks like a DBC body: let the parser say so
    missing = [n for n, present in (("BS_:", has_bs), ("BU_:", has_bu)) if not present]
    warnings.append(f"{name}: no {' or '.join(missing)} line; assumed empty")
    # On the same line as the next section, so line numbers in later errors stay right.
    return text[: match.start()] + " ".join(missing) + " " + text[match.start():]


def _repair(text: str, message: str, name: str, warnings: list[str]) -> str | None:
    """Remove what cantools rejects but a usable file may contain; None if nothing applies."""
    if message.startswith("unused VAL_ entries"):
        targets = []
        for line in message.splitlines()[1:]:
            m = _UNUSED_VAL.match(line)
            if m:
                targets.append((m.group(1), m.group(2)))
        if not targets:
            return None
        lines = text.split("\n")
        dropped = 0
        for i, line in enumerate(lines):
            m = re.match(r"\s*VAL_\s+(\d+)\s+(\w+)\s", line)
            if m and (m.group(1), m.group(2)) in targets:
                lines[i] = ""
                dropped += 1
                warnings.append(f"{name}:{i + 1}: VAL_ for unknown signal {m.group(1)} {m.group(2)} ignored")
        return "\n".join(lines) if dropped else None
    m = re.fullmatch(r"'([^']+)'", message.strip())
    if m:
        # A BA_ assigning an attribute that no BA_DEF_ defines: cantools fails with a KeyError.
        attribute = m.group(1)
        pattern = re.compile(r'^\s*BA_\s+"' + re.escape(attribute) + r'"')
        lines = text.split("\n")
        hits = [i for i, line in enumerate(lines) if pattern.match(line)]
        if not hits:
            return None
        for i in hits:
            lines[i] = ""
        warnings.append(f"{name}:{hits[0] + 1}: attribute {attribute!r} is used but never defined (BA_DEF_);"
                        f" {len(hits)} assignment(s) ignored")
        return "\n".join(lines)
    return None


def _is_layout_error(message: str) -> bool:
    return any(k in message for k in ("overlap", "does not fit", "must be", "Duplicate", "exceeds"))


def _describe(error: Any, name: str) -> str:
    line = getattr(error, "line", None)
    text = str(error).strip().strip('"')
    if line:
        return f"{name}:{line}: {text}"
    m = re.search(r"at line (\d+)", text)
    if m:
        return f"{name}:{m.group(1)}: {text}"
    return f"{name}: {text}"


# --- cache ------------------------------------------------------------------------------------


def _cache_dir() -> Path | None:
    try:
        import platformdirs

        return Path(platformdirs.user_cache_dir("evscreen")) / "dbc"
    except Exception:  # no cache is fine
        return None


def _cache_key(raw_text: str) -> str:
    h = hashlib.sha256()
    h.update(f"{SPEC_VERSION}|{sys.implementation.cache_tag}|{sys.version_info[:2]}|".encode())
    h.update(raw_text.encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:32]


def _cache_read(path: Path) -> tuple[DbcSpec, Any, list[str]] | None:
    try:
        with path.open("rb") as f:
            version, spec, code, warnings = marshal.load(f)
        if version != SPEC_VERSION:
            return None
        return spec, code, list(warnings)
    except (OSError, EOFError, ValueError, TypeError):
        return None


def _cache_write(path: Path, spec: DbcSpec, code: Any, warnings: list[str]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        with tmp.open("wb") as f:
            marshal.dump((SPEC_VERSION, spec, code, warnings), f)
        os.replace(tmp, path)
    except (OSError, ValueError) as exc:  # read-only file system, full disk: just slower next time
        log.debug("cannot cache compiled DBC at %s: %s", path, exc)


def load_decoder(path: str | Path | None = None, *, cache: bool = True, quiet: bool = False) -> DbcDecoder:
    """Load a DBC (default: evscreen's own) and compile it. Warnings are logged and kept on the decoder.

    ``quiet`` logs the repairs at debug level: for the DBCs shipped with evscreen, kept as their
    authors published them, whose repairs are no news to the user.
    """
    dbc_path = Path(path) if path is not None else PROJECT_DBC
    name = str(dbc_path)
    level = logging.DEBUG if quiet else logging.WARNING
    text = read_dbc_text(dbc_path)
    cache_file = None
    if cache:
        directory = _cache_dir()
        cache_file = None if directory is None else directory / f"{_cache_key(text)}.marshal"
        hit = None if cache_file is None else _cache_read(cache_file)
        if hit is not None:
            spec, code, warnings = hit
            warnings = [w.replace("\x00", name) for w in warnings]
            for w in warnings:
                log.log(level, "%s", w)
            return DbcDecoder(spec, code, name=name, warnings=warnings)
    db, warnings = parse_dbc(text, name)
    for w in warnings:
        log.log(level, "%s", w)
    spec = spec_from_cantools(db)
    try:
        code = compile_spec(spec, f"<dbc {dbc_path.name}>")
    except (SyntaxError, ValueError, RecursionError) as exc:
        raise DbcError(f"{name}: cannot compile decoder: {exc}") from None
    if cache_file is not None:
        # The same content may live under another name next time: store warnings name-free.
        _cache_write(cache_file, spec, code, [w.replace(name, "\x00") for w in warnings])
    return DbcDecoder(spec, code, name=name, warnings=warnings)


def load_database(path: str | Path | None = None) -> tuple[Any, list[str]]:
    """The cantools database itself (for encoding, e.g. by the simulated vehicle), leniently loaded."""
    dbc_path = Path(path) if path is not None else PROJECT_DBC
    return parse_dbc(read_dbc_text(dbc_path), str(dbc_path))
