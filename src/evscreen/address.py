"""Network addresses as people and URLs write them (pure)."""

from __future__ import annotations


def host_port(host: str, port: int) -> str:
    """``host:port``, with an IPv6 address in brackets (``[::1]:8765``) as URLs and logs need it."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
