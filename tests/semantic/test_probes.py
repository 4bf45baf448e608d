"""Data probes shared per data version: reused by later contexts, renewed by any write."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from salespulse.semantic.query import context
from salespulse.warehouse.store import connect


def test_probes_follow_the_data_version(tmp_path: Path) -> None:
    store = connect(tmp_path / "p.duckdb")
    try:
        store.load("teams", pd.DataFrame({"team_id": ["T1"], "name": ["One"]}))
        first = context(store, as_of=date(2024, 1, 1))
        assert first.has_rows("teams") and not first.has_rows("products")
        store.con.con.execute("INSERT INTO products (product_id, name) VALUES ('P0', 'x')")
        # same data version: the probe is not asked again (shared by the next context)
        assert not context(store, as_of=date(2024, 2, 1)).has_rows("products")
        store.load("products", pd.DataFrame({"product_id": ["P1"], "name": ["Box"]}))
        assert context(store, as_of=date(2024, 2, 1)).has_rows("products")
        assert context(store, as_of=date(2024, 2, 1)).distinct_values(
            "products.product_id", store.table("products").product_id
        ) == frozenset({"P0", "P1"})
    finally:
        store.close()
