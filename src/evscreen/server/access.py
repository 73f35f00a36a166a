"""Who may connect: the token, the bind address rule, browser origins (pure, no sockets)."""

from __future__ import annotations

import hmac
import ipaddress
import os
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from evscreen.config import ServerConfig
from evscreen.errors import ConfigError

TOKEN_HELP = (
    "set a token: `evscreen config init` and set server.token (or server.token_file), or export "
    "EVSCREEN_SERVER__TOKEN=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')"
)


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_token(config: ServerConfig) -> str | None:
    """The token from ``server.token`` or the first line of ``server.token_file``."""
    if config.token and config.token_file:
        raise ConfigError("server.token and server.token_file are both set; keep one")
    if config.token_file:
        path = Path(config.token_file).expanduser()
        try:
            token = path.read_text(encoding="utf-8").splitlines()[0].strip() if path.stat().st_size else ""
        except (OSError, UnicodeDecodeError, IndexError) as exc:
            why = getattr(exc, "strerror", None) or exc
            raise ConfigError(f"server.token_file: cannot read {path}: {why}") from None
        if not token:
            raise ConfigError(f"server.token_file: {path} is empty")
        if os.name == "posix" and path.stat().st_mode & 0o077:
            import logging

            logging.getLogger(__name__).warning("token file %s can be read by other users; chmod 600 it", path)
        return token
    return config.token or None


def check_bind(config: ServerConfig, token: str | None) -> str | None:
    """Refuse a non-loopback address without a token; return a warning when that is overridden."""
    if token is not None or is_loopback(config.host):
        return None
    if not config.insecure_no_auth:
        raise ConfigError(
            f"server.host: {config.host!r} is reachable from the network, but no token is set, so anyone on "
            f"the car's network could change its settings; {TOKEN_HELP} (or pass --insecure-no-auth)"
        )
    return f"serving {config.host} WITHOUT authentication (--insecure-no-auth): anyone on the network can send commands"


def presented_token(authorization: str | None, path: str) -> str | None:
    """The token a client presented: ``Authorization: Bearer T`` first, else ``?token=T``."""
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    values = parse_qs(urlsplit(path).query).get("token")
    return values[0] if values else None


def token_matches(expected: str, presented: str | None) -> bool:
    """Constant-time comparison (the time taken does not depend on how much of the token matched)."""
    given = (presented or "").encode("utf-8", "surrogateescape")
    return hmac.compare_digest(expected.encode("utf-8"), given) and presented is not None


def origin_allowed(origin: str | None, host_header: str | None, allowed: list[str]) -> bool:
    """Native clients send no Origin; browsers may connect from the same origin or an allowed one."""
    if origin is None:
        return True
    normalized = origin.rstrip("/").lower()
    if normalized in (o.rstrip("/").lower() for o in allowed):
        return True
    if host_header:
        netloc = urlsplit(normalized).netloc
        return netloc == host_header.lower()
    return False
