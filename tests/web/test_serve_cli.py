"""``salespulse serve`` / ``demo``: a busy port is one line and exit 2; a public address warns;
the server freezes its start-up objects out of garbage collection."""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from salespulse.cli import serve
from salespulse.cli.serve import check_address
from salespulse.errors import UserError

ROOT = Path(__file__).resolve().parents[2]


def _busy() -> tuple[socket.socket, int]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s, s.getsockname()[1]


@pytest.mark.parametrize("command", ["serve", "demo"])
@pytest.mark.slow
def test_busy_port_is_one_line_and_exit_2(demo_db: str, command: str) -> None:
    sock, port = _busy()
    args = [sys.executable, "-m", "salespulse.cli.app", command, "--port", str(port)]
    with sock:
        r = subprocess.run(
            [*args, "--db", demo_db],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "COLUMNS": "200"},
        )
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in lines[0]
    assert "--port" in lines[0]
    assert "serves" not in r.stdout and "Traceback" not in r.stderr


def test_busy_port_in_process() -> None:
    sock, port = _busy()
    with sock, pytest.raises(UserError, match="already in use"):
        check_address("127.0.0.1", port)


def test_public_address_warns(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    check_address("127.0.0.1", port)
    assert "Warning" not in capsys.readouterr().err
    check_address("0.0.0.0", port)
    err = capsys.readouterr().err
    assert "Warning" in err and "0.0.0.0" in err and "every machine" in err


def test_make_demo_takes_port() -> None:
    r = subprocess.run(
        ["make", "-n", "demo", "PORT=8123"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "salespulse demo --port 8123" in r.stdout


def test_server_freezes_startup_objects_before_serving(
    demo_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What start-up built is out of the collector's reach before the first request: a full
    collection of it stopped the server for 150-230 ms (docs/benchmarks.md)."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    seen: dict[str, int] = {}

    def run(app: object, **kwargs: object) -> None:  # instead of serving: look, then return
        seen["frozen"] = gc.get_freeze_count()
        seen["tracked"] = len(gc.get_objects())

    gc.unfreeze()
    monkeypatch.setattr(uvicorn, "run", run)
    try:
        serve.run_server(demo_db, "127.0.0.1", port, workers=0)
    finally:
        gc.unfreeze()
    # this test process has imported the whole app: far more long-lived objects than a
    # fresh server has left to collect
    assert seen["frozen"] > 100_000
    assert seen["tracked"] < seen["frozen"] / 10
