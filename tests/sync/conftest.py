"""Fixtures for the live-sync tests: fake APIs, a sleep that records instead of waiting, and a
local HTTP server that puts a fake API behind a real socket (for the CLI)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.sync.fake_hubspot import FakeHubSpot, portal


class Sleeps(list[float]):
    """Records the waits the client asked for (so tests never really sleep)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def hs() -> FakeHubSpot:
    return portal()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "sync.duckdb"


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[httpx.Request], httpx.Response]], str]]:
    """Start a local HTTP server answering with ``handler``; returns its base URL."""
    servers: list[ThreadingHTTPServer] = []

    def start(handler: Callable[[httpx.Request], httpx.Response]) -> str:
        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                host = f"http://{self.headers.get('Host')}"
                req = httpx.Request(
                    self.command, host + self.path, headers=dict(self.headers), content=body
                )
                try:
                    resp = handler(req)
                except httpx.TransportError:
                    self.close_connection = True
                    return
                content = resp.read()
                self.send_response(resp.status_code)
                for k, v in resp.headers.items():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PATCH = do_DELETE = _any

            def log_message(self, format: str, *args: object) -> None:
                return None

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()
