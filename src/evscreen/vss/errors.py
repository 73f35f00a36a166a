"""VISS v2 error statuses and the exception that becomes an error message (pure).

The numbers and reasons are the VISS v2 transport specification's table; ``message`` says what
exactly was wrong (the specification allows, and clients need, more than its generic sentence).
"""

from __future__ import annotations

from typing import Any

BAD_REQUEST = (400, "bad_request")
INVALID_DATA = (400, "invalid_data")
INVALID_TOKEN = (401, "invalid_token")
MISSING_TOKEN = (401, "missing_token")
FORBIDDEN = (403, "forbidden_request")
NOT_FOUND = (404, "unavailable_data")
INTERNAL_ERROR = (500, "internal_error")
UNAVAILABLE = (503, "service_unavailable")


class VissError(Exception):
    """A request that cannot be carried out, with what is known of it (to echo in the error)."""

    def __init__(self, status: tuple[int, str], message: str, action: str | None = None,
                 request_id: str | None = None) -> None:
        super().__init__(message)
        self.number, self.reason = status
        self.action = action
        self.request_id = request_id

    def error_object(self) -> dict[str, Any]:
        return {"number": self.number, "reason": self.reason, "message": str(self)}

    def response(self, ts: str) -> dict[str, Any]:
        """The error response: ``action`` and ``requestId`` when the request had readable ones."""
        message: dict[str, Any] = {}
        if self.action is not None:
            message["action"] = self.action
        if self.request_id is not None:
            message["requestId"] = self.request_id
        message["error"] = self.error_object()
        message["ts"] = ts
        return message
