"""One demo-scale database per test session, shared read-only by the demo tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from salespulse.demo import generate
from salespulse.warehouse.store import Store, connect

TODAY = date(2026, 11, 15)
SEED = 7


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = connect(tmp_path_factory.mktemp("demo") / "demo.duckdb")
    generate(store, SEED, "demo", TODAY)
    yield store
    store.close()


@pytest.fixture(scope="session")
def sql(demo_store: Store) -> Any:
    """Run plain SQL on the demo database; returns all rows as tuples."""

    def run(query: str) -> list[tuple[Any, ...]]:
        return demo_store.con.raw_sql(query).fetchall()  # type: ignore[attr-defined,no-any-return]

    return run
