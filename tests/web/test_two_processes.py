"""A served app and writers in other processes, on one DuckDB file (real processes)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from salespulse.auth.users import Users
from salespulse.warehouse.access import BUSY_MESSAGE
from salespulse.warehouse.store import connect

pytestmark = pytest.mark.slow
CLI = [str(Path(sys.executable).parent / "salespulse")]
#: The served app's API token (set by the ``served`` fixture; every page needs a login).
AUTH: dict[str, str] = {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "300", **env},
    )


@pytest.fixture
def served(demo_db: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``salespulse serve`` on a private copy of the demo database, in its own process."""
    db = str(tmp_path / "served.duckdb")
    shutil.copy(demo_db, db)
    store = connect(db, read_only=False)
    try:
        users = Users(store)
        users.add("tester", "a-long-password", "admin")
        AUTH["Authorization"] = f"Bearer {users.create_token('tester', 'tests')[1]}"
    finally:
        store.close()
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*CLI, "serve", "--db", db, "--port", str(port)], stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        yield url, db
    finally:
        proc.terminate()
        proc.wait(30)


def won(url: str) -> tuple[float, str]:
    r = httpx.get(f"{url}/api/pages/home", timeout=120, headers=AUTH)
    assert r.status_code == 200, r.text
    data = r.json()
    value = next(c for c in data["cards"] if c["id"] == "won_revenue")["value"]
    return float(value), data["data_version"]


def test_import_while_serving_and_new_figures_right_after(served: tuple[str, str]) -> None:
    url, db = served
    before, v1 = won(url)
    info = cli("info", "--db", db)  # a reader beside the server
    assert info.returncode == 0, info.stderr
    shown = cli("kpi", "show", "won_deals", "--db", db)
    assert shown.returncode == 0, shown.stderr

    writer = subprocess.Popen(
        [*CLI, "generate", "--db", db, "--seed", "11", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    health: list[float] = []
    cached: list[int] = []
    while writer.poll() is None:
        t0 = time.perf_counter()
        r = httpx.get(f"{url}/api/health", timeout=10)
        health.append(time.perf_counter() - t0)
        assert r.status_code == 200
        cached.append(httpx.get(f"{url}/api/pages/home", timeout=60, headers=AUTH).status_code)
        time.sleep(0.05)
    _out, err = writer.communicate()
    assert writer.returncode == 0, err
    assert "Could not set lock" not in err

    after, v2 = won(url)  # the very next request sees the committed data
    assert v2 != v1
    assert after != before
    assert health and max(health) < 2.0
    assert set(cached) == {200}  # pages computed before the write kept answering


def test_a_held_database_is_one_clear_line_at_the_cli(served: tuple[str, str]) -> None:
    url, db = served
    won(url)  # computed now, served from the cache below
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom salespulse.warehouse.store import connect\n"
            f"s = connect({db!r})\nprint('holding', flush=True)\ntime.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        for args in (("info",), ("kpi", "show", "won_deals"), ("generate", "--quiet")):
            r = cli(*args, "--db", db, SALESPULSE_LOCK_WAIT="0.5")
            assert r.returncode == 2, (args, r.stdout, r.stderr)
            lines = [x for x in r.stderr.splitlines() if x.startswith("Error:")]
            assert lines == [f"Error: {BUSY_MESSAGE}"], r.stderr
            assert "IO Error" not in r.stderr and "Traceback" not in r.stderr
        page = httpx.get(
            f"{url}/api/pages/home", timeout=60, headers=AUTH
        )  # computed before: still served
        assert page.status_code == 200
        cold = httpx.get(f"{url}/api/pages/stages?period=last_fy", timeout=60, headers=AUTH)
        assert cold.status_code == 503 and cold.json()["detail"] == BUSY_MESSAGE
        assert "Retry-After" in cold.headers
    finally:
        holder.terminate()
        holder.wait(30)
        if holder.stdout is not None:
            holder.stdout.close()
    again = httpx.get(f"{url}/api/pages/stages?period=last_fy", timeout=120, headers=AUTH)
    assert again.status_code == 200  # the writer is gone: the server reads again
