"""The derived stage_visits table: same stage history as the window path, kept current."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from salespulse.semantic.query import Query, context, run
from salespulse.warehouse import derived
from salespulse.warehouse.store import Store, connect
from tests.semantic import tiny

ORDER = ["deal_id", "entered_at", "stage_id"]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = connect(tmp_path / "tiny.duckdb")
    tiny.load(s)
    yield s
    s.close()


def _history(store: Store, as_of: date, fast: bool) -> pd.DataFrame:
    ctx = context(store, as_of=as_of)
    ctx._flags["derived:stage_visits"] = fast
    return ctx.stage_history.order_by(ORDER).execute()


@pytest.mark.parametrize("as_of", [date(2024, 1, 31), date(2024, 4, 15), date(2024, 6, 30)])
def test_same_rows_as_the_window_path(store: Store, as_of: date) -> None:
    assert context(store, as_of=as_of).has_stage_visits
    fast, slow = _history(store, as_of, True), _history(store, as_of, False)
    assert len(fast) > 0
    pd.testing.assert_frame_equal(fast, slow)


@pytest.mark.slow
def test_kpis_on_history_agree(store: Store) -> None:
    for kpi, by in [("stage_conversion", "stage"), ("stage_skip_share", ""), ("open_deals", "")]:
        frames = []
        for fast in (True, False):
            ctx = context(store, as_of=date(2024, 6, 30))
            ctx._flags["derived:stage_visits"] = fast
            frames.append(run(store, Query.make(kpi, by=by), ctx=ctx).frame)
        pd.testing.assert_frame_equal(frames[0], frames[1])


def _fingerprint(store: Store) -> str:
    row = store.con.con.execute(
        "SELECT fingerprint FROM derived_state WHERE name = 'stage_visits'"
    ).fetchone()
    return str(row[0])


def test_rebuilt_only_when_history_or_stages_change(store: Store) -> None:
    before = _fingerprint(store)
    n = store.con.con.execute("SELECT count(*) FROM stage_visits").fetchone()[0]
    store.load("teams", pd.DataFrame({"team_id": ["T-new"], "name": ["New"]}))
    assert _fingerprint(store) == before  # unrelated write: same table, new version stamp
    assert derived.current(store.con, derived.STAGE_VISITS)
    extra = pd.DataFrame(
        {
            "deal_id": [store.table("deals").deal_id.execute().iloc[0]],
            "stage_id": [store.table("stages").stage_id.execute().iloc[0]],
            "entered_at": [pd.Timestamp("2030-01-01 09:00")],
        }
    )
    store.load("deal_stage_history", extra)
    assert _fingerprint(store) != before
    assert store.con.con.execute("SELECT count(*) FROM stage_visits").fetchone()[0] == n + 1
    assert derived.current(store.con, derived.STAGE_VISITS)


def test_stale_table_is_not_used(store: Store) -> None:
    # a write that bypasses Store.transaction (a bug elsewhere) must not give wrong figures
    store.con.con.execute("UPDATE data_version SET version = 'other'")
    assert not derived.current(store.con, derived.STAGE_VISITS)
    assert not context(store, as_of=date(2024, 6, 30)).has_stage_visits
