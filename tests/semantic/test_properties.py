"""Property tests of the KPI engine (hypothesis).

* Breakdowns add up to totals (generated demo data, random KPI × breakdown × as-of).
* Rates stay in [0, 1] and numerator ≤ denominator (tiny random CRM data sets).
* As-of results do not change when later data arrives: rows dated after D appended, and
  lifecycle fields (SQL date, close, task completion) filled in after D.
* A zero denominator gives null — never 0 or a NaN passed off as a number.

Each property runs a handful of examples: compiling a KPI costs ~0.1-0.3 s, so the
hypothesis budgets below keep each test under ~30 s.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from salespulse.demo import generate
from salespulse.semantic.query import Query, run
from salespulse.warehouse.store import Store, connect
from tests.semantic import reference_pandas as ref


def _budget(n: int) -> Any:
    # no shrinking: each example compiles several KPIs, and shrinking a failure would take
    # minutes; the failing example is printed as drawn
    return settings(
        max_examples=n,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        derandomize=True,
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
        print_blob=True,
    )


# -- a tiny canonical CRM, built by hypothesis -------------------------------------------
BASE = datetime(2024, 1, 1, 7, 0)
REPS = ["R1", "R2", "R3"]
OPEN_STAGES = ["S1", "S2", "S3"]
CHANNELS = ["web_form", "referral", "phone"]


def _static() -> dict[str, pd.DataFrame]:
    return {
        "teams": pd.DataFrame({"team_id": ["T1", "T2"], "name": ["Noord", "Zuid"]}),
        "reps": pd.DataFrame(
            {
                "rep_id": REPS,
                "name": ["Anna", "Bram", "Cor"],
                "team_id": ["T1", "T1", "T2"],
                "hired_on": [date(2020, 1, 1), date(2023, 6, 1), date(2024, 2, 1)],
            }
        ),
        "accounts": pd.DataFrame({"account_id": ["A1", "A2"], "name": ["Acme", "Bolt"]}),
        "products": pd.DataFrame(
            {"product_id": ["P1", "P2"], "name": ["Machine", "Part"], "product_line": ["m", "p"]}
        ),
        "pipelines": pd.DataFrame({"pipeline_id": ["P"], "name": ["Sales"]}),
        "stages": pd.DataFrame(
            {
                "stage_id": [*OPEN_STAGES, "WON", "LOST"],
                "pipeline_id": ["P"] * 5,
                "name": ["Qualify", "Propose", "Negotiate", "Won", "Lost"],
                "stage_order": [1, 2, 3, 4, 5],
                "probability": [0.1, 0.4, 0.8, 1.0, 0.0],
                "is_closed": [False, False, False, True, True],
                "is_won": [False, False, False, True, False],
                "is_required": [True, True, False, False, False],
            }
        ),
        "currency_rates": pd.DataFrame(
            {
                "currency": ["EUR", "USD", "USD"],
                "valid_from": [date(2020, 1, 1), date(2020, 1, 1), date(2024, 6, 1)],
                "rate": [1.0, 0.9, 0.95],
            }
        ),
    }


hours = st.integers(min_value=0, max_value=24 * 420)
gap = st.integers(min_value=1, max_value=24 * 90)
owner = st.sampled_from([*REPS, None])


@st.composite
def deals_and_history(draw: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    deals, hist = [], []
    for i in range(draw(st.integers(min_value=1, max_value=7))):
        created = BASE + timedelta(hours=draw(hours))
        path = draw(st.lists(st.sampled_from(OPEN_STAGES), min_size=1, max_size=4))
        end = draw(st.sampled_from([None, "WON", "LOST"]))
        at = created
        rows = []
        for stage in [*path, *([end] if end else [])]:
            rows.append({"deal_id": f"D{i}", "stage_id": stage, "entered_at": at})
            at = at + timedelta(hours=draw(gap))
        hist += rows
        amount = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=10**6)))
        deals.append(
            {
                "deal_id": f"D{i}",
                "owner_rep_id": draw(owner),
                "pipeline_id": "P",
                "stage_id": rows[-1]["stage_id"],
                "product_id": draw(st.sampled_from(["P1", "P2"])),
                "account_id": draw(st.sampled_from(["A1", "A2", None])),
                "amount": None if amount is None else float(amount),
                "currency": draw(st.sampled_from(["EUR", "USD"])),
                "created_at": created,
                "expected_close_on": (created + timedelta(days=90)).date(),
                "closed_at": rows[-1]["entered_at"] if end else None,
                "outcome": {"WON": "won", "LOST": "lost", None: None}[end],
            }
        )
    return deals, hist


@st.composite
def leads(draw: Any) -> list[dict[str, Any]]:
    out = []
    for i in range(draw(st.integers(min_value=1, max_value=6))):
        created = BASE + timedelta(hours=draw(hours))
        sql = draw(st.one_of(st.none(), gap))
        out.append(
            {
                "lead_id": f"L{i}",
                "channel": draw(st.sampled_from(CHANNELS)),
                "owner_rep_id": draw(owner),
                "created_at": created,
                "sql_at": None if sql is None else created + timedelta(hours=sql),
            }
        )
    return out


@st.composite
def activities(draw: Any, n_leads: int) -> list[dict[str, Any]]:
    out = []
    for i in range(draw(st.integers(min_value=1, max_value=10))):
        kind = draw(st.sampled_from(["call", "email", "meeting", "task", "note"]))
        at = BASE + timedelta(hours=draw(hours))
        done = draw(st.one_of(st.none(), gap)) if kind == "task" else None
        out.append(
            {
                "activity_id": f"X{i}",
                "activity_type": kind,
                "direction": draw(st.sampled_from(["outbound", "inbound"]))
                if kind in ("call", "email")
                else ("outbound" if kind == "meeting" else None),
                "rep_id": draw(st.sampled_from(REPS)),
                "lead_id": draw(st.sampled_from([None, *[f"L{j}" for j in range(n_leads)]])),
                "occurred_at": at,
                "due_at": at + timedelta(days=3) if kind == "task" else None,
                "completed_at": None if done is None else at + timedelta(hours=done),
            }
        )
    return out


@st.composite
def crm(draw: Any) -> dict[str, pd.DataFrame]:
    deals, hist = draw(deals_and_history())
    lds = draw(leads())
    frames = _static()
    frames["deals"] = pd.DataFrame(deals)
    frames["deal_stage_history"] = pd.DataFrame(hist)
    frames["leads"] = pd.DataFrame(lds)
    frames["activities"] = pd.DataFrame(draw(activities(len(lds))))
    return frames


as_of_dates = st.dates(min_value=date(2024, 2, 1), max_value=date(2025, 2, 1))


def _store(path: Path, frames: dict[str, pd.DataFrame]) -> Store:
    store = connect(path)
    store.load_all(frames)
    return store


def _frame(store: Store, kpi: str, by: str, as_of: date, **kw: Any) -> pd.DataFrame:
    return run(store, Query.make(kpi, by=by, as_of=as_of, **kw)).frame


def _comparable(f: pd.DataFrame) -> list[tuple[Any, ...]]:
    drop = {"rep_name", "team_name", "product_name", "stage_name", "target", "attainment"}
    cols = [c for c in f.columns if c not in drop]
    return [
        tuple(None if pd.isna(v) else (round(v, 9) if isinstance(v, float) else str(v)) for v in r)
        for r in f[cols].itertuples(index=False)
    ]


# -- breakdowns add up (generated demo data) ---------------------------------------------
@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = connect(tmp_path_factory.mktemp("props") / "demo.duckdb")
    generate(store, 3, "demo", date(2026, 11, 15))
    yield store
    store.close()


ADDITIVE = {
    "won_revenue": ("rep", "channel", "product", "industry"),
    "won_deals": ("rep", "team", "product_line", "pipeline"),
    "new_deals": ("rep", "channel"),
    "new_leads": ("channel", "rep", "industry"),
    "sqls": ("channel", "rep"),
    "calls": ("rep", "team", "region"),
    "activities": ("activity_type", "rep"),
    "open_deals": ("stage", "rep", "product"),
    "open_pipeline": ("stage", "rep", "channel"),
    "stale_deals": ("stage", "rep"),
    "win_rate": ("rep", "channel"),  # numerators and denominators add up
    "call_email_balance": ("rep",),
}


@_budget(8)
@given(
    kpi=st.sampled_from(sorted(ADDITIVE)),
    pick=st.integers(min_value=0, max_value=10),
    as_of=st.dates(min_value=date(2024, 3, 1), max_value=date(2026, 11, 14)),
)
@pytest.mark.slow
def test_breakdowns_add_up_to_totals(demo: Store, kpi: str, pick: int, as_of: date) -> None:
    dims = ADDITIVE[kpi]
    dim = dims[pick % len(dims)]
    total = _frame(demo, kpi, "", as_of)
    parts = _frame(demo, kpi, dim, as_of)
    for col in ("value", "numerator", "denominator"):
        if col == "value" and "numerator" in total.columns:
            continue  # a ratio's value does not add up; its parts do
        if col in total.columns:
            assert parts[col].sum() == pytest.approx(total[col].iloc[0], rel=1e-9), (kpi, dim)
    # and by period too: the months of the last year add up to the year
    year = {"start": as_of - timedelta(days=364), "end": as_of}
    if kpi not in ("open_deals", "open_pipeline", "stale_deals"):
        whole = _frame(demo, kpi, "", as_of, **year)
        months = _frame(demo, kpi, "month", as_of, **year)
        col = "numerator" if "numerator" in whole.columns else "value"
        assert months[col].sum() == pytest.approx(whole[col].iloc[0], rel=1e-9), kpi


# -- rates stay in [0, 1] ---------------------------------------------------------------
RATES = [
    ("win_rate", "rep"),
    ("stage_conversion", "stage"),
    ("stage_win_rate", "stage"),
    ("sql_owner_share", "channel"),
    ("sql_followup_share", "rep"),
    ("first_response_sla_share", "rep"),
    ("call_email_balance", "rep"),
    ("tasks_completed_share", "rep"),
    ("lead_to_sql_rate", "channel"),
    ("stage_skip_share", "rep"),
    ("crm_feature_share", "rep"),
]


@pytest.mark.parametrize("part", range(3))
@_budget(3)
@given(frames=crm(), as_of=as_of_dates)
@pytest.mark.slow
def test_rates_stay_in_unit_interval(
    tmp_path_factory: pytest.TempPathFactory,
    frames: dict[str, pd.DataFrame],
    as_of: date,
    part: int,
) -> None:
    store = _store(tmp_path_factory.mktemp("rates") / "r.duckdb", frames)
    try:
        for kpi, by in RATES[part::3]:
            f = _frame(store, kpi, by, as_of)
            for _, row in f.iterrows():
                is_ratio = "denominator" in f.columns
                if pd.isna(row.value):
                    assert is_ratio and row.denominator == 0, (kpi, row.to_dict())
                    continue
                assert 0.0 <= row.value <= 1.0, (kpi, row.to_dict())
                if is_ratio:
                    assert 0 <= row.numerator <= row.denominator, (kpi, row.to_dict())
    finally:
        store.close()


# -- as-of results do not change when later data arrives -----------------------------
AS_OF_KPIS = [
    ("won_revenue", "rep,quarter"),
    ("win_rate", "rep"),
    ("avg_sales_cycle", "product"),
    ("open_deals", "stage"),
    ("open_pipeline", "rep"),
    ("stale_deals", "stage"),
    ("stage_conversion", "stage"),
    ("time_in_stage_median", "stage"),
    ("sqls", "channel,month"),
    ("first_response_hours", "rep"),
    ("new_leads", "channel"),
    ("leads_by_status", "lead_status"),
    ("calls", "rep,month"),
    ("tasks_completed_share", "rep"),
    ("skipped_stage_deals", "rep"),
    ("email_only_late_deals", "rep"),
]


def _known_at(frames: dict[str, pd.DataFrame], as_of: date, *, blank: bool) -> dict[str, Any]:
    """Only the rows that existed at the end of local day ``as_of``; with ``blank``, also
    the fields filled in later emptied (as an export taken that day would show them)."""
    cut = ref.cutoff(as_of)
    out = dict(frames)
    d = frames["deals"]
    out["deals"] = d[d.created_at < cut].copy()
    h = frames["deal_stage_history"]
    out["deal_stage_history"] = h[h.entered_at < cut]
    lead = frames["leads"]
    out["leads"] = lead[lead.created_at < cut].copy()
    a = frames["activities"]
    out["activities"] = a[a.occurred_at < cut].copy()
    if blank:
        dd, ll, aa = out["deals"], out["leads"], out["activities"]
        later = dd.closed_at.notna() & (dd.closed_at >= cut)
        dd.loc[later, ["closed_at", "outcome"]] = None
        ll["sql_at"] = ll.sql_at.where(ll.sql_at < cut)
        aa["completed_at"] = aa.completed_at.where(aa.completed_at < cut)
    return out


@dataclass
class _Pair:
    before: Store
    after: Store

    def close(self) -> None:
        self.before.close()
        self.after.close()


def _pair(tmp: Path, frames: dict[str, pd.DataFrame], as_of: date, blank: bool) -> _Pair:
    return _Pair(
        _store(tmp / "before.duckdb", _known_at(frames, as_of, blank=blank)),
        _store(tmp / "after.duckdb", frames),
    )


@pytest.mark.parametrize("part", range(4))
@pytest.mark.parametrize(
    "blank",
    [False, True],
    ids=["later rows appended", "fields filled in later"],
)
@_budget(3)
@given(frames=crm(), as_of=as_of_dates)
@pytest.mark.slow
def test_as_of_unchanged_by_later_data(
    tmp_path_factory: pytest.TempPathFactory,
    frames: dict[str, pd.DataFrame],
    as_of: date,
    part: int,
    blank: bool,
) -> None:
    """As of D, a KPI is the same whether or not rows dated after D exist, and (``blank``)
    whether or not fields dated after D (SQL, close, completion dates) are filled in."""
    pair = _pair(tmp_path_factory.mktemp("later"), frames, as_of, blank=blank)
    try:
        for kpi, by in AS_OF_KPIS[part::4]:
            before = _frame(pair.before, kpi, by, as_of)
            after = _frame(pair.after, kpi, by, as_of)
            assert _comparable(before) == _comparable(after), kpi
    finally:
        pair.close()


# -- zero denominators give null ---------------------------------------------------------
def _zero_frames() -> dict[str, pd.DataFrame]:
    """R1 works normally; R2 only writes notes, wins a deal without amount and answers no
    SQL; in 2024-Q4 only R1 has anything in the pipeline (R2's deal closed and its lead was
    disqualified in Q3)."""
    f = _static()
    t = datetime(2024, 7, 1, 9)
    f["deals"] = pd.DataFrame(
        {
            "deal_id": ["D1", "D2", "D3"],
            "owner_rep_id": ["R1", "R2", "R1"],
            "pipeline_id": ["P", "P", "P"],
            "stage_id": ["WON", "WON", "S1"],
            "amount": [1000.0, None, 500.0],
            "currency": ["EUR", "EUR", "EUR"],
            "created_at": [t, t, datetime(2024, 10, 10, 9)],
            "closed_at": [t + timedelta(days=5), t + timedelta(days=5), None],
            "outcome": ["won", "won", None],
        }
    )
    f["deal_stage_history"] = pd.DataFrame(
        {
            "deal_id": ["D1", "D1", "D2", "D2", "D3"],
            "stage_id": ["S1", "WON", "S1", "WON", "S1"],
            "entered_at": [*[t, t + timedelta(days=5)] * 2, datetime(2024, 10, 10, 9)],
        }
    )
    f["leads"] = pd.DataFrame(
        {
            "lead_id": ["L1", "L2"],
            "channel": ["phone", "phone"],
            "owner_rep_id": ["R1", "R2"],
            "created_at": [t, t],
            "sql_at": [t + timedelta(hours=1)] * 2,
            "disqualified_at": [None, datetime(2024, 8, 1, 9)],
        }
    )
    f["activities"] = pd.DataFrame(
        {
            "activity_id": ["X1", "X2"],
            "activity_type": ["call", "note"],
            "direction": ["outbound", None],
            "rep_id": ["R1", "R2"],
            "lead_id": ["L1", None],
            "occurred_at": [t + timedelta(hours=2)] * 2,
        }
    )
    return f


Q3 = {"as_of": date(2024, 9, 30)}
ZERO_CASES = [
    ("call_email_balance", "rep", Q3, "R2"),  # only notes: no calls, no e-mails
    ("avg_deal_size", "rep", Q3, "R2"),  # won deal without amount
    ("first_response_hours", "rep", Q3, "R2"),  # SQL never answered
    ("tasks_completed_share", "rep", Q3, None),  # no tasks at all: no rows, nothing to be 0
    (
        "conversion_rate",  # R2's deal closed, its lead disqualified before Q4
        "rep",
        {"as_of": date(2024, 12, 31), "start": date(2024, 10, 1), "end": date(2024, 12, 31)},
        "R2",
    ),
]


@pytest.mark.parametrize(("kpi", "by", "kw", "rep"), ZERO_CASES, ids=[c[0] for c in ZERO_CASES])
def test_zero_denominator_gives_null(
    tmp_path: Path, kpi: str, by: str, kw: dict[str, Any], rep: str | None
) -> None:
    store = _store(tmp_path / "z.duckdb", _zero_frames())
    try:
        res = run(store, Query.make(kpi, by=by, **kw))
    finally:
        store.close()
    f = res.frame.set_index(by)
    if rep is None:
        assert f.empty
        return
    row = f.loc[rep]
    assert row.denominator == 0
    assert pd.isna(row.value)
    as_json = {r[by]: r for r in res.to_dict()["rows"]}
    assert as_json[rep]["value"] is None  # null in JSON, not 0 or NaN
    others = f.drop(index=rep)
    assert others.value.notna().any()  # the other reps do have a value


def test_zero_staff_at_start_gives_null(tmp_path: Path) -> None:
    """A year in which nobody was on staff at the start: retention has no value."""
    f = _static()
    f["reps"] = pd.DataFrame(
        {"rep_id": ["R1"], "name": ["Anna"], "team_id": ["T1"], "hired_on": [date(2024, 3, 1)]}
    )
    store = _store(tmp_path / "s.duckdb", f)
    try:
        res = run(store, Query.make("staff_retention", by="year", as_of="2024-12-31"))
    finally:
        store.close()
    row = res.frame.iloc[0]
    assert row.denominator == 0 and pd.isna(row.value)
    assert res.to_dict()["rows"][0]["value"] is None


@pytest.mark.slow
def test_sqls_as_of_unchanged_when_first_sql_date_arrives_later(tmp_path: Path) -> None:
    f = _static()
    f["leads"] = pd.DataFrame(
        {
            "lead_id": ["L1", "L2"],
            "channel": ["phone", "phone"],
            "owner_rep_id": ["R1", "R1"],
            "created_at": [datetime(2024, 3, 1, 9), datetime(2024, 3, 2, 9)],
        }
    )
    later = pd.DataFrame(
        {
            "lead_id": ["L3"],
            "channel": ["phone"],
            "owner_rep_id": ["R1"],
            "created_at": [datetime(2024, 5, 1, 9)],
            "sql_at": [datetime(2024, 5, 2, 9)],
        }
    )
    before = _store(tmp_path / "before.duckdb", f)
    after = _store(tmp_path / "after.duckdb", {**f, "leads": pd.concat([f["leads"], later])})
    try:
        got = [_comparable(_frame(s, "sqls", "month", date(2024, 3, 31))) for s in (before, after)]
    finally:
        before.close()
        after.close()
    assert got[0] == got[1]
