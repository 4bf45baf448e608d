"""Responses rendered once per data version, like the page data they show.

Serving an already-computed page still costs Python time on every request: chart specs, the
template, the JSON encoding (5–20 ms of the server's own process per request, which under
load is most of its work). So the finished bytes are kept in the page cache under the same
data version, keyed on everything they depend on — route, query string, language, the
viewer's role and access scope (:func:`salespulse.services.access.scope`), whether the
request has a session. The only per-user parts of a page, the user's name and the session's
CSRF token, are rendered as random marks and filled in for each request.
"""

from __future__ import annotations

import dataclasses
import html
import secrets
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel

from salespulse.services import access
from salespulse.services.service import Service

#: Stand-ins rendered instead of the user's name and CSRF token (new for every process).
USER_MARK = f"sp-user-{secrets.token_hex(12)}"
CSRF_MARK = f"sp-csrf-{secrets.token_hex(12)}"


def _key(kind: str, request: Request, service: Service, *extra: Any) -> tuple[Any, ...]:
    p = service.principal
    return (
        kind,
        request.url.path,
        str(request.url.query),
        p.role if p else None,
        access.scope(p),
        *extra,
    )


def page(
    request: Request, service: Service, lang: str, render: Callable[[], HTMLResponse]
) -> Response:
    """The HTML ``render()`` makes, rendered once per data version and viewer kind."""
    state = request.state
    principal, csrf = getattr(state, "principal", None), getattr(state, "csrf", None)
    key = _key("html", request, service, lang, bool(csrf))
    body = service.cache.peek(key)
    version = service.cache.current_version  # what the data rendered below is at least
    if body is None:
        state.principal = dataclasses.replace(principal, username=USER_MARK) if principal else None
        state.csrf = CSRF_MARK if csrf else None
        try:
            response = render()
        finally:
            state.principal, state.csrf = principal, csrf
        if response.status_code != 200:
            return _filled(bytes(response.body), principal, csrf, response.status_code)
        body = bytes(response.body)
        service.cache.put(key, body, version)
    return _filled(body, principal, csrf)


def _filled(body: bytes, principal: Any, csrf: str | None, status: int = 200) -> HTMLResponse:
    if principal is not None:
        body = body.replace(USER_MARK.encode(), html.escape(principal.username).encode())
    if csrf:
        body = body.replace(CSRF_MARK.encode(), html.escape(csrf).encode())
    return HTMLResponse(body, status_code=status)


def data(request: Request, service: Service, make: Callable[[], BaseModel]) -> Response:
    """The JSON of the model ``make()`` returns, encoded once per data version and scope."""
    key = _key("json", request, service)
    body = service.cache.peek(key)
    version = service.cache.current_version
    if body is None:
        body = bytes(JSONResponse(make().model_dump(mode="json")).body)
        service.cache.put(key, body, version)
    return Response(body, media_type="application/json")
