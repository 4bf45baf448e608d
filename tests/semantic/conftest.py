"""Fixtures: the hand-made tiny data set on DuckDB and on a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from salespulse.semantic.query import Query, run
from salespulse.warehouse.store import Store, connect
from tests.semantic import tiny

AS_OF = date(2024, 6, 30)


@pytest.fixture(
    scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def tiny_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    """The tiny data set (see tests/semantic/tiny.py), once per engine."""
    if request.param == "duckdb":
        store = connect(Path(tmp_path_factory.mktemp("tiny")) / "tiny.duckdb")
    else:
        server = request.getfixturevalue("pg_server")
        store = connect(server.createdb(f"tiny_{request.module.__name__.rsplit('.', 1)[-1]}"))
    tiny.load(store)
    yield store
    store.close()


def value(store: Store, kpi: str, by: str = "", **kw: object) -> object:
    """The frame of a KPI query on the tiny data, as of 2024-06-30 unless given."""
    kw.setdefault("as_of", AS_OF)
    return run(store, Query.make(kpi, by=by, **kw)).frame  # type: ignore[arg-type]
