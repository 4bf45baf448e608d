"""The FastAPI application: ``create_app(db)``; ``salespulse serve`` runs it with uvicorn."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
import plotly
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp

from salespulse import __version__, i18n
from salespulse.auth.users import Users
from salespulse.errors import UserError
from salespulse.services.service import Service
from salespulse.settings import Settings, load_settings
from salespulse.warehouse.access import Busy, DatabaseBusy
from salespulse.warehouse.shared import open_served
from salespulse.warehouse.store import Store
from salespulse.web import api, auth, forecast, scoring, security, views
from salespulse.web import report as report_views

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
PLOTLY_JS = Path(plotly.__file__).parent / "package_data"

#: Threads for synchronous routes (most wait on the KPI pool, see services/cache.py).
REQUEST_THREADS = 200


class App(FastAPI):
    """FastAPI with this app's outermost layers around its whole middleware stack
    (:func:`salespulse.web.security.outermost`): the security headers — on every response,
    the server's own error pages included — and ``GET /api/health``, answered before any
    routing, dependency or middleware of FastAPI's (docs/serving.md, "Staying up under load")."""

    def build_middleware_stack(self) -> ASGIApp:
        cache = self.state.service.cache
        return security.outermost(super().build_middleware_stack(), cache.peek_version)


def create_app(
    db: str | Path | Store | None = None,
    settings: Settings | None = None,
    warm: bool = True,
    workers: int = 0,
) -> FastAPI:
    """The app over database ``db`` (a path/URL, an open store, or the workspace default).

    With ``warm``, the default view of every page is computed in the background at start-up
    and again after every change of the data (an import, a sync).
    ``workers``: compute pages in that many worker processes (services/workers.py), so this
    process only answers requests; 0 computes on threads of this process (an in-memory
    database, which other processes cannot open).
    """
    store = db if isinstance(db, Store) else open_served(db)
    if workers and store.location == ":memory:":
        raise UserError("an in-memory database cannot be served by worker processes")
    service = Service(store, settings or load_settings(store=store), workers=workers)
    service.cache.version()
    users = Users(store)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # requests waiting for a cold page block a thread each: let cheap routes keep theirs
        anyio.to_thread.current_default_thread_limiter().total_tokens = REQUEST_THREADS
        sys.setswitchinterval(0.001)  # the event loop (health, static) gets the GIL sooner
        stop = threading.Event()
        if warm:
            threading.Thread(
                target=service.keep_warm, args=(stop,), name="warm-cache", daemon=True
            ).start()
        yield
        stop.set()
        service.close()

    app = App(
        title="salespulse",
        version=__version__,
        description="Sales KPIs for B2B sales teams. Every page's data is available as JSON "
        "under /api/pages/…; every KPI under /api/kpis/….",
        lifespan=lifespan,
        dependencies=[Depends(auth.csrf_guard)],
        docs_url=None,
        redoc_url=None,
    )
    security.install_docs(app)
    app.state.service = service
    app.state.users = users
    app.mount("/static/plotly", StaticFiles(directory=PLOTLY_JS), name="plotly")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(auth.router)
    app.include_router(api.router)
    app.include_router(forecast.api)
    app.include_router(views.router)
    app.include_router(report_views.router)
    app.include_router(forecast.pages)
    app.include_router(scoring.api)
    app.include_router(scoring.pages)

    @app.exception_handler(Busy)
    @app.exception_handler(DatabaseBusy)
    async def busy(request: Request, exc: Busy | DatabaseBusy) -> Response:
        headers = {"Retry-After": str(exc.retry_after)}
        if request.url.path.startswith("/api/"):
            body = {"detail": exc.message, "hint": exc.hint}
            return JSONResponse(body, status_code=503, headers=headers)
        lang = i18n.pick_lang(
            request.query_params.get("lang"), request.headers.get("accept-language")
        )
        ctx = views._ctx(request, lang, "error", message=exc.message, hint=exc.hint)
        return views.templates.TemplateResponse(
            request, "error.html", ctx, status_code=503, headers=headers
        )

    @app.exception_handler(UserError)
    async def user_error(request: Request, exc: UserError) -> Response:
        status = 404 if exc.message.startswith("unknown KPI") else 400
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": exc.message, "hint": exc.hint}, status_code=status)
        lang = i18n.pick_lang(
            request.query_params.get("lang"), request.headers.get("accept-language")
        )
        ctx = views._ctx(request, lang, "error", message=exc.message, hint=exc.hint)
        return views.templates.TemplateResponse(request, "error.html", ctx, status_code=status)

    @app.exception_handler(auth.NotLoggedIn)
    async def not_logged_in(request: Request, exc: auth.NotLoggedIn) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse(
                {"detail": "log in first", "hint": "send Authorization: Bearer <token>"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return RedirectResponse(auth.login_redirect(request), status_code=303)

    @app.exception_handler(auth.Forbidden)
    async def forbidden(request: Request, exc: auth.Forbidden) -> Response:
        return JSONResponse(
            {"detail": "forbidden for your role or without a valid CSRF token"}, 403
        )

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response((STATIC / "favicon.svg").read_bytes(), media_type="image/svg+xml")

    return app


__all__ = ["HTMLResponse", "create_app"]
