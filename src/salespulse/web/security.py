"""HTTP hardening: security headers on every response, hostile parameters refused early,
and the API docs (Swagger UI) served from the installed ``swagger-ui-py`` package, not a CDN.

The Content-Security-Policy allows scripts only from this server's ``/static`` files (no
inline script, no ``eval``), no framing, no plugins; styles may be inline because plotly.js
and Swagger UI set them from script. Parameters with NUL or other control characters are
answered with 400 before any route runs: no engine ever sees them.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import unquote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

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


def bad_parameter(request: Request) -> str | None:
    """Why the request's path or query string is refused (None: it is fine)."""
    for part, raw in (("path", request.url.path), ("query", request.url.query)):
        if _CONTROL.search(unquote(raw)):
            return f"the request {part} contains a control character (such as NUL)"
    return None


def install_headers(app: FastAPI) -> None:
    """Security headers on every response; refuse control characters in parameters."""

    @app.middleware("http")
    async def harden(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        reason = bad_parameter(request)
        if reason:
            response: Response = JSONResponse(
                {"detail": reason, "hint": "remove it from the URL"}, status_code=400
            )
        else:
            response = await call_next(request)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response


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
