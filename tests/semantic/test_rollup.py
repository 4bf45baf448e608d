"""Rollups: answering a query from its fine query's parts gives the compile path's rows.

Each case runs the same query twice on the same context — straight through the compile
path, and through :func:`salespulse.semantic.rollup.answer` from the rows of its fine
query — and compares the frames column for column (values to 1e-9: sums are added in
another order).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from dataclasses import replace
from datetime import date
from typing import Any

import ibis
import numpy as np
import pandas as pd
import pytest

from salespulse.demo import generate
from salespulse.semantic import rollup, sqlcache
from salespulse.semantic.catalogue import all_kpis, get_kpi
from salespulse.semantic.kpi import Dim, Kind
from salespulse.semantic.measures import Count, Median, Quantile, Ratio, Sum
from salespulse.semantic.model import Context
from salespulse.semantic.query import (
    Query,
    _derived_from_rollups,
    _rollup_targets,
    context,
    plan,
    records,
    run,
)
from salespulse.semantic.targets import target_rows
from salespulse.warehouse.store import Store, connect
from tests.semantic import tiny

AS_OF = date(2026, 11, 14)
FYTD = (date(2026, 1, 1), AS_OF)
LAST_Q = (date(2026, 7, 1), date(2026, 9, 30))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = connect(tmp_path_factory.mktemp("rollup") / "demo.duckdb")
    generate(store, 3, "demo", date(2026, 11, 15))
    yield store
    store.close()


BESIDE = ("targets", "reps", "teams")


class Kept:
    """A rollup store that counts the fine queries it computed."""

    def __init__(self) -> None:
        self.rows: dict[Hashable, pd.DataFrame] = {}
        self.computed = 0

    def __call__(self, fine: Hashable, compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        if fine not in self.rows:
            self.rows[fine] = compute()
            # not the targets and the reps and teams kept beside the rollups
            self.computed += not (isinstance(fine, tuple) and fine[0] in BESIDE)
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


@pytest.mark.slow
def test_a_page_filter_reuses_the_fine_rows(demo: Store) -> None:
    ctx = context(demo, None, AS_OF)
    kept = Kept()
    teams = sorted(demo.table("teams").execute()["team_id"])
    for by, where in [("team", {}), ("rep", {"team": teams[0]}), ("", {"team": teams[1]})]:
        q = Query.make("won_revenue", by=by, start=FYTD[0], end=FYTD[1], where=where, as_of=AS_OF)
        _same(run(demo, q, ctx=ctx).frame, run(demo, q, ctx=ctx, rollups=kept).frame)
    assert kept.computed == 1  # by team, by rep within a team, a team's total: one rollup


@pytest.mark.slow
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
@pytest.mark.slow
def test_records_from_the_unfiltered_records_match(demo: Store, kpi_id: str) -> None:
    kpi = get_kpi(kpi_id)
    ctx = context(demo, None, AS_OF)
    kept = Kept()
    start, end = (None, None) if kpi.kind is Kind.snapshot else FYTD
    full = context(demo, None, AS_OF, materialize=True)  # no cached SQL: the filtered query
    for where in _filters(demo):
        w = {k: v for k, v in where.items() if Dim(k) in kpi.dims}
        q = Query.make(kpi.id, start=start, end=end, where=w, as_of=AS_OF)
        direct = records(demo, q, limit=None, ctx=full)
        rolled = records(demo, q, limit=None, ctx=ctx, rollups=kept)
        pd.testing.assert_frame_equal(rolled, direct)
    full.close()
    assert kept.computed == 1  # every filter combination from the same records


RECORDED = [k.id for k in all_kpis() if k.kind is not Kind.derived]


@pytest.mark.slow
@pytest.mark.parametrize("kpi_id", RECORDED)
def test_filtered_records_from_one_compiled_query(demo: Store, kpi_id: str) -> None:
    """Records for a filter combination from the unfiltered records' cached SQL, filtered
    around it (one compile for every filter value), equal the filtered query's records —
    rows, order, columns and dtypes — with and without a limit and numerator_only. Where
    the record key is not unique (stage visits: a row per deal and stage), neither query
    orders the rows of one key: the rows are compared as a set, and a limited list must
    hold rows of the full one."""
    kpi = get_kpi(kpi_id)
    start, end = (None, None) if kpi.kind is Kind.snapshot else FYTD
    full = context(demo, None, AS_OF, materialize=True)
    sqlcache.clear()
    before = dict(sqlcache.stats)
    filtered = 0
    variants = [(None, False), (7, False), (None, True)]
    for i, where in enumerate(_filters(demo)[1:]):
        w = {k: v for k, v in where.items() if Dim(k) in kpi.dims}
        if not w:
            continue
        q = Query.make(kpi.id, start=start, end=end, where=w, as_of=AS_OF)
        for limit, numerator in variants if i == 0 else variants[:1]:
            direct = records(demo, q, limit=limit, numerator_only=numerator, ctx=full)
            cached = records(demo, q, limit=limit, numerator_only=numerator)
            what = f"{kpi_id} {w} {limit} {numerator}"
            key = kpi.facts(full).key if kpi.facts else None
            if key in direct.columns and not direct[key].is_unique:
                everything = records(demo, q, limit=None, numerator_only=numerator, ctx=full)
                assert len(cached) == len(direct), what
                assert cached[key].tolist() == direct[key].tolist(), what
                rows = set(map(tuple, everything.astype(str).to_numpy()))
                same_types = cached.astype(everything.dtypes.to_dict())  # nulls: float
                assert set(map(tuple, same_types.astype(str).to_numpy())) <= rows, what
            else:
                pd.testing.assert_frame_equal(cached, direct, obj=what)
            filtered += 1
    full.close()
    done = sqlcache.stats["filtered"] - before["filtered"]
    # every filter of a page dimension is answered around the cached SQL, compiled at most
    # twice (with and without numerator_only), except where a filter's column is not in
    # the records (then the filtered query is built as before)
    assert done in (0, filtered), (kpi_id, done, filtered)
    if done:
        assert sqlcache.stats["misses"] - before["misses"] <= 2


@pytest.mark.slow
def test_filtered_records_are_answered_around_the_cached_sql(demo: Store) -> None:
    teams = sorted(demo.table("teams").execute()["team_id"])
    sqlcache.clear()
    misses, filtered = sqlcache.stats["misses"], sqlcache.stats["filtered"]
    full = context(demo, None, AS_OF, materialize=True)
    for team in teams[:3]:
        q = Query.make("won_revenue", start=FYTD[0], end=FYTD[1], where={"team": team}, as_of=AS_OF)
        got = records(demo, q, limit=50)
        assert len(got) and set(got["team_id"]) == {team}
        pd.testing.assert_frame_equal(got, records(demo, q, limit=50, ctx=full))
    full.close()
    assert sqlcache.stats["misses"] - misses == 1  # one compile for three teams
    assert sqlcache.stats["filtered"] - filtered == 3


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
    lists = parts["_p_v"].to_numpy(dtype=object)
    merged = pd.DataFrame(measure.merge({"_p_v": lists}, np.zeros(len(lists), dtype=np.int64), 1))
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
    lists = np.array([[5.0, 1.0], [2.0], None, [4.0, 8.0, 6.0]], dtype=object)
    measure = Median("amount")
    merged = pd.DataFrame(measure.merge({"_p_v": lists}, np.array([0, 1, 0, 1]), 2))
    assert [len(v) for v in merged["_p_v"]] == [2, 4]  # the None of group 0 adds nothing
    assert measure.combine(merged, "_p_").tolist() == [3.0, 5.0]  # 1 5 -> 3; 2 4 6 8 -> 5


def test_parts_sum_per_group_and_a_group_without_values_has_none() -> None:
    parts = {"_p_s": np.array([1.0, np.nan, 2.5, np.nan, 4.0]), "_p_n": np.ones(5)}
    merged = Sum("amount").merge(parts, np.array([0, 1, 0, 1, 2]), 4)
    np.testing.assert_array_equal(merged["_p_s"], [3.5, np.nan, 4.0, np.nan])
    np.testing.assert_array_equal(merged["_p_n"], [2.0, 2.0, 1.0, np.nan])  # group 3: no rows


def test_an_answer_groups_by_the_kept_rows_in_their_first_order() -> None:
    fine = pd.DataFrame(
        {
            "rep": pd.Categorical(["r2", "r1", "r2", None, "r1"]),
            "team": pd.Categorical(["t1", "t1", "t2", "t1", "t2"]),
            "_p_c": [1.0, 2.0, 4.0, 8.0, 16.0],
            "rep_name": pd.Categorical(["Two", "One", "Two", None, "One"]),
            "rep_left_on": pd.to_datetime([None, "2026-03-31", None, None, "2026-03-31"]),
        }
    )
    kpi = replace(get_kpi("won_deals"), measure=Count())
    q = Query.make("won_deals", by="rep", where={"team": "t1"})
    got = rollup.answer(fine, replace(plan(q), kpi=kpi))
    assert got["rep"].tolist()[:2] == ["r2", "r1"] and pd.isna(got["rep"].iloc[2])
    assert got["value"].tolist() == [1.0, 2.0, 8.0]
    assert got["rep_name"].tolist()[:2] == ["Two", "One"]
    assert got["rep_left_on"].iloc[1] == pd.Timestamp("2026-03-31")


@pytest.fixture(scope="module")
def targeted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """The tiny data set with targets at every level: a company year target, a team with
    its own quarter targets (T1 in Q2) and one without (T2: its reps'), a rep target that
    names another team than the rep's (R3's in T1), month targets for R2."""
    f = tiny.frames()
    extra = pd.DataFrame(
        {
            "target_id": ["G5", "G6", "G7", "G8"],
            "kpi_id": ["won_revenue"] * 4,
            "period_grain": ["year", "quarter", "month", "month"],
            "period_start": [
                date(2024, 1, 1),
                date(2024, 4, 1),
                date(2024, 2, 1),
                date(2024, 5, 1),
            ],
            "rep_id": [None, "R3", "R2", "R2"],
            "team_id": [None, "T1", None, None],
            "value": [400000.0, 30000.0, 10000.0, 15000.0],
        }
    )
    f["targets"] = pd.concat([f["targets"], extra], ignore_index=True)
    store = connect(tmp_path_factory.mktemp("targets") / "tiny.duckdb")
    store.load_all(f)
    yield store
    store.close()


TINY_AS_OF = date(2024, 6, 30)
TARGET_FILTERS: list[dict[str, Any]] = [
    {},
    {"team": "T1"},
    {"team": "T2"},
    {"team": ["T1", "T2"]},
    {"rep": "R3"},
    {"rep": ["R1", "R3"]},
    {"rep": "R3", "team": "T1"},
    {"rep": "R3", "team": "T2"},
]


@pytest.mark.parametrize(
    "by", ["", "rep", "team", "rep,team", "quarter", "quarter,rep", "month,team"]
)
@pytest.mark.slow
def test_targets_from_the_unfiltered_rows_match_every_filter(targeted: Store, by: str) -> None:
    ctx = context(targeted, None, TINY_AS_OF)
    kept = Kept()
    try:
        for where in TARGET_FILTERS:
            q = Query.make(
                "won_revenue",
                by=by,
                start="2024-01-01",
                end=TINY_AS_OF,
                where=where,
                as_of=TINY_AS_OF,
            )
            p = plan(q)
            keys = [*(["period"] if p.grain else []), *(d.value for d in p.dims)]
            direct = target_rows(ctx, p, q).execute()
            rows = _rollup_targets(ctx, p, q, kept)
            assert rows is not None
            if not keys:  # the engine's one row, or none: one total either way
                total = direct["target"].sum(min_count=1)
                assert rows["target"].sum(min_count=1) == pytest.approx(total, nan_ok=True)
                continue
            pd.testing.assert_frame_equal(
                rows.sort_values(keys).reset_index(drop=True),
                direct.sort_values(keys).reset_index(drop=True),
                check_dtype=False,
            )
            # and joined beside the KPI's rows as the full query joins them
            _same(run(targeted, q, ctx=ctx).frame, run(targeted, q, ctx=ctx, rollups=kept).frame)
    finally:
        ctx.close()
    assert not [k for k in kept.rows if isinstance(k, tuple) and k[0] == "targets" and k[1].where]


def test_targets_by_hand_from_the_unfiltered_rows(targeted: Store) -> None:
    ctx = context(targeted, None, TINY_AS_OF)
    kept = Kept()

    def total(where: dict[str, Any]) -> float:
        q = Query.make(
            "won_revenue", start="2024-04-01", end=TINY_AS_OF, where=where, as_of=TINY_AS_OF
        )
        rows = _rollup_targets(ctx, plan(q), q, kept)
        assert rows is not None
        return float(rows["target"].sum(min_count=1))

    try:
        # Q2 2024: the company's year target counts a quarter (100,000)
        assert total({}) == 100000.0
        # T1 has its own Q2 target (150,000): that, not its reps' (R1 80,000; R3's 30,000)
        assert total({"team": "T1"}) == 150000.0
        # T2 has none: its reps' — R3's target names T1, so T2 has no rep target either
        assert np.isnan(total({"team": "T2"}))  # no target: no value, not 0
        # a rep filter: reps' targets only; R3's counts for the team on its row (T1)
        assert total({"rep": ["R1", "R3"]}) == 110000.0
        assert total({"rep": "R3", "team": "T1"}) == 30000.0
        # R2's month targets in Q2 (May: 15,000)
        assert total({"rep": "R2"}) == 15000.0
    finally:
        ctx.close()


PAGE_DERIVED = [
    ("quota_attainment", "rep", {}),
    ("quota_attainment", "team", {}),
    ("quota_attainment", "", {"team": "T1"}),
    ("quota_attainment", "rep", {"rep": ["R1", "R3"]}),
    ("pipeline_coverage", "rep", {"team": "T2"}),
    ("pipeline_coverage", "", {}),
    ("deal_velocity", "", {"region": "Noord"}),
    ("deal_velocity", "region", {}),
    ("clv", "", {}),
]


@pytest.mark.parametrize(("kpi_id", "by", "where"), PAGE_DERIVED)
@pytest.mark.slow
def test_derived_kpis_of_pages_are_answered_in_memory(
    targeted: Store, kpi_id: str, by: str, where: dict[str, Any]
) -> None:
    ctx = context(targeted, None, TINY_AS_OF)
    kept = Kept()
    try:
        q = Query.make(
            kpi_id, by=by, start="2024-01-01", end=TINY_AS_OF, where=where, as_of=TINY_AS_OF
        )
        in_memory = _derived_from_rollups(ctx, plan(q), q, kept)
        assert in_memory is not None  # no query compiled for it
        direct = run(targeted, q, ctx=ctx).frame
        rolled = run(targeted, q, ctx=ctx, rollups=kept).frame
        _same(direct, rolled)
        assert list(rolled.dtypes) == list(direct.dtypes)
        assert direct["value"].notna().any() or kpi_id == "pipeline_coverage"
    finally:
        ctx.close()


@pytest.mark.slow
def test_a_derived_kpi_per_period_takes_the_compile_path(targeted: Store) -> None:
    ctx = context(targeted, None, TINY_AS_OF)
    try:
        q = Query.make(
            "quota_attainment",
            by="quarter,rep",
            start="2024-01-01",
            end=TINY_AS_OF,
            as_of=TINY_AS_OF,
        )
        assert _derived_from_rollups(ctx, plan(q), q, Kept()) is None
        _same(run(targeted, q, ctx=ctx).frame, run(targeted, q, ctx=ctx, rollups=Kept()).frame)
    finally:
        ctx.close()


@pytest.mark.slow
def test_alerts_from_rollups_match_for_every_filter(demo: Store) -> None:
    from salespulse.analytics.alerts import list_alerts

    kept = Kept()
    for where in _filters(demo)[:4]:
        direct = list_alerts(demo, as_of=AS_OF, where=where)
        rolled = list_alerts(demo, as_of=AS_OF, where=where, rollups=kept)
        assert [a.kind for a in rolled] == [a.kind for a in direct]
        for d, r in zip(direct, rolled, strict=True):
            assert (r.count, r.available) == (d.count, d.available), d.kind
            pd.testing.assert_frame_equal(r.records, d.records, check_dtype=False)
    assert any(a.count for a in direct)
    # a new filter combination from the same unfiltered counts and records: no query
    computed = kept.computed
    list_alerts(
        demo,
        as_of=AS_OF,
        where={"team": _filters(demo)[1]["team"], "channel": "referral"},
        rollups=kept,
    )
    assert kept.computed == computed
