"""``GET /api/trips``, ``/api/trips.csv``, ``/api/charges``, ``/api/charges.csv``: the journal over HTTP.

The same token rule as the WebSocket (``Authorization: Bearer TOKEN`` or ``?token=TOKEN`` when the
server has a token): the journal says where the car has been. Query parameters ``since``
(``YYYY-MM-DD[THH:MM]``, the server's local time unless a zone is given) and ``limit`` (1-1000000,
default 1000) work as ``evscreen trips --since/--limit`` do; a bad one is a 400 with a JSON
``{"error": ...}`` naming it. The rows are exactly those of ``evscreen trips --json`` / ``--csv``.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from websockets.http11 import Request, Response

from evscreen.journal.export import (
    DEFAULT_LIMIT,
    parse_limit,
    parse_since,
    to_csv,
    to_json,
)
from evscreen.journal.store import JournalError
from evscreen.server.access import presented_token, token_matches
from evscreen.server.web.routes import Handler, response

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection

    from evscreen.app import Runtime

log = logging.getLogger(__name__)

JSON_TYPE = "application/json"
CSV_TYPE = "text/csv; charset=utf-8"


def _error(status: HTTPStatus, message: str) -> Response:
    body = json.dumps({"error": message}).encode() + b"\n"
    headers = [("Content-Type", JSON_TYPE), ("Cache-Control", "no-store")]
    if status is HTTPStatus.UNAUTHORIZED:
        headers.append(("WWW-Authenticate", 'Bearer realm="evscreen"'))
    return response(status, body, headers)


def journal_routes(runtime: Runtime) -> dict[str, Handler]:
    routes: dict[str, Handler] = {}
    for kind in ("trips", "charges"):
        routes[f"/api/{kind}"] = _handler(runtime, kind, csv=False)
        routes[f"/api/{kind}.csv"] = _handler(runtime, kind, csv=True)
    return routes


def _handler(runtime: Runtime, kind: str, *, csv: bool) -> Handler:
    def serve(connection: ServerConnection, request: Request) -> Response:
        token = runtime.server.token
        if token is not None and not token_matches(token, presented_token(request.headers.get("Authorization"),
                                                                          request.path)):
            return _error(HTTPStatus.UNAUTHORIZED, "missing or wrong token: send 'Authorization: Bearer TOKEN' "
                                                   "or add ?token=TOKEN to the URL")
        journal = runtime.journal
        if journal is None or journal.store is None:
            return _error(HTTPStatus.NOT_FOUND, "the journal is off on this server (journal.enabled = false)")
        try:
            since, limit = _query(request.path)
        except ValueError as exc:
            return _error(HTTPStatus.BAD_REQUEST, str(exc))
        try:
            store = journal.store
            records: list[Any] = (store.trips(since=since, limit=limit) if kind == "trips"
                                  else store.charges(since=since, limit=limit))
        except JournalError as exc:
            log.error("%s", exc)
            return _error(HTTPStatus.INTERNAL_SERVER_ERROR, "the journal cannot be read; see the server's log")
        if csv:
            return response(HTTPStatus.OK, to_csv(kind, records).encode(),
                            [("Content-Type", CSV_TYPE), ("Cache-Control", "no-store"),
                             ("Content-Disposition", f'attachment; filename="{kind}.csv"')])
        return response(HTTPStatus.OK, to_json(records).encode() + b"\n",
                        [("Content-Type", JSON_TYPE), ("Cache-Control", "no-store")])

    return serve


def _query(path: str) -> tuple[float | None, int]:
    query = parse_qs(urlsplit(path).query, keep_blank_values=True)
    since = limit = None
    if "since" in query:
        try:
            since = parse_since(query["since"][0])
        except ValueError as exc:
            raise ValueError(f"since: {exc}") from None
    if "limit" in query:
        try:
            limit = parse_limit(query["limit"][0])
        except ValueError as exc:
            raise ValueError(f"limit: {exc}") from None
    return since, DEFAULT_LIMIT if limit is None else limit
