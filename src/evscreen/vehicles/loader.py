"""Finding and loading vehicle profiles: the built-in ones and the user's own.

Built-in profiles are the ``*.toml`` files in ``evscreen/vehicles/builtin/`` (shipped in the
wheel with their DBCs and licences). User profiles live in the config directory's ``profiles/``
folder (Linux: ``~/.config/evscreen/profiles/NAME.toml``). A user profile with a built-in's name
**overrides** it; one that says ``extends = "NAME"`` in ``[vehicle]`` starts from that profile (a
user profile may extend the built-in of its own name) and changes only what it lists:

- ``[vehicle]`` keys and ``[buses.NAME]`` keys replace the base's, one key at a time;
- ``[signals]`` entries replace the base's one field at a time (``field = ""`` unmaps one);
- ``[[diagnostics.requests]]`` with a base request's name replace it; others are added.

:func:`load_profile` reads, merges and checks the file (:mod:`evscreen.vehicles.profile`);
:func:`can_decoding` turns the configuration (``[vehicle] name``, ``[can] dbc``, ``[can.signals]``)
into the DBC and mapping the CAN source and ``can-dump`` use.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evscreen.errors import ConfigError
from evscreen.vehicles.profile import (
    NAME_PATTERN,
    Profile,
    flatten_signals,
    profile_from_dict,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

if TYPE_CHECKING:
    from evscreen.can.dbc.decoder import DbcDecoder
    from evscreen.can.dbc.mapping import SignalMap, SignalRef
    from evscreen.config import CanConfig, Config

log = logging.getLogger(__name__)

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"
DEFAULT_PROFILE = "evscreen"
MAX_PROFILE_BYTES = 1024 * 1024
_MAX_DEPTH = 8  # profiles extending profiles...


def user_profiles_dir() -> Path:
    import platformdirs

    from evscreen.config import APP_NAME

    return Path(platformdirs.user_config_dir(APP_NAME)) / "profiles"


def builtin_names() -> list[str]:
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.toml"))


def user_names() -> list[str]:
    folder = user_profiles_dir()
    try:
        return sorted(p.stem for p in folder.glob("*.toml") if p.is_file())
    except OSError:
        return []


@dataclass(frozen=True)
class ProfileListing:
    """One row of ``evscreen vehicles``: a profile, or why it cannot be loaded."""

    name: str
    builtin: bool  # a built-in profile of this name exists
    user_path: Path | None  # the user's file of this name, overriding or extending the built-in
    profile: Profile | None
    error: str | None


def list_profiles() -> list[ProfileListing]:
    """Every profile, built-in and user, each loaded and checked (an error is reported, not raised)."""
    builtin = set(builtin_names())
    users = {name: user_profiles_dir() / f"{name}.toml" for name in user_names()}
    out = []
    for name in sorted(builtin | set(users)):
        try:
            profile, error = load_profile(name), None
        except ConfigError as exc:
            profile, error = None, str(exc)
        out.append(ProfileListing(name, name in builtin, users.get(name), profile, error))
    return out


def find_profile(name: str) -> tuple[Path, bool]:
    """(the file of profile ``name``, whether it is the built-in one): the user's first."""
    if not NAME_PATTERN.fullmatch(name):
        raise ConfigError(f"vehicle.name: {name!r} is not a profile name (lower-case letters, digits, '-', '_';"
                          " see `evscreen vehicles`)")
    user = user_profiles_dir() / f"{name}.toml"
    if user.is_file():
        return user, False
    builtin = BUILTIN_DIR / f"{name}.toml"
    if builtin.is_file():
        return builtin, True
    known = sorted(set(builtin_names()) | set(user_names()))
    raise ConfigError(f"vehicle.name: no vehicle profile {name!r} (known: {', '.join(known)}; user profiles go in"
                      f" {user_profiles_dir()})")


def load_profile(name: str) -> Profile:
    """The profile called ``name``, merged with what it extends and checked (not yet against its DBC)."""
    path, builtin = find_profile(name)
    doc = _merged(name, path, builtin, depth=0)
    profile = profile_from_dict(doc, name, path=path, builtin=builtin)
    if not builtin and (BUILTIN_DIR / f"{name}.toml").is_file():
        profile = dataclasses.replace(profile, overrides_builtin=True)
    return profile


def read_profile_file(path: Path) -> dict[str, Any]:
    """A profile file's TOML, or a ConfigError naming the file."""
    try:
        size = path.stat().st_size
        if size > MAX_PROFILE_BYTES:
            raise ConfigError(f"{path}: {size} bytes is too large for a vehicle profile")
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read vehicle profile: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def _merged(name: str, path: Path, builtin: bool, depth: int) -> dict[str, Any]:
    """The file's document with its DBC paths made absolute and what it extends merged beneath it."""
    doc = read_profile_file(path)
    _absolute_dbcs(doc, path)
    vehicle = doc.get("vehicle")
    base_name = vehicle.get("extends") if isinstance(vehicle, dict) else None
    if base_name is None:
        return doc
    if not isinstance(base_name, str) or not NAME_PATTERN.fullmatch(base_name):
        raise ConfigError(f"{path}: vehicle.extends: must name another profile, got {base_name!r}")
    if depth >= _MAX_DEPTH:
        raise ConfigError(f"{path}: vehicle.extends: profiles extend each other more than {_MAX_DEPTH} deep"
                          " (a loop?)")
    if base_name == name:
        if builtin or not (BUILTIN_DIR / f"{name}.toml").is_file():
            raise ConfigError(f"{path}: vehicle.extends: a profile cannot extend itself (only a user profile"
                              " may extend the built-in of its own name)")
        base_path, base_builtin = BUILTIN_DIR / f"{name}.toml", True
    else:
        try:
            base_path, base_builtin = find_profile(base_name)
        except ConfigError:
            raise ConfigError(f"{path}: vehicle.extends: no vehicle profile {base_name!r}") from None
    base = _merged(base_name, base_path, base_builtin, depth + 1)
    return merge_documents(base, doc)


def _absolute_dbcs(doc: dict[str, Any], path: Path) -> None:
    buses = doc.get("buses")
    if not isinstance(buses, dict):
        return
    for bus in buses.values():
        if isinstance(bus, dict) and isinstance(bus.get("dbc"), str) and bus["dbc"].strip():
            dbc = Path(bus["dbc"]).expanduser()
            bus["dbc"] = str(dbc if dbc.is_absolute() else (path.parent / dbc).resolve())


def merge_documents(base: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` over ``base`` (both parsed profiles): the rules in this module's docstring."""
    out = {k: v for k, v in base.items()}
    for section, value in doc.items():
        old = out.get(section)
        if not isinstance(value, dict) or not isinstance(old, dict):
            out[section] = value  # not tables: let the check name what is wrong
        elif section == "vehicle":  # the base's own `extends` is done with; this file's says what it extends
            out[section] = {k: v for k, v in {**old, **value}.items() if k != "extends" or k in value}
        elif section == "buses":
            buses = dict(old)
            for name, spec in value.items():
                prior = buses.get(name)
                buses[name] = {**prior, **spec} if isinstance(prior, dict) and isinstance(spec, dict) else spec
            out[section] = buses
        elif section == "signals":
            out[section] = {**flatten_signals(old), **flatten_signals(value)}
        elif section == "diagnostics":
            out[section] = _merge_diagnostics(old, value)
        else:
            out[section] = value
    return out


def _merge_diagnostics(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    merged = {**old, **new}
    before, after = old.get("requests"), new.get("requests")
    if isinstance(before, list) and isinstance(after, list):
        requests = list(before)
        index = {r.get("name"): i for i, r in enumerate(requests) if isinstance(r, dict)}
        for request in after:
            name = request.get("name") if isinstance(request, dict) else None
            if name is not None and name in index:
                requests[index[name]] = request
            else:
                requests.append(request)
        merged["requests"] = requests
    return merged


# --- what the CAN source decodes with ----------------------------------------------------------


@dataclass(frozen=True)
class CanDecoding:
    """The DBC and the mapping the CAN source reads a bus with, and where they came from."""

    #: The profile, or None for a custom ``[can] dbc`` without one.
    profile: Profile | None
    #: The DBC file (None: evscreen's own).
    dbc: Path | None
    #: ``(where, refs)`` groups: the profile's signals, then ``[can.signals]`` on top; ``where``
    #: names them in errors (``kona.toml: signals``, ``can.signals``).
    groups: tuple[tuple[str, tuple[SignalRef, ...]], ...]

    @property
    def builtin(self) -> bool:
        """The DBC is one shipped with evscreen (its repairs at load are no news to the user)."""
        return self.dbc is not None and shipped(self.dbc)

    @property
    def refs(self) -> list[SignalRef]:
        return [ref for _, refs in self.groups for ref in refs]

    def describe(self) -> str:
        """For the start-up banner: which vehicle, or which custom DBC."""
        if self.profile is not None:
            p = self.profile
            where = "built-in" if p.builtin else str(p.path)
            return f"vehicle {p.id} ({p.name}; {where})"
        return f"custom DBC {self.dbc} with [can.signals] ({len(self.refs)} fields)"

    def signal_map(self, decoder: DbcDecoder) -> SignalMap:
        """The mapping checked against ``decoder`` (each group's errors naming its own keys)."""
        from evscreen.can.dbc.mapping import build_signal_map

        for where, refs in self.groups:
            build_signal_map(list(refs), decoder, where)
        return build_signal_map(self.refs, decoder)


def can_decoding(config: Config, vehicle: str | None = None) -> CanDecoding:
    """The DBC and mapping for ``config`` (``vehicle`` overrides ``[vehicle] name``).

    Which wins: a named profile brings its DBC (``[can] dbc`` is then ignored, with a warning) and its
    mapping; ``[can.signals]`` entries apply on top of that mapping, one field at a time (an empty one
    unmaps a field). With no profile named, ``[can] dbc`` with ``[can.signals]`` is the custom way;
    with neither, the ``evscreen`` profile (evscreen's own DBC) is used.
    """
    from evscreen.can.dbc import PROJECT_DBC
    from evscreen.can.dbc.mapping import parse_mapping

    can: CanConfig = config.can
    name = vehicle or config.vehicle.name
    custom_dbc = can.dbc is not None and not _same_file(can.dbc, PROJECT_DBC)
    if name is None and custom_dbc:
        refs = tuple(parse_mapping({k: v for k, v in can.signals.items() if v.strip()}))
        return CanDecoding(None, Path(can.dbc), (("can.signals", refs),))  # type: ignore[arg-type]
    profile = load_profile(name or DEFAULT_PROFILE)
    if name is not None and custom_dbc:
        log.warning("can.dbc (%s) is ignored: vehicle %s brings its own DBC", can.dbc, profile.id)
    dbc = profile.dbc_path()
    if dbc is None:
        raise ConfigError(f"{profile.path}: buses.{profile.primary.name}: has no dbc, so the CAN source cannot"
                          " decode it")
    overrides = set(can.signals)
    own = tuple(s.ref for s in profile.signals if s.field not in overrides)
    extra = tuple(parse_mapping({k: v for k, v in can.signals.items() if v.strip()}))
    groups = ((f"{profile.path}: signals", own),) + ((("can.signals", extra),) if extra else ())
    return CanDecoding(profile, Path(dbc), groups)


def dbc_for_dump(dbc: str | None, vehicle: str | None, config: Config | None) -> tuple[str | None, bool]:
    """The DBC ``can-dump`` decodes with, and whether it is a built-in one (its repairs logged quietly):
    ``--dbc``, else ``--vehicle``'s, else ``[vehicle] name``'s, else ``[can] dbc``, else evscreen's own."""
    from evscreen.errors import UsageError

    if dbc is not None and vehicle is not None:
        raise UsageError("--dbc and --vehicle both name the DBC: give one")
    if dbc is not None:
        return dbc, False
    name = vehicle or (config.vehicle.name if config is not None else None)
    if name is None:
        return (config.can.dbc if config is not None else None), False
    profile = load_profile(name)
    path = profile.dbc_path()
    if path is None:
        raise ConfigError(f"{profile.path}: buses.{profile.primary.name}: has no dbc to decode with")
    return str(path), shipped(path)


def shipped(dbc: Any) -> bool:
    """``dbc`` is a DBC shipped with evscreen (a built-in profile's, or evscreen's own)."""
    from evscreen.can.dbc import PROJECT_DBC

    path = Path(dbc).resolve()
    return path.is_relative_to(BUILTIN_DIR) or path == Path(PROJECT_DBC).resolve()


def _same_file(a: str, b: Path) -> bool:
    try:
        return Path(a).resolve() == b.resolve()
    except OSError:
        return False
