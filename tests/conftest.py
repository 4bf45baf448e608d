"""Shared fixtures: temporary workspaces and a real PostgreSQL server."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from salespulse.warehouse.store import Store, connect
from tests.pg import PgServer

_db_names = itertools.count()


@pytest.fixture(autouse=True)
def _isolated_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty workspace; nothing touches ~/.salespulse."""
    home = tmp_path / "workspace"
    monkeypatch.setenv("SALESPULSE_HOME", str(home))
    monkeypatch.delenv("SALESPULSE_DB", raising=False)
    return home


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = PgServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """URL of a fresh, empty PostgreSQL database on the private test server."""
    return pg_server.createdb(f"t{next(_db_names)}")


@pytest.fixture
def duckdb_store(tmp_path: Path) -> Iterator[Store]:
    store = connect(tmp_path / "test.duckdb")
    yield store
    store.close()


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty canonical store, once on DuckDB and once on a real PostgreSQL server."""
    if request.param == "duckdb":
        s = connect(tmp_path / "test.duckdb")
    else:
        s = connect(request.getfixturevalue("pg_url"))
    yield s
    s.close()
