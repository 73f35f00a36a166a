"""The built-in dashboard and the health endpoint, served as plain HTTP on the WebSocket port.

``/`` is a static page (shipped in ``static/``, no build step, nothing fetched from elsewhere) that
connects back to the same port over WebSocket; ``/healthz`` is JSON for monitoring.
"""

from __future__ import annotations

from evscreen.server.web.routes import install

__all__ = ["install"]
