"""One small demo database and one app per test session (generated once, fixed seed/date)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from salespulse.settings import Settings

SEED, TODAY = 7, date(2026, 6, 30)
# tests check figures, not patience: on a loaded machine a cold page may take over 25 s
os.environ.setdefault("SALESPULSE_PAGE_WAIT", "600")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    from salespulse.demo import generate
    from salespulse.warehouse.store import connect

    path = tmp_path_factory.mktemp("web") / "demo.duckdb"
    store = connect(path)
    generate(store, SEED, "demo", TODAY)
    store.close()
    return str(path)


#: One user per role in every test app: (username, password, role, rep_id, team_ids).
USERS = {
    "admin": ("admin", "admin-password", "admin", None, ()),
    "manager": ("manager", "manager-password", "manager", None, ("T01",)),
    "boss": ("boss", "boss-password", "manager", None, ()),
    "rep": ("rep", "rep-password-1", "rep", "R00006", ()),
}


def add_users(app: FastAPI) -> dict[str, str]:
    """The test users of :data:`USERS` in ``app``'s database; returns an API token per user."""
    users = app.state.users
    tokens = {}
    for key, (name, password, role, rep_id, teams) in USERS.items():
        if users.get(name) is None:
            users.add(name, password, role, rep_id, teams)
        tokens[key] = users.create_token(name, "tests")[1]
    return tokens


def login_cookie(app: FastAPI, who: str = "admin") -> str:
    """A fresh session secret for test user ``who`` (the cookie a login sets)."""
    users = app.state.users
    return str(users.start_session(users.get(USERS[who][0]))[0])


@pytest.fixture(scope="session")
def app(demo_db: str) -> FastAPI:
    from salespulse.web.app import create_app

    # pages computed in worker processes, as `salespulse serve` does
    app = create_app(demo_db, Settings(), warm=False, workers=2)
    app.state.test_tokens = add_users(app)
    return app


def make_client(app: FastAPI, who: str | None = "admin") -> TestClient:
    """A test client acting as test user ``who`` (an API token), or anonymous (None)."""
    c = TestClient(app, follow_redirects=False)
    if who:
        c.headers["Authorization"] = f"Bearer {app.state.test_tokens[who]}"
    return c


@pytest.fixture(scope="session")
def client(app: FastAPI) -> Iterator[TestClient]:
    """Logged in as the admin (who sees everything)."""
    with make_client(app) as c:
        c.follow_redirects = True
        yield c


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """``app`` served by uvicorn on a free local port (in a thread); yields its base URL."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def live_url(app: FastAPI) -> Iterator[str]:
    with serving(app) as url:
        yield url


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's Chromium with the flags that work on these machines (never a download)."""
    import asyncio

    from playwright.sync_api import sync_playwright

    # a sync fixture runs in no event loop; a loop some library left marked as running in
    # this thread would make Playwright's sync API refuse to start
    asyncio.events._set_running_loop(None)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def browser_page(
    chromium: Any, app: FastAPI, base: str, who: str | None = "admin", **context_options: Any
) -> Any:
    """A new Chromium page, logged in to ``app`` at ``base`` as test user ``who``."""
    options = {"accept_downloads": True, "viewport": {"width": 1280, "height": 900}}
    context = chromium.new_context(**{**options, **context_options})
    if who:
        from salespulse.web.auth import COOKIE

        context.add_cookies([{"name": COOKIE, "value": login_cookie(app, who), "url": base}])
    pg = context.new_page()
    pg.set_default_timeout(120_000)
    return pg


@pytest.fixture
def page(chromium: Any, app: FastAPI, live_url: str) -> Iterator[Any]:
    """A Chromium page logged in (as the admin) to the demo app at ``live_url``."""
    pg = browser_page(chromium, app, live_url)
    yield pg
    pg.context.close()


@pytest.fixture(scope="session")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


def app_routes(app: FastAPI) -> list[tuple[str, APIRoute]]:
    """``(full path, route)`` of every API route of ``app``, those of included routers too
    (FastAPI ≥ 0.16x keeps included routers as branches of ``app.routes``)."""
    out: list[tuple[str, APIRoute]] = []

    def walk(routes: list[Any]) -> None:
        for r in routes:
            if isinstance(r, APIRoute):
                out.append((r.path, r))
            elif hasattr(r, "effective_candidates"):
                walk(r.effective_candidates())
            elif isinstance(getattr(r, "original_route", None), APIRoute):
                out.append((r.path, r.original_route))

    walk(list(app.routes))
    return out
