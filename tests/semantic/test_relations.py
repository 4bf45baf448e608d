"""Relations the compile path shares are written once in the SQL (``semantic/relations.py``):
a derived KPI whose inputs all read the deals as of a date gets that state computed once, not
once per input."""

from __future__ import annotations

from pathlib import Path

import ibis
import pytest

from salespulse.semantic.query import Query, context, expression
from salespulse.semantic.relations import without
from salespulse.settings import Settings
from salespulse.warehouse.store import connect
from tests.semantic import tiny
from tests.semantic.conftest import AS_OF


def test_without_keeps_the_other_columns_in_their_order() -> None:
    t = ibis.table({"a": "int64", "b": "string", "c": "float64", "d": "date"}, name="t")
    kept = without(t, "b", "d")
    assert kept.schema() == t.drop("b", "d").schema()
    assert kept.columns == ("a", "c")
    joined = t.left_join(t.select(x="a", c="c"), "c")  # collisions renamed: c_right
    assert without(joined, "c_right").columns == ("a", "b", "c", "d", "x")


@pytest.mark.parametrize("kpi", ["deal_velocity", "pipeline_coverage"])
def test_a_derived_kpi_computes_the_deal_state_once(tmp_path: Path, kpi: str) -> None:
    """deal_velocity's four inputs (open deals, size, win rate, cycle) all read the deals in
    their state as of the date: Ibis's dropped-columns node was never a named relation, so the
    SQL held that state — a join of every deal with its last stage visit — four times."""
    store = connect(tmp_path / "tiny.duckdb")
    tiny.load(store)
    ctx = context(store, Settings(), AS_OF)
    _, expr = expression(ctx, Query.make(kpi, by="rep", as_of=AS_OF))
    sql = ibis.to_sql(expr, dialect="duckdb")
    assert sql.count('AS "has_history"') == 1
    assert "EXCLUDE" not in sql
    store.close()
