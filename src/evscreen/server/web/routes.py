"""The HTTP routes on the WebSocket port: the dashboard's files and ``/healthz``.

Plain GETs reach these handlers before (and instead of) the WebSocket checks, so the static page
loads without the token; the page then presents the token on its own WebSocket URL, where the
server checks it like any other client's.
"""

from __future__ import annotations

import email.utils
import json
import logging
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from evscreen import __version__
from evscreen.server.web.assets import Asset, etag_matches, load_assets
from evscreen.server.web.health import health_report, mqtt_health

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection

    from evscreen.app import Runtime

log = logging.getLogger(__name__)

#: The page only talks to the server it came from, runs only its own script, and may not be framed
#: by another site (it can change the car's settings).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
COMMON_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    # The page's URL may carry ?token=...: never send it to anyone as a Referer.
    ("Referrer-Policy", "no-referrer"),
)

Handler = Callable[["ServerConnection", Request], Response]


def response(status: HTTPStatus, body: bytes, headers: list[tuple[str, str]]) -> Response:
    all_headers = Headers([("Date", email.utils.formatdate(usegmt=True)), ("Connection", "close")])
    for name, value in (*COMMON_HEADERS, *headers):
        all_headers[name] = value
    if status is not HTTPStatus.NOT_MODIFIED:
        all_headers["Content-Length"] = str(len(body))
    return Response(status.value, status.phrase, all_headers, body)


class WebRoutes:
    """The dashboard and health handlers of one running server."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.assets = load_assets()
        self.started = time.monotonic()

    def routes(self) -> dict[str, Handler]:
        table: dict[str, Handler] = {"/healthz": self.health}
        for path, asset in self.assets.items():
            table[path] = self._asset_handler(asset)
        return table

    def _asset_handler(self, asset: Asset) -> Handler:
        def serve_asset(connection: ServerConnection, request: Request) -> Response:
            headers = [("Content-Type", asset.content_type), ("ETag", asset.etag),
                       # Revalidate every time (cheap: a 304), so an upgraded evscreen is seen at once.
                       ("Cache-Control", "no-cache")]
            if asset.name.endswith(".html"):
                headers += [("Content-Security-Policy", CONTENT_SECURITY_POLICY), ("X-Frame-Options", "DENY")]
            if etag_matches(request.headers.get("If-None-Match"), asset.etag):
                return response(HTTPStatus.NOT_MODIFIED, b"", headers)
            return response(HTTPStatus.OK, asset.body, headers)

        return serve_asset

    def health_body(self) -> tuple[HTTPStatus, dict[str, Any]]:
        rt = self.runtime
        return health_report(
            version=__version__,
            uptime_s=time.monotonic() - self.started,
            clients=rt.server.connections,
            sources=rt.state.describe_sources(),
            mqtt=mqtt_health(rt),
            token_required=rt.server.token is not None,
            commands=rt.dispatcher.counts,
        )

    def health(self, connection: ServerConnection, request: Request) -> Response:
        try:
            status, body = self.health_body()
            text = json.dumps(body, separators=(",", ":"), allow_nan=False, default=str)
        except Exception:  # a monitor must get an answer, and the server must keep serving
            log.exception("building /healthz failed")
            status = HTTPStatus.INTERNAL_SERVER_ERROR
            text = json.dumps({"status": "error", "version": __version__, "problems": ["see the server's log"]})
        return response(status, text.encode() + b"\n",
                        [("Content-Type", "application/json"), ("Cache-Control", "no-store")])


def install(runtime: Runtime) -> WebRoutes:
    """Serve the dashboard and /healthz on ``runtime``'s WebSocket port."""
    web = WebRoutes(runtime)
    runtime.server.http_routes.update(web.routes())
    return web
