"""HTTP hardening: security headers on every response, hostile parameters refused early,
``/api/health`` answered before the app's routing, and the API docs (Swagger UI) served
from the installed ``swagger-ui-py`` package, not a CDN.

The Content-Security-Policy allows scripts only from this server's ``/static`` files (no
inline script, no ``eval``), no framing, no plugins; styles may be inline because plotly.js
and Swagger UI set them from script. Parameters with NUL or other control characters are
answered with 400 before any route runs: no engine ever sees them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
#: Control characters (NUL included) are never valid in a path or a parameter value.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def bad_parameter(path: str, query: str) -> str | None:
    """Why a request's path or query string is refused (None: it is fine)."""
    for part, raw in (("path", path), ("query", query)):
        if _CONTROL.search(unquote(raw)):
            return f"the request {part} contains a control character (such as NUL)"
    return None


#: :data:`HEADERS` as ASGI header pairs (lower-case names).
_RAW_HEADERS = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in HEADERS.items()]


class SecurityHeaders:
    """Pure ASGI middleware: :data:`HEADERS` on every HTTP response (a header a route set
    itself is kept), and 400 for control characters in the path or the query string.

    Not a ``BaseHTTPMiddleware`` (``@app.middleware("http")``): that runs every request in a
    task of its own and streams the response through a memory channel; this only adds the
    headers to the ``http.response.start`` message on its way out. Installed outside every
    other layer (:func:`outermost`), so error pages of the server itself (500) have them too.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers += [h for h in _RAW_HEADERS if h[0] not in present]
                message["headers"] = headers
            await send(message)

        reason = bad_parameter(scope["path"], scope.get("query_string", b"").decode("latin-1"))
        if reason:
            refused = JSONResponse({"detail": reason, "hint": "remove it from the URL"}, 400)
            await refused(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)


def outermost(stack: ASGIApp, version: Callable[[], str]) -> ASGIApp:
    """The layers around the app's whole middleware stack, outermost first: the security
    headers (and the control-character check), then ``GET /api/health`` (:class:`Health`)."""
    return SecurityHeaders(Health(stack, version))


class Health:
    """``GET /api/health`` answered before FastAPI's routing, dependencies and middleware.

    The body is the ``/api/health`` route's (:func:`salespulse.web.api.health`, kept for the
    OpenAPI schema): ``{"status": "ok", "data_version": …}``, the version from ``version``,
    which must never wait (no lock, no query, no worker: the page cache's
    :meth:`~salespulse.services.cache.PageCache.peek_version`). Public, like the route (no
    login: :mod:`salespulse.web.auth`). Other methods and paths go on to the app.
    """

    PATH = "/api/health"

    def __init__(self, app: ASGIApp, version: Callable[[], str]) -> None:
        self.app = app
        self.version = version

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.PATH and scope["method"] == "GET":
            body = {"status": "ok", "data_version": self.version()}
            await JSONResponse(body)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def swagger_static() -> Path:
    """Folder of the Swagger UI files inside the installed ``swagger-ui-py`` package."""
    import swagger_ui

    return Path(swagger_ui.__file__).parent / "static"


DOCS_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} · API</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/swagger/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi="{openapi}"></div>
<script src="/static/swagger/swagger-ui-bundle.js"></script>
<script src="/static/docs.js"></script>
</body>
</html>
"""


def install_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI from local files (create the app with ``docs_url=None``)."""
    app.mount("/static/swagger", StaticFiles(directory=swagger_static()), name="swagger")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(DOCS_HTML.format(title=app.title, openapi=app.openapi_url))
