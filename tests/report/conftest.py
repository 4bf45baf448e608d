"""One demo database and one built report (October 2026) per test session."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from email import message_from_bytes, policy
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from salespulse.report.build import Report

SEED, TODAY = 11, date(2026, 11, 30)
MONTH = date(2026, 10, 1)
EMPTY_MONTH = date(2020, 1, 1)


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    from salespulse.demo import generate
    from salespulse.warehouse.store import connect

    path = tmp_path_factory.mktemp("report") / "demo.duckdb"
    store = connect(path)
    generate(store, SEED, "demo", TODAY)
    store.close()
    return str(path)


@pytest.fixture(scope="session")
def built(demo_db: str) -> Iterator[Report]:
    """The company report for October 2026 (built once: it asks every page)."""
    from salespulse.report.build import build
    from salespulse.services.service import Service
    from salespulse.settings import Settings
    from salespulse.warehouse.store import connect

    store = connect(demo_db, create=False)
    yield build(Service(store, Settings()), MONTH)
    store.close()


@dataclass
class Inbox:
    """Messages received by the local SMTP server."""

    host: str
    port: int
    messages: list[tuple[list[str], Message]] = field(default_factory=list)

    def settings_toml(self, **extra: Any) -> str:
        lines = [
            f'smtp_host = "{self.host}"',
            f"smtp_port = {self.port}",
            'smtp_security = "none"',
            'mail_from = "reports@poldermachines.example"',
        ]
        for k, v in extra.items():
            lines.append(f"{k} = {v!r}".replace("'", '"').replace("(", "[").replace(")", "]"))
        return "\n".join(lines) + "\n"


@pytest.fixture
def smtp_server() -> Iterator[Inbox]:
    """A real SMTP server (aiosmtpd) on a free local port, recording what it receives."""
    from aiosmtpd.controller import Controller

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox("127.0.0.1", port)

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            msg = message_from_bytes(envelope.content, policy=policy.default)
            inbox.messages.append((list(envelope.rcpt_tos), msg))
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


def workspace_settings(home: Path, text: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "settings.toml").write_text(text, encoding="utf-8")


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's Chromium with the flags that work on these machines (never a download)."""
    import asyncio

    from playwright.sync_api import sync_playwright

    from salespulse.report.pdf import FLAGS

    # a test before may have left an asyncio loop marked running in this thread (anyio's
    # blocking portal of a TestClient): the sync API refuses to start under it
    asyncio.events._set_running_loop(None)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[f for f in FLAGS if f != "--no-pdf-header-footer"],
        )
        yield browser
        browser.close()
