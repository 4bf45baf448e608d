"""Rollups: answering a query from its fine query's parts gives the compile path's rows.

Each case runs the same query twice on the same context — straight through the compile
path, and through :func:`salespulse.semantic.rollup.answer` from the rows of its fine
query — and compares the frames column for column (values to 1e-9: sums are added in
another order).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from datetime import date
from typing import Any

import ibis
import pandas as pd
import pytest

from salespulse.demo import generate
from salespulse.semantic import rollup
from salespulse.semantic.catalogue import all_kpis, get_kpi
from salespulse.semantic.kpi import Dim, Kind
from salespulse.semantic.measures import Count, Median, Quantile, Ratio, Sum
from salespulse.semantic.model import Context
from salespulse.semantic.query import Query, context, plan, records, run
from salespulse.warehouse.store import Store, connect

AS_OF = date(2026, 11, 14)
FYTD = (date(2026, 1, 1), AS_OF)
LAST_Q = (date(2026, 7, 1), date(2026, 9, 30))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = connect(tmp_path_factory.mktemp("rollup") / "demo.duckdb")
    generate(store, 3, "demo", date(2026, 11, 15))
    yield store
    store.close()


class Kept:
    """A rollup store that counts what it computed."""

    def __init__(self) -> None:
        self.rows: dict[Hashable, pd.DataFrame] = {}
        self.computed = 0

    def __call__(self, fine: Hashable, compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        if fine not in self.rows:
            self.rows[fine] = compute()
            self.computed += 1
        return self.rows[fine]


def _same(direct: pd.DataFrame, rolled: pd.DataFrame) -> None:
    assert list(rolled.columns) == list(direct.columns)
    assert len(rolled) == len(direct), (direct, rolled)
    pd.testing.assert_frame_equal(
        rolled.reset_index(drop=True),
        direct.reset_index(drop=True),
        check_dtype=False,
        rtol=1e-9,
        atol=1e-9,
    )


def _filters(store: Store) -> list[dict[str, Any]]:
    """Filter combinations a page can ask: one dimension, two, several values."""
    reps = store.table("reps").select("rep_id", "team_id").execute()
    products = store.table("products").select("product_id").execute()["product_id"].tolist()
    teams = sorted(reps["team_id"].dropna().unique())
    return [
        {},
        {"team": teams[0]},
        {"rep": reps["rep_id"].iloc[3]},
        {"team": teams[1], "product": products[1]},
        {"channel": "referral"},
        {"team": [teams[0], teams[2]], "channel": ["web_form", "referral"]},
        {"product": products[0], "channel": "web_form", "region": "Noord"},
    ]


ANSWERABLE = [k.id for k in all_kpis() if k.kind is not Kind.derived and k.measure.rolls_up]


Case = tuple[str, dict[str, Any], tuple[date, date]]


def _compare(demo: Store, ctx: Context, kpi_id: str, cases: list[Case]) -> None:
    """Each (breakdowns, filters, window) case straight and from rollups: the same frames
    (point-in-time KPIs ignore the window; filters on dimensions the KPI lacks are dropped).
    Closes ``ctx``."""
    kpi = get_kpi(kpi_id)
    kept = Kept()
    try:
        for by, where, window in cases:
            w = {k: v for k, v in where.items() if Dim(k) in kpi.dims}
            start, end = (None, None) if kpi.point_only else window
            q = Query.make(kpi.id, by=by.strip(","), start=start, end=end, where=w, as_of=AS_OF)
            direct = run(demo, q, ctx=ctx)
            rolled = run(demo, q, ctx=ctx, rollups=kept)
            assert direct.available == rolled.available
            _same(direct.frame, rolled.frame)
    finally:
        ctx.close()


@pytest.mark.slow
@pytest.mark.parametrize("kpi_id", ANSWERABLE)
def test_every_answerable_kpi_matches_the_compile_path(demo: Store, kpi_id: str) -> None:
    kpi = get_kpi(kpi_id)
    ctx = context(demo, None, AS_OF, materialize=True)  # as pages ask
    if kpi.kind is Kind.period and kpi.facts(ctx).per_period_rows is None:
        q = Query.make(kpi.id, as_of=AS_OF)
        assert rollup.fine_query(q, plan(q), ctx) is None  # its rows depend on the breakdowns
        return
    f = _filters(demo)
    first = kpi.dims[0].value if kpi.dims else ""
    periodic = not kpi.point_only
    cases = [
        ("", f[0], FYTD),
        (",".join(kpi.default_by), f[1], FYTD),
        (first, f[3], LAST_Q),
        ("month" if periodic else first, f[5], FYTD),
        ("", f[6], LAST_Q),
        (f"quarter,{first}" if periodic else "", f[2], FYTD),
    ]
    _compare(demo, ctx, kpi.id, cases)


DERIVED = [k.id for k in all_kpis() if k.kind is Kind.derived]


@pytest.mark.slow
@pytest.mark.parametrize("kpi_id", DERIVED)
def test_derived_kpis_from_rolled_up_inputs_match(demo: Store, kpi_id: str) -> None:
    kpi = get_kpi(kpi_id)
    ctx = context(demo, None, AS_OF, materialize=True)
    f = _filters(demo)
    first = kpi.dims[0].value if kpi.dims else ""
    cases = [("", f[0], FYTD), (first, f[1], FYTD), ("", f[3], FYTD), (first, f[2], FYTD)]
    if not kpi.point_only:
        cases.append((f"quarter,{first}", f[1], FYTD))
    _compare(demo, ctx, kpi.id, cases)


def test_a_page_filter_reuses_the_fine_rows(demo: Store) -> None:
    ctx = context(demo, None, AS_OF)
    kept = Kept()
    teams = sorted(demo.table("teams").execute()["team_id"])
    for by, where in [("team", {}), ("rep", {"team": teams[0]}), ("", {"team": teams[1]})]:
        q = Query.make("won_revenue", by=by, start=FYTD[0], end=FYTD[1], where=where, as_of=AS_OF)
        _same(run(demo, q, ctx=ctx).frame, run(demo, q, ctx=ctx, rollups=kept).frame)
    assert kept.computed == 1  # by team, by rep within a team, a team's total: one rollup


def test_targets_are_joined_as_for_the_full_query(demo: Store) -> None:
    ctx = context(demo, None, AS_OF)
    assert "won_revenue" in ctx.target_kpi_ids
    kept = Kept()
    teams = sorted(demo.table("teams").execute()["team_id"])
    for by, where in [("rep,quarter", {}), ("team", {}), ("", {"team": teams[0]}), ("", {})]:
        q = Query.make("won_revenue", by=by, start=FYTD[0], end=FYTD[1], where=where, as_of=AS_OF)
        direct = run(demo, q, ctx=ctx).frame
        assert direct["target"].notna().any()
        _same(direct, run(demo, q, ctx=ctx, rollups=kept).frame)


@pytest.mark.parametrize("kpi_id", ["open_pipeline", "won_revenue", "win_rate", "calls", "sqls"])
def test_records_from_the_unfiltered_records_match(demo: Store, kpi_id: str) -> None:
    kpi = get_kpi(kpi_id)
    ctx = context(demo, None, AS_OF)
    kept = Kept()
    start, end = (None, None) if kpi.kind is Kind.snapshot else FYTD
    for where in _filters(demo):
        w = {k: v for k, v in where.items() if Dim(k) in kpi.dims}
        q = Query.make(kpi.id, start=start, end=end, where=w, as_of=AS_OF)
        direct = records(demo, q, limit=None, ctx=ctx)
        rolled = records(demo, q, limit=None, ctx=ctx, rollups=kept)
        pd.testing.assert_frame_equal(rolled, direct)
    assert kept.computed == 1  # every filter combination from the same records


def test_what_a_rollup_cannot_answer_takes_the_full_query() -> None:
    for kpi_id, by in [
        ("quota_attainment", "rep"),  # derived from other KPIs
        ("won_revenue", "deal.segment"),  # a custom attribute
    ]:
        q = Query.make(kpi_id, by=by, as_of=AS_OF)
        assert rollup.fine_query(q, plan(q)) is None, kpi_id


def test_period_kpis_are_answered_from_the_rollup_with_their_rows(demo: Store) -> None:
    ctx = context(demo, None, AS_OF)
    for kpi_id, where, answered in [
        ("staff_retention", {}, True),  # reps x periods, whatever the breakdown
        ("crm_feature_share", {"team": "T01"}, True),
        ("customer_retention", {"team": "T01"}, True),  # accounts x periods
        ("conversion_rate", {"channel": "web_form"}, True),  # a lead's dimensions: leads count
        ("conversion_rate", {"product": "P1"}, True),  # a deal's: deals alone
    ]:
        q = Query.make(kpi_id, where=where, as_of=AS_OF)
        fine = rollup.fine_query(q, plan(q), ctx)
        assert (fine is not None) is answered, kpi_id
    with_leads = Query.make("conversion_rate", where={"channel": "web_form"}, as_of=AS_OF)
    deals_only = Query.make("conversion_rate", where={"product": "P1"}, as_of=AS_OF)
    fine_leads = rollup.fine_query(with_leads, plan(with_leads), ctx)
    fine_deals = rollup.fine_query(deals_only, plan(deals_only), ctx)
    assert fine_leads is not None and fine_deals is not None
    # leads lack a product: breaking down by it would drop them from the lead-side rows
    assert "product" not in fine_leads.by and {"rep", "channel"} <= set(fine_leads.by)
    assert {"rep", "team", "region", "product", "channel"} <= set(fine_deals.by)
    ctx.close()


def test_the_fine_query_ignores_filters_and_the_order_of_breakdowns() -> None:
    a = Query.make("won_revenue", by="team,quarter", where={"product": "P1"}, as_of=AS_OF)
    b = Query.make("won_revenue", by="quarter,rep", where={"channel": "web"}, as_of=AS_OF)
    fa, fb = rollup.fine_query(a, plan(a)), rollup.fine_query(b, plan(b))
    assert fa == fb
    assert fa is not None and fa.where == () and fa.by[0] == "quarter"
    assert {"rep", "team", "region", "product", "channel"} <= set(fa.by)


# -- the parts of each measure, on hand-made facts ------------------------------------------
FACTS = pd.DataFrame(
    {
        "g": ["a", "a", "b", "b", "c", "d"],
        "won": [True, False, True, True, False, True],
        "amount": [100.0, 50.0, None, None, 20.0, 5.0],
    }
)


def _direct(measure: Any, rows: pd.DataFrame) -> tuple[float | None, ...]:
    t = ibis.memtable(rows, schema={"g": "string", "won": "boolean", "amount": "float64"})
    agg = t.aggregate(**measure.aggregates(t)).execute()
    return tuple(None if pd.isna(v) else float(v) for v in agg.iloc[0])


def _combined(measure: Any, groups: list[str]) -> tuple[float | None, ...]:
    t = ibis.memtable(FACTS, schema={"g": "string", "won": "boolean", "amount": "float64"})
    parts = t.group_by("g").aggregate(**measure.parts(t, "_p_")).execute()
    summed = parts[parts.g.isin(groups)].drop(columns="g").sum(min_count=1).to_frame().T
    values: tuple[pd.Series, ...] = (
        measure.combine_ratio(summed, "_p_")
        if isinstance(measure, Ratio)
        else (measure.combine(summed, "_p_"),)
    )
    return tuple(None if pd.isna(v.iloc[0]) else float(v.iloc[0]) for v in values)


@pytest.mark.parametrize(
    "measure",
    [
        Count(),
        Count(where=ibis._.won),
        Sum("amount"),
        Sum("amount", where=ibis._.won),
        Ratio(Count(where=ibis._.won), Count()),
        Ratio(Sum("amount", where=ibis._.won), Count(where=ibis._.won)),
    ],
    ids=["count", "count-where", "sum", "sum-where", "ratio-counts", "ratio-sum"],
)
@pytest.mark.parametrize("groups", [["a"], ["b"], ["b", "c"], ["a", "b", "c", "d"], []])
def test_parts_add_up_to_the_measure(measure: Any, groups: list[str]) -> None:
    # group b: won rows all without an amount (no value); c: no won row (nothing: 0)
    assert measure.rolls_up
    assert _combined(measure, groups) == _direct(measure, FACTS[FACTS.g.isin(groups)])


def test_sum_over_rows_that_all_lack_a_value_stays_no_value() -> None:
    # hand-computed: won rows of b and c together are b's two, both without an amount
    assert _combined(Sum("amount", where=ibis._.won), ["b", "c"]) == (None,)
    assert _combined(Sum("amount", where=ibis._.won), ["c"]) == (0.0,)  # nothing won: 0


def test_distinct_counts_do_not_roll_up() -> None:
    assert not Count(distinct="g").rolls_up
    assert not Ratio(Count(distinct="g"), Count()).rolls_up


QUANTILE_FACTS = pd.DataFrame(
    {
        "g": ["a", "a", "a", "b", "b", "c", "d", "d"],
        "won": [True, True, False, True, False, True, False, True],
        "amount": [10.0, 40.0, 25.0, 20.0, 7.0, None, 3.0, 1.0],
    }
)


def _quantile_combined(measure: Quantile, groups: list[str]) -> pd.DataFrame:
    schema = {"g": "string", "won": "boolean", "amount": "float64"}
    t = ibis.memtable(QUANTILE_FACTS, schema=schema)
    parts = t.group_by("g").aggregate(**measure.parts(t, "_p_")).execute()
    parts = parts[parts.g.isin(groups)].sort_values("g")
    merged = measure.merge(parts, [], ["_p_v"])
    return merged.assign(value=measure.combine(merged, "_p_"))


@pytest.mark.parametrize(
    ("q", "where", "groups", "expected"),
    [
        # hand-computed: a, b and d's values sorted are 1 3 7 10 20 25 40; the median is
        # the 4th (10); the P90 lies at rank 0.9 * 6 = 5.4: 25 + 0.4 * (40 - 25) = 31
        (0.5, None, ["a", "b", "d"], 10.0),
        (0.9, None, ["a", "b", "d"], 31.0),
        # won rows of a and d: 1 10 40; P90 at rank 1.8: 10 + 0.8 * 30 = 34
        (0.9, ibis._.won, ["a", "d"], 34.0),
        (0.5, None, ["a", "c"], 25.0),  # c's only value is missing: a's 10 25 40
        (0.5, None, ["c"], None),  # no values: no value
        (0.5, None, [], None),  # no rows: no value
    ],
)
def test_a_quantile_of_groups_is_the_quantile_of_their_values_together(
    q: float, where: Any, groups: list[str], expected: float | None
) -> None:
    measure = Quantile("amount", q, where)
    got = _quantile_combined(measure, groups)
    value = got["value"].iloc[0]
    assert (None if pd.isna(value) else float(value)) == pytest.approx(expected)
    assert _direct(measure, QUANTILE_FACTS[QUANTILE_FACTS.g.isin(groups)]) == pytest.approx(
        (expected,)
    )


def test_a_quantile_merges_per_key_in_the_groups_order() -> None:
    parts = pd.DataFrame(
        {"k": ["y", "x", "y", "x"], "_p_v": [[5.0, 1.0], [2.0], None, [4.0, 8.0, 6.0]]}
    )
    measure = Median("amount")
    merged = measure.merge(parts, ["k"], ["_p_v"])
    assert merged["k"].tolist() == ["y", "x"]
    assert measure.combine(merged, "_p_").tolist() == [3.0, 5.0]  # 1 5 -> 3; 2 4 6 8 -> 5
