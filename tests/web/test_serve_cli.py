"""``salespulse serve`` / ``demo``: a busy port is one line and exit 2; a public address warns."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from salespulse.cli.serve import check_address
from salespulse.errors import UserError

ROOT = Path(__file__).resolve().parents[2]


def _busy() -> tuple[socket.socket, int]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s, s.getsockname()[1]


@pytest.mark.parametrize("command", ["serve", "demo"])
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
