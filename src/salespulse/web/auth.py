"""Login, logout, sessions, API tokens and CSRF for the web app.

* A browser logs in at ``/login`` (POST: user name, password); the server keeps the session
  (``sessions`` table) and sets the cookie ``salespulse_session`` — HttpOnly, SameSite=Lax,
  Secure when the request came over https.
* A program sends ``Authorization: Bearer <token>`` (``salespulse users token create``).
* Every state-changing request (POST/PUT/PATCH/DELETE) made with a session cookie must carry
  the session's CSRF token (form field ``csrf`` or header ``X-CSRF-Token``); the login form
  uses a double-submit cookie. Bearer requests need none (browsers never add that header).
* Without a login, pages redirect to ``/login`` and ``/api`` answers 401; a role that may
  not use a route gets 403. Public: ``/login``, ``/static``, ``/docs``, ``/openapi.json``,
  ``/api/health``.
"""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import parse_qs, quote, urlparse

import anyio.to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from salespulse import i18n
from salespulse.auth.users import LockedOut, User, Users
from salespulse.services.access import Principal

COOKIE = "salespulse_session"
LOGIN_COOKIE = "salespulse_login"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

router = APIRouter(include_in_schema=False)


class NotLoggedIn(Exception):
    """The request has no valid session or token."""


class Forbidden(Exception):
    """The principal's role may not do this."""


def principal_of(user: User) -> Principal:
    return Principal(user.username, user.role, user.rep_id, user.team_ids)


def users(request: Request) -> Users:
    return request.app.state.users


def _client(request: Request) -> str:
    return request.client.host if request.client else ""


def identify(request: Request) -> Principal | None:
    """The principal of the request's Bearer token or session cookie (cached per request)."""
    if hasattr(request.state, "principal"):
        return request.state.principal
    principal, csrf = None, None
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        user = users(request).token_user(header[7:].strip())
        principal = principal_of(user) if user else None
    elif secret := request.cookies.get(COOKIE):
        found = users(request).session(secret)
        if found:
            principal, csrf = principal_of(found[0]), found[1]
    request.state.principal, request.state.csrf = principal, csrf
    return principal


def get_principal(request: Request) -> Principal:
    """The logged-in principal (``NotLoggedIn`` otherwise)."""
    p = identify(request)
    if p is None:
        raise NotLoggedIn()
    return p


def require_admin(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if not principal.is_admin:
        raise Forbidden()
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]
AdminDep = Annotated[Principal, Depends(require_admin)]


async def form(request: Request) -> dict[str, str]:
    """An url-encoded form body as a dict (first value per field)."""
    body = (await request.body()).decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


async def csrf_guard(request: Request) -> None:
    """App-wide dependency: state-changing requests with a cookie carry its CSRF token."""
    if request.method not in UNSAFE:
        return
    if request.headers.get("authorization", "").lower().startswith("bearer "):
        return
    sent = request.headers.get("x-csrf-token") or (await form(request)).get("csrf", "")
    if request.url.path == "/login":
        expected = request.cookies.get(LOGIN_COOKIE)
    else:
        identify(request)
        expected = getattr(request.state, "csrf", None)
    if not expected or not sent or not secrets.compare_digest(sent, expected):
        raise Forbidden()


def _safe_next(target: str | None) -> str:
    """Only local paths after a login (no open redirect to another site)."""
    if not target:
        return "/"
    u = urlparse(target)
    if u.scheme or u.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


LOGIN_HTML = """<!doctype html>
<html lang="{lang}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · salespulse</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/app.css"></head>
<body data-page="login" data-lang="{lang}">
<main class="login">
<form class="panel login" method="post" action="/login" id="login">
  <h1><span class="logo">◔</span> {title}</h1>
  {error}
  <input type="hidden" name="csrf" value="{csrf}">
  <input type="hidden" name="next" value="{next}">
  <label>{username} <input name="username" id="username" autocomplete="username" required></label>
  <label>{password} <input type="password" name="password" id="password"
    autocomplete="current-password" required></label>
  <button type="submit" class="primary">{submit}</button>
</form>
</main>
</body>
</html>
"""


def _login_page(request: Request, error: str = "", status: int = 200) -> Response:
    from markupsafe import escape

    lang = i18n.pick_lang(request.query_params.get("lang"), request.headers.get("accept-language"))
    token = secrets.token_urlsafe(32)
    html = LOGIN_HTML.format(
        lang=lang,
        title=i18n.t("login.title", lang),
        error=f'<p class="note error" id="login-error">{escape(error)}</p>' if error else "",
        csrf=token,
        next=escape(_safe_next(request.query_params.get("next"))),
        username=i18n.t("login.username", lang),
        password=i18n.t("login.password", lang),
        submit=i18n.t("login.submit", lang),
    )
    response = HTMLResponse(html, status_code=status)
    response.set_cookie(
        LOGIN_COOKIE, token, httponly=True, samesite="lax", secure=_https(request), path="/login"
    )
    return response


def _https(request: Request) -> bool:
    return request.url.scheme == "https"


@router.get("/login")
def login_form(request: Request) -> Response:
    return _login_page(request)


def _log_in(request: Request, username: str, password: str) -> tuple[User | None, str | None]:
    """The user and a new session's secret (None, None: wrong password). The argon2 check
    (about 50 ms of CPU) and the database writes: on a worker thread, never on the loop."""
    user = users(request).authenticate(username, password, _client(request))
    if user is None:
        return None, None
    return user, users(request).start_session(user)[0]


@router.post("/login")
async def login(request: Request) -> Response:
    data = await form(request)
    lang = i18n.pick_lang(request.query_params.get("lang"), request.headers.get("accept-language"))
    try:
        user, secret = await anyio.to_thread.run_sync(
            _log_in, request, data.get("username", ""), data.get("password", "")
        )
    except LockedOut as exc:
        return _login_page(request, exc.message, 429)
    if user is None or secret is None:
        return _login_page(request, i18n.t("login.failed", lang), 401)
    response = RedirectResponse(_safe_next(data.get("next")), status_code=303)
    response.set_cookie(
        COOKIE,
        secret,
        httponly=True,
        samesite="lax",
        secure=_https(request),
        max_age=12 * 3600,
        path="/",
    )
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, principal: PrincipalDep) -> Response:
    from salespulse.auth import audit

    secret = request.cookies.get(COOKIE)
    if secret:
        users(request).end_session(secret)
    audit.record(users(request).store, "logout", actor=principal.username, ip=_client(request))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def login_redirect(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login?next=" + quote(target, safe="")
