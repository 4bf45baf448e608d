"""The compiled-SQL cache (``semantic/sqlcache.py``): a repeated query shape reuses its SQL
and gives the same rows; anything the SQL depends on — a setting, the as-of date, a data
answer such as "are there targets" or "does the derived stage-visit table match" — gives a
new SQL; a write that changes no answer keeps the SQL and shows the new data."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from salespulse.demo import generate
from salespulse.errors import UserError
from salespulse.semantic import sqlcache
from salespulse.semantic.catalogue import all_kpis
from salespulse.semantic.query import Query, context, expression, missing_data, plan, run
from salespulse.settings import Settings
from salespulse.warehouse.store import Store, connect

pytestmark = pytest.mark.xdist_group("sqlcache")

AS_OF = date(2026, 11, 14)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Store]:
    store = connect(tmp_path / "demo.duckdb")
    generate(store, 5, "demo", date(2026, 11, 15))
    sqlcache.clear()
    yield store
    store.close()
    sqlcache.clear()


def _entry(store: Store, q: Query, settings: Settings | None = None) -> sqlcache.Entry:
    ctx = context(store, settings or Settings(), q.as_of)
    entry = sqlcache._entries.get(sqlcache.key(ctx, q))
    assert entry is not None, "no cached SQL for the query"
    return entry


def _one_call(rep: str, activity_id: str) -> pd.DataFrame:
    """One call of ``rep`` the day before as-of (a write that changes no data answer)."""
    return pd.DataFrame(
        {
            "activity_id": [activity_id],
            "activity_type": ["call"],
            "rep_id": [rep],
            "occurred_at": [pd.Timestamp("2026-11-13 10:00")],
        }
    )


def _counts() -> tuple[int, int]:
    return sqlcache.stats["hits"], sqlcache.stats["misses"]


@pytest.mark.slow
def test_a_repeated_query_reuses_its_sql_and_gives_the_same_rows(demo: Store) -> None:
    q = Query("won_revenue", by=("rep", "quarter"), as_of=AS_OF)
    h0, m0 = _counts()
    first = run(demo, q, Settings()).frame
    assert _counts() == (h0, m0 + 1)
    sql = _entry(demo, q).sql
    again = run(demo, q, Settings()).frame  # a new context: same shape
    assert _counts() == (h0 + 1, m0 + 1)
    assert _entry(demo, q).sql is sql
    pd.testing.assert_frame_equal(first, again)
    sqlcache.clear()
    uncached = run(demo, q, Settings()).frame
    pd.testing.assert_frame_equal(first, uncached)
    assert len(first) > 10


@pytest.mark.slow
def test_a_changed_setting_or_as_of_gives_new_sql(demo: Store) -> None:
    q = Query("won_revenue", by=("quarter",), as_of=AS_OF)
    calendar = run(demo, q, Settings()).frame
    h0, m0 = _counts()
    fiscal = run(demo, q, Settings(fiscal_year_start_month=2)).frame
    assert _counts() == (h0, m0 + 1)
    assert _entry(demo, q).sql != _entry(demo, q, Settings(fiscal_year_start_month=2)).sql
    assert list(calendar.period) != list(fiscal.period)
    assert calendar.value.sum() == pytest.approx(fiscal.value.sum())
    earlier = Query("won_revenue", by=("quarter",), as_of=date(2025, 10, 26))
    run(demo, earlier, Settings())
    assert _counts() == (h0, m0 + 2)
    assert _entry(demo, earlier).sql != _entry(demo, q).sql


@pytest.mark.slow
def test_a_changed_probe_answer_gives_new_sql(demo: Store) -> None:
    """Without a matching derived stage-visit table the engine windows the history: the
    cached SQL (which reads the derived table) must not be used."""
    q = Query("time_in_stage_median", by=("stage",), as_of=AS_OF)
    derived = run(demo, q, Settings()).frame
    assert "stage_visits" in _entry(demo, q).sql
    ctx = context(demo, Settings(), AS_OF)
    ctx._flags["derived:stage_visits"] = False  # as when the table is behind the data
    h0, m0 = _counts()
    windowed = run(demo, q, Settings(), ctx=ctx).frame
    assert _counts() == (h0, m0 + 1)
    assert "stage_visits" not in _entry(demo, q).sql
    pd.testing.assert_frame_equal(derived, windowed)


def test_new_targets_give_new_sql_with_the_target(demo: Store) -> None:
    q = Query("calls", by=("rep", "month"), as_of=AS_OF)
    before = run(demo, q, Settings()).frame
    assert "target" not in before.columns
    rep = str(before.rep.dropna().iloc[0])
    target = pd.DataFrame(
        {
            "target_id": ["T-calls"],
            "kpi_id": ["calls"],
            "period_grain": ["month"],
            "period_start": [date(2026, 11, 1)],
            "rep_id": [rep],
            "team_id": [None],
            "value": [50.0],
        }
    )
    with demo.transaction():
        demo.load("targets", target)
    h0, m0 = _counts()
    after = run(demo, q, Settings()).frame
    assert _counts() == (h0, m0 + 1)
    row = after[(after.rep == rep) & (pd.to_datetime(after.period) == "2026-11-01")]
    assert row.target.tolist() == [50.0]


def test_a_write_that_changes_no_answer_keeps_the_sql_and_shows_the_new_rows(
    demo: Store,
) -> None:
    q = Query("calls", by=("rep",), as_of=AS_OF)
    before = run(demo, q, Settings()).frame
    rep = str(before.rep.dropna().iloc[0])
    call = _one_call(rep, "A-new-call")
    version = demo.data_version()
    with demo.transaction():
        demo.load("activities", call)
    assert demo.data_version() != version
    h0, m0 = _counts()
    after = run(demo, q, Settings()).frame
    assert _counts() == (h0 + 1, m0)
    was = before.set_index("rep").value[rep]
    assert after.set_index("rep").value[rep] == was + 1


@pytest.mark.slow
def test_the_cache_is_bounded(demo: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlcache, "MAX_ENTRIES", 2)
    for day in (12, 13, 14):
        run(demo, Query("sqls", by=("month",), as_of=date(2026, 11, day)), Settings())
    assert sqlcache.size() == 2
    h0, m0 = _counts()
    run(demo, Query("sqls", by=("month",), as_of=date(2026, 11, 12)), Settings())
    assert _counts() == (h0, m0 + 1)  # the oldest was dropped


@pytest.mark.slow
def test_materialized_contexts_bypass_the_cache(demo: Store) -> None:
    q = Query("open_pipeline", by=("rep", "stage"), as_of=AS_OF)
    ctx = context(demo, Settings(), AS_OF, materialize=True)
    try:
        b0 = sqlcache.stats["bypassed"]
        frame = run(demo, q, Settings(), ctx=ctx).frame
        assert sqlcache.stats["bypassed"] == b0 + 1
    finally:
        ctx.close()
    assert sqlcache.size() == 0
    pd.testing.assert_frame_equal(frame, run(demo, q, Settings()).frame)


@pytest.mark.parametrize("kpi", ["open_deals", "stage_conversion", "lead_score"])
@pytest.mark.slow
def test_a_cached_query_keeps_no_query_memory_after_it_ran(demo: Store, kpi: str) -> None:
    """Once a cached KPI query has answered, the connection holds none of its execution
    state (hash tables, materialized CTEs): a server keeps hundreds of cached queries, and
    a DuckDB prepared statement would keep its last execution's state until deallocated."""
    raw = demo.con.con  # type: ignore[attr-defined]

    def held_mb() -> float:
        return float(
            raw.execute(
                "SELECT coalesce(sum(memory_usage_bytes), 0) / 1e6 FROM duckdb_memory() "
                "WHERE tag IN ('HASH_TABLE', 'COLUMN_DATA')"
            ).fetchone()[0]
        )

    q = Query(kpi, by=("rep",), as_of=AS_OF)
    for _ in range(2):  # built, then from the cache
        assert not run(demo, q, Settings()).frame.empty
        assert held_mb() == 0
    assert _counts()[0] >= 1
    assert raw.execute("SELECT count(*) FROM duckdb_prepared_statements()").fetchone()[0] == 0


@pytest.mark.slow
def test_every_kpi_reads_its_cached_rows_as_ibis_executes_them(demo: Store) -> None:
    """The cache converts DuckDB's result itself (``warehouse/frames.py``): for every KPI of
    the catalogue, by its default breakdowns and by rep and month, the same frame —
    columns, dtypes, values — as Ibis's own ``execute`` of the expression."""
    compared = 0
    for k in all_kpis():
        for by in {k.default_by, ("rep", "month")}:
            q = Query(k.id, by=by, as_of=AS_OF)
            try:
                plan(q)
            except UserError:  # a breakdown the KPI doesn't offer
                continue
            ctx = context(demo, Settings(), AS_OF)
            if missing_data(ctx, k):
                continue
            build = lambda ctx=ctx, q=q: expression(ctx, q)[1]  # noqa: E731
            cached, ibis_rows = sqlcache.execute(ctx, q, build), build().execute()
            # dtypes exactly; values to 1e-12 (DuckDB's parallel sums vary in the last bits)
            pd.testing.assert_frame_equal(_sorted(cached), _sorted(ibis_rows), rtol=1e-12, obj=k.id)
            compared += 1
    assert compared > 80


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in one order (SQL without ORDER BY gives them in any)."""
    return frame.sort_values(list(frame.columns), na_position="last").reset_index(drop=True)
