"""One small demo database and one app per test session (generated once, fixed seed/date)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
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


@pytest.fixture(scope="session")
def app(demo_db: str) -> FastAPI:
    from salespulse.web.app import create_app

    return create_app(demo_db, Settings(), warm=False)


@pytest.fixture(scope="session")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="session")
def live_url(app: FastAPI) -> Iterator[str]:
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


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


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(120_000)
    yield pg
    context.close()


@pytest.fixture(scope="session")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")
