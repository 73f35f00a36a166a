"""The dashboard's static files, read once from the package and served from memory."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

#: URL path -> file in ``static/``. Only these are served: nothing is looked up from a request path.
FILES: dict[str, str] = {
    "/": "index.html",
    "/app.js": "app.js",
    "/style.css": "style.css",
    "/icon.svg": "icon.svg",
    "/history.js": "history.js",  # the History sheet: the journal's trips and charges
    "/history.css": "history.css",
}

CONTENT_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True)
class Asset:
    name: str
    body: bytes
    content_type: str
    etag: str  # a strong validator: the content's hash, so an upgraded package is fetched again


def load_assets() -> dict[str, Asset]:
    """Every served file, by URL path."""
    folder = resources.files("evscreen.server.web") / "static"
    assets = {}
    for path, name in FILES.items():
        body = (folder / name).read_bytes()
        suffix = name[name.rfind("."):]
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        assets[path] = Asset(name, body, CONTENT_TYPES[suffix], etag)
    return assets


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (or ``*``); weak forms compare equal too."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False
