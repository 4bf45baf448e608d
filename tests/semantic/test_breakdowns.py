"""A query's own context joins only the breakdowns it uses (``Context.breakdowns``): a deal
KPI by rep does not join every lead for the deal's channel. The figures are those of a
context with every breakdown, for every KPI, with and without a filter."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from salespulse.demo import generate
from salespulse.semantic import sqlcache
from salespulse.semantic.catalogue import all_kpis
from salespulse.semantic.kpi import Dim
from salespulse.semantic.query import Query, context, explain, run
from salespulse.settings import Settings
from salespulse.warehouse.store import Store, connect

pytestmark = pytest.mark.xdist_group("breakdowns")

AS_OF = date(2026, 11, 14)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = connect(Path(tmp_path_factory.mktemp("breakdowns")) / "demo.duckdb")
    generate(store, 5, "demo", date(2026, 11, 15))
    yield store
    store.close()
    sqlcache.clear()


def _both(store: Store, q: Query) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``q`` on its own context (only its breakdowns) and on a context with all of them,
    each compiling its own SQL."""
    sqlcache.clear()
    own = run(store, q).frame
    sqlcache.clear()
    every = run(store, q, ctx=context(store, Settings(), q.as_of)).frame
    return own, every


def _queries(kpi_id: str) -> list[Query]:
    k = next(k for k in all_kpis() if k.id == kpi_id)
    qs = [Query(k.id, by=k.default_by, as_of=AS_OF)]
    if Dim.team in k.dims:
        qs.append(Query(k.id, by=k.default_by, where=(("team", ("T01",)),), as_of=AS_OF))
    if Dim.channel in k.dims:
        qs.append(Query(k.id, by=("channel",), as_of=AS_OF))
    return qs


#: The quick subset: deal KPIs of each kind (flow, snapshot, stage history, derived).
QUICK = {"won_deals", "open_pipeline", "time_in_stage_median", "forecast", "deal_velocity"}


@pytest.mark.parametrize(
    "kpi",
    [k.id if k.id in QUICK else pytest.param(k.id, marks=pytest.mark.slow) for k in all_kpis()],
)
@pytest.mark.slow
def test_the_figures_do_not_depend_on_the_breakdowns_joined(demo: Store, kpi: str) -> None:
    for q in _queries(kpi):
        own, every = _both(demo, q)
        assert len(own) > 0, f"{q}: no rows"
        pd.testing.assert_frame_equal(own, every, check_exact=False, rtol=1e-9)


@pytest.mark.slow
def test_a_deal_kpi_by_rep_reads_no_lead_and_no_account(demo: Store) -> None:
    by_rep = explain(demo, Query("won_deals", by=("rep",), as_of=AS_OF))
    by_channel = explain(demo, Query("won_deals", by=("channel",), as_of=AS_OF))
    by_industry = explain(demo, Query("won_deals", by=("industry",), as_of=AS_OF))
    assert '"leads"' not in by_rep and '"accounts"' not in by_rep
    assert '"leads"' in by_channel and '"accounts"' not in by_channel
    assert '"accounts"' in by_industry and '"leads"' not in by_industry
    # a filter is a breakdown the query uses too
    web = (("channel", ("web_form",)),)
    filtered = explain(demo, Query("won_deals", by=("rep",), where=web, as_of=AS_OF))
    assert '"leads"' in filtered


def test_a_contract_kpi_reads_the_accounts_only_for_an_owner_or_industry(demo: Store) -> None:
    by_year = explain(demo, Query("acv", by=("year",), as_of=AS_OF))
    by_team = explain(demo, Query("acv", by=("year", "team"), as_of=AS_OF))
    assert '"accounts"' not in by_year and '"reps"' not in by_year
    assert '"accounts"' in by_team and '"reps"' in by_team
