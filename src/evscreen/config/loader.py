"""The one config loader: defaults < TOML file < ``EVSCREEN_*`` environment < command-line flags."""

from __future__ import annotations

import dataclasses
import math
import os
import re
import sys
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evscreen.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

from evscreen.config.schema import APP_NAME, CLIENT_ENV_VARS, ENV_PREFIX, Config, KeySpec, key_specs, sections


@dataclass
class LoadedConfig:
    """The effective configuration, where each value came from, and the file that was read."""

    config: Config
    origins: dict[str, str]
    path: Path
    file_found: bool


# --- paths -------------------------------------------------------------------------------------


def default_config_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME))


def log_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_log_dir(APP_NAME))


# --- loading -----------------------------------------------------------------------------------


def load_config(
    path: Path | str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> LoadedConfig:
    """Build the effective configuration from its four layers, validating every value.

    ``path`` None means the default location, where a missing file is fine; a named file must
    exist. ``flags`` maps ``section.key`` to values from the command line (None means not given).
    """
    explicit = path is not None
    cfg_path = Path(path) if path is not None else default_config_path()
    env = os.environ if env is None else env
    specs = {s.path: s for s in key_specs()}
    values: dict[str, Any] = {p: s.default for p, s in specs.items()}
    origins = {p: "default" for p in specs}

    file_found = cfg_path.is_file()
    if explicit and not file_found:
        raise ConfigError(f"{cfg_path}: config file not found "
                          f"(create one with `evscreen config init --path {cfg_path}`)")
    if file_found:
        for p, raw in _read_toml(cfg_path).items():
            values[p] = _check(specs[p], raw, source=str(cfg_path))
            origins[p] = "file"

    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or name in CLIENT_ENV_VARS:
            continue
        p = _env_to_path(name, specs)
        values[p] = _check(specs[p], _parse_env(specs[p], raw, name), source=name)
        origins[p] = "env"

    for p, raw in (flags or {}).items():
        if raw is None:
            continue
        values[p] = _check(specs[p], raw, source="command line")
        origins[p] = "flag"

    config = Config()
    for p, value in values.items():
        section, name = p.split(".", 1)
        setattr(getattr(config, section), name, value)
    return LoadedConfig(config, origins, cfg_path, file_found)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc}") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message already ends with "(at line L, column C)".
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    known = sections()
    flat: dict[str, Any] = {}
    for section, table in doc.items():
        if section not in known:
            raise ConfigError(f"{section}: unknown section in {path} (allowed: {', '.join(known)})")
        if not isinstance(table, dict):
            raise ConfigError(f"{section}: must be a table ([{section}]), got {_show(table)}")
        allowed = [f.name for f in dataclasses.fields(known[section])]
        for name, value in table.items():
            if name not in allowed:
                raise ConfigError(f"{section}.{name}: unknown key (allowed in [{section}]: {', '.join(allowed)})")
            flat[f"{section}.{name}"] = value
    return flat


def _env_to_path(name: str, specs: Mapping[str, KeySpec]) -> str:
    rest = name[len(ENV_PREFIX):]
    if "__" not in rest:
        raise ConfigError(f"{name}: not a config variable (use EVSCREEN_<SECTION>__<KEY>, e.g. EVSCREEN_SERVER__PORT)")
    section, _, key_name = rest.partition("__")
    p = f"{section.lower()}.{key_name.lower()}"
    if p not in specs:
        raise ConfigError(f"{name}: no config key {p} (see `evscreen config show`)")
    return p


def _base_type(tp: Any) -> tuple[Any, bool]:
    """(the type without Optional, whether None is allowed)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0], True
    return tp, False


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _parse_env(spec: KeySpec, raw: str, name: str) -> Any:
    """Turn an environment string into the key's type; the value check follows."""
    tp, optional = _base_type(spec.type)
    text = raw.strip()
    if optional and text == "":
        return None
    try:
        if tp is bool:
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError
        if tp is int:
            return int(text, 0)
        if tp is float:
            return float(text)
        if typing.get_origin(tp) is list:
            return [item.strip() for item in text.split(",") if item.strip()]
        if typing.get_origin(tp) is dict:
            raise ConfigError(f"{name}: {spec.path} is a table; set it in the config file, not the environment")
    except ValueError:
        raise ConfigError(f"{name}: must be {_describe(spec)}, got {raw!r}") from None
    return text


def _check(spec: KeySpec, value: Any, *, source: str) -> Any:
    """Return ``value`` if it is allowed for ``spec``, else raise a ConfigError naming the key."""
    tp, optional = _base_type(spec.type)
    where = f"{spec.path}: " if source != spec.env_var else f"{spec.env_var} ({spec.path}): "

    def fail(why: str) -> typing.NoReturn:
        origin = f" (from {source})" if source != "command line" else ""
        raise ConfigError(f"{where}{why}, got {_show(value)}{origin}")

    if value is None or (optional and value == ""):
        if optional:
            return None
        fail(f"must be {_describe(spec)}")
    if tp is bool:
        if not isinstance(value, bool):
            fail("must be true or false")
    elif tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            fail(f"must be {_describe(spec)}")
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            fail(f"must be {_describe(spec)}")
        value = float(value)
    elif tp is str:
        if not isinstance(value, str):
            fail(f"must be {_describe(spec)}")
        if "\x00" in value:
            fail("must not contain NUL characters")
    elif typing.get_origin(tp) is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            fail("must be a list of strings")
        return list(value)
    elif typing.get_origin(tp) is dict:
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            fail("must be a table of strings")
        return dict(value)
    if spec.choices is not None and value not in spec.choices:
        fail(f"must be one of {', '.join(_show(c) for c in spec.choices)}")
    if spec.min is not None and value < spec.min:
        fail(f"must be {_describe(spec)}")
    if spec.max is not None and value > spec.max:
        fail(f"must be {_describe(spec)}")
    if spec.pattern is not None and not re.fullmatch(spec.pattern, value):
        fail(f"must match {spec.pattern}")
    return value


def _describe(spec: KeySpec) -> str:
    tp, optional = _base_type(spec.type)
    if spec.choices is not None:
        text = "one of " + ", ".join(_show(c) for c in spec.choices)
    else:
        noun = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(tp, "a value")
        lo = _num(spec.min)
        hi = _num(spec.max)
        if lo is not None and hi is not None:
            text = f"{noun} from {lo} to {hi}"
        elif lo is not None:
            text = f"{noun} of at least {lo}"
        else:
            text = noun
    return text + (" (or empty)" if optional else "")


def _num(x: float | None) -> str | None:
    if x is None:
        return None
    return str(int(x)) if float(x).is_integer() else str(x)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value) if len(value) <= 60 else repr(value[:57] + "...")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return str(value)


# --- showing and writing -----------------------------------------------------------------------


def display_value(spec: KeySpec, value: Any) -> str:
    """A value as ``config show`` prints it, secrets masked."""
    if spec.secret and value:
        return "********"
    return toml_value(value)


#: What a TOML basic string cannot hold as is: the quote, the backslash and the control
#: characters. Lone surrogates (only undecodable bytes in the environment make them) are not
#: Unicode scalar values, so no TOML holds them: they are shown escaped all the same.
_TOML_UNSAFE = re.compile(r'["\\\x00-\x1f\x7f\ud800-\udfff]')
_TOML_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _toml_escape(match: re.Match[str]) -> str:
    char = match.group()
    return _TOML_ESCAPES.get(char) or f"\\u{ord(char):04X}"


def toml_value(value: Any) -> str:
    """``value`` as TOML source that reads back as the same value (the config file's syntax)."""
    if value is None:
        return '""'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + _TOML_UNSAFE.sub(_toml_escape, value) + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_value(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def default_config_text() -> str:
    """A commented config file holding every key at its default, every line commented out."""
    lines = [
        "# evscreen configuration.",
        "# Precedence: defaults < this file < EVSCREEN_<SECTION>__<KEY> environment < command-line flags.",
        "# Every key below is commented out at its default; uncomment and change what you need.",
    ]
    current = None
    for spec in key_specs():
        if spec.section != current:
            current = spec.section
            doc = (sections()[current].__doc__ or "").strip()
            lines += ["", f"[{current}]", f"# {doc}"]
        lines.append(f"# {spec.help}")
        lines.append(f"#{spec.name} = {toml_value(spec.default)}")
    return "\n".join(lines) + "\n"


def secrets_readable_by_others(loaded: LoadedConfig) -> bool:
    """True when the config file holds a secret and users other than its owner can read it."""
    if not loaded.file_found or os.name != "posix":
        return False
    holds_secret = any(s.secret and loaded.origins[s.path] == "file" for s in key_specs())
    return holds_secret and bool(loaded.path.stat().st_mode & 0o077)
