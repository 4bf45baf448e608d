"""Figures a manager steers on, worked out by hand on the tiny data set plus a few rows.

Each test here failed before the one-compile-path redesign (issue #8): derived KPIs over
the full dimension, targets that belong to their own period, retention within 0-100 %,
dormant leads leaving the pipeline, one-off orders in ACV per year.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from salespulse.analytics.alerts import list_alerts
from salespulse.semantic.catalogue import all_kpis
from salespulse.semantic.query import Query, explain, records, run
from salespulse.settings import Settings
from salespulse.warehouse.store import Store, connect
from tests.semantic import tiny

AS_OF = date(2024, 6, 30)


def _frames() -> dict[str, pd.DataFrame]:
    """The tiny data set with: a 2024 company target (year), a Q3 target for R1, a won-back
    customer A3, a churned customer A4, a one-off order, a hire (R5) who left again, a lead
    without a channel (L6) and one whose source says "unknown" (L7)."""
    f = tiny.frames()
    f["targets"] = pd.concat(
        [
            f["targets"],
            pd.DataFrame(
                {
                    "target_id": ["G5", "G6"],
                    "kpi_id": ["won_revenue"] * 2,
                    "period_grain": ["year", "quarter"],
                    "period_start": [date(2024, 1, 1), date(2024, 7, 1)],
                    "rep_id": [None, "R1"],
                    "team_id": [None, None],
                    "value": [400000.0, 90000.0],
                }
            ),
        ],
        ignore_index=True,
    )
    f["accounts"] = pd.concat(
        [
            f["accounts"],
            pd.DataFrame(
                {
                    "account_id": ["A4"],
                    "name": ["Dyke"],
                    "industry": ["food"],
                    "owner_rep_id": ["R2"],
                }
            ),
        ],
        ignore_index=True,
    )
    f["contracts"] = pd.concat(
        [
            f["contracts"],
            pd.DataFrame(
                {
                    # C4: A3 a customer in 2022 only; C5: won back in May 2024
                    # C6: A4 a customer until March 2024 (churned); C7: a one-off order
                    "contract_id": ["C4", "C5", "C6", "C7"],
                    "account_id": ["A3", "A3", "A4", "A2"],
                    "signed_on": [
                        date(2022, 1, 10),
                        date(2024, 5, 1),
                        date(2023, 2, 1),
                        date(2024, 5, 10),
                    ],
                    "start_on": [
                        date(2022, 2, 1),
                        date(2024, 5, 1),
                        date(2023, 2, 1),
                        date(2024, 5, 10),
                    ],
                    "end_on": [
                        date(2022, 12, 31),
                        date(2025, 4, 30),
                        date(2024, 3, 31),
                        date(2024, 5, 10),
                    ],
                    "value": [10000.0, 12000.0, 8000.0, 5000.0],
                    "currency": ["EUR"] * 4,
                }
            ),
        ],
        ignore_index=True,
    )
    f["leads"] = pd.concat(
        [
            f["leads"],
            pd.DataFrame(
                {
                    # L6: the source left the channel empty; L7: the source says "unknown"
                    "lead_id": ["L6", "L7"],
                    "channel": [None, "unknown"],
                    "owner_rep_id": ["R1", "R1"],
                    "created_at": [pd.Timestamp("2024-05-02 09:00")] * 2,
                }
            ),
        ],
        ignore_index=True,
    )
    f["reps"] = pd.concat(
        [
            f["reps"],
            pd.DataFrame(
                {
                    "rep_id": ["R5"],
                    "name": ["Eva"],
                    "team_id": ["T2"],
                    "hired_on": [date(2024, 2, 1)],
                    "left_on": [date(2024, 5, 31)],
                }
            ),
        ],
        ignore_index=True,
    )
    return f


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    s = connect(Path(tmp_path_factory.mktemp("steer")) / "steer.duckdb")
    s.load_all(_frames())
    yield s
    s.close()


def frame(store: Store, kpi: str, by: str = "", **kw: object) -> pd.DataFrame:
    kw.setdefault("as_of", AS_OF)
    return run(store, Query.make(kpi, by=by, **kw)).frame  # type: ignore[arg-type]


def _none(v: object) -> object:
    return None if v is None or (isinstance(v, float) and v != v) else v


@pytest.mark.slow
def test_quota_attainment_lists_every_rep_on_staff(store: Store) -> None:
    f = frame(store, "quota_attainment", by="rep,quarter")
    got = {(r.rep, str(r.period)[:10]): _none(r.value) for r in f.itertuples()}
    # won: R1 100,000 in Q2 (D1, 1 April local); R3 9,000 in Q1 (D4, 10,000 USD × 0.9)
    # quotas: R1 50,000 (Q1), 80,000 (Q2); R3 20,000 (Q1). R2 and R4 have none.
    # R4 joined in April, R5 was on staff February-May; R3 left on 30 June.
    assert got == {
        ("R1", "2024-01-01"): 0.0,  # a quota and nothing won: 0 %, not missing
        ("R1", "2024-04-01"): 1.25,
        ("R2", "2024-01-01"): None,
        ("R2", "2024-04-01"): None,
        ("R3", "2024-01-01"): 0.45,
        ("R3", "2024-04-01"): None,
        ("R4", "2024-04-01"): None,
        ("R5", "2024-01-01"): None,
        ("R5", "2024-04-01"): None,
    }
    assert dict(zip(f.rep, f.rep_name, strict=True))["R1"] == "Anna"


@pytest.mark.slow
def test_pipeline_coverage_has_rep_names_and_every_rep(store: Store) -> None:
    f = frame(store, "pipeline_coverage", by="rep")
    assert set(f.rep) == {"R1", "R2", "R3", "R4"}  # R5 left before the quarter's as-of
    assert f.rep_name.notna().all()
    r1 = f[f.rep == "R1"].iloc[0]
    # forecast this quarter: D2 20,000 × 0.4 (overdue → as-of); won 100,000 > quota 80,000
    assert (r1.forecast, r1.won, r1.quota, r1.denominator) == (8000.0, 100000.0, 80000.0, -20000.0)
    assert _none(r1.value) is None  # quota met: no value
    t = frame(store, "pipeline_coverage", by="team")
    t1 = t[t.team == "T1"].iloc[0]
    # T1: its own Q2 quota 150,000 − won 100,000 = 50,000 to go; forecast 8,000
    assert t1.value == pytest.approx(8000 / 50000)
    assert t1.team_name == "Noord-team"


@pytest.mark.slow
def test_an_annual_target_counts_in_its_own_period(store: Store) -> None:
    q = frame(store, "won_revenue", by="quarter")
    # the company's 400,000 for 2024 is spread over its quarters (no company quarter rows)
    assert dict(zip(q.period.astype(str).str[:10], q.target, strict=True)) == {
        "2024-01-01": 100000.0,
        "2024-04-01": 100000.0,
    }
    y = frame(store, "won_revenue", by="year")
    assert y.target.tolist() == [400000.0]
    # a rep's year = the sum of the rep's quarters (R1: 50,000 + 80,000 + 90,000 in Q3)
    ry = frame(store, "won_revenue", by="rep,year")
    assert dict(zip(ry.rep, ry.target, strict=True))["R1"] == 220000.0


def test_without_a_period_only_targets_started_by_as_of_count(store: Store) -> None:
    f = frame(store, "won_revenue", by="rep")
    # R1: Q1 50,000 + Q2 80,000; the Q3 quota (90,000) has not started on 30 June
    assert dict(zip(f.rep, f.target, strict=True))["R1"] == 130000.0


@pytest.mark.slow
def test_a_team_filter_uses_that_teams_targets(store: Store) -> None:
    f = frame(store, "won_revenue", by="quarter", where={"team": "T1"})
    got = dict(zip(f.period.astype(str).str[:10], f.target, strict=True))
    # Q1: T1 has no own target → its reps' (R1 50,000); Q2: T1's own 150,000
    assert got == {"2024-04-01": 150000.0}  # T1 won nothing in Q1: no Q1 row
    a = frame(store, "quota_attainment", by="quarter", where={"team": "T1"})
    got_a = {str(r.period)[:10]: (r.won, r.quota) for r in a.itertuples()}
    assert got_a == {"2024-01-01": (0.0, 50000.0), "2024-04-01": (100000.0, 150000.0)}


def test_customer_retention_stays_within_0_and_100(store: Store) -> None:
    by = {"by": "year", "start": date(2024, 1, 1)}
    # 1 Jan 2024: customers A1, A4. 30 June: A1, A2 (new), A3 (won back); A4 churned.
    assert frame(store, "customer_retention", **by).value.tolist() == [50.0]  # type: ignore[arg-type]
    assert frame(store, "customer_churn", **by).value.tolist() == [50.0]  # type: ignore[arg-type]
    assert frame(store, "customer_reactivations", **by).value.tolist() == [1.0]  # type: ignore[arg-type]
    assert frame(store, "new_customers", **by).value.tolist() == [1.0]  # type: ignore[arg-type]
    churn = frame(store, "customer_churn", **by)  # type: ignore[arg-type]
    assert (churn.numerator.tolist(), churn.denominator.tolist()) == ([1.0], [2.0])


def test_staff_retention_does_not_subtract_a_hire_who_left(store: Store) -> None:
    f = frame(store, "staff_retention", by="year", start=date(2024, 1, 1))
    # at start R1-R3; all three still there on 30 June (R3 leaves that day) → 100 %;
    # hires R4 (stays) and R5 (left in May) are not part of "retained"
    assert (f.numerator.tolist(), f.denominator.tolist(), f.value.tolist()) == (
        [3.0],
        [3.0],
        [100.0],
    )


def test_acv_per_year_counts_a_one_off_order_once(store: Store) -> None:
    f = frame(store, "acv_per_year", by="year", start=date(2024, 1, 1))
    # signed in 2024: C2 100,000 over 12 months, C5 12,000 over 12 months, C7 a one-off
    # 5,000 (not 5,000 × 12)
    assert f.value.tolist() == [pytest.approx((100000 + 12000 + 5000) / 3)]


@pytest.mark.slow
def test_dormant_leads_leave_the_pipeline(store: Store) -> None:
    q = Query.make("conversion_rate", start="2024-04-01", end="2024-06-30", as_of=AS_OF)
    ids = set(records(store, q).id)
    assert "L4" in ids  # no activity since 1 March: dormant on 29 June (120 days)
    short = Settings(lead_dormant_days=30)
    assert "L4" not in set(records(store, q, settings=short).id)  # dormant since 31 March


@pytest.mark.slow
def test_every_kpi_explains_itself_with_its_sql(store: Store) -> None:
    for k in all_kpis():
        text = explain(store, Query.make(k.id, as_of=AS_OF))
        assert k.definition in text and "SELECT" in text, k.id
    text = explain(store, Query.make("pipeline_coverage", as_of=AS_OF))
    assert "forecast = value of forecast" in text and "2024-04-01 – 2024-06-30" in text


def test_records_json_is_strict(store: Store) -> None:
    from salespulse.serialize import dumps

    out = dumps(records(store, Query.make("open_deals", as_of=AS_OF)).to_dict(orient="records"))

    def refuse(name: str) -> None:
        raise AssertionError(f"non-JSON constant {name}")

    rows = json.loads(out, parse_constant=refuse)
    assert {r["deal_id"] for r in rows} == {"D2", "D5"}


@pytest.mark.slow
def test_slow_responders_alert_names_the_rep_and_its_window(store: Store) -> None:
    found = {a.kind: a for a in list_alerts(store, as_of=date(2024, 2, 28))}
    a = found["slow_responders"]
    assert (a.start, a.end) == (date(2023, 12, 1), date(2024, 2, 28))  # the last 90 days
    # R1: L1 answered after 65 clock hours (Fri 16:00 → Mon 09:00 local), L3 unanswered
    # past the SLA → mean 65 h > 42 h and 1 of 2 within the SLA; R2 answered L2 in 4 h
    assert a.records.rep.tolist() == ["R1"]
    assert a.records.mean_response_hours.tolist() == [65.0]
    assert a.records.within_sla_share.tolist() == [0.5]
    assert a.count == 1 and a.to_dict()["start"] == "2023-12-01"


@pytest.mark.slow
def test_late_stage_alert_counts_lost_deals_and_no_contact(store: Store) -> None:
    a = next(x for x in list_alerts(store, as_of=date(2024, 4, 30)) if x.kind.startswith("email"))
    # D3 (lost on 2 April) had only an e-mail in Negotiate; D2 nothing at all in Proposal
    got = dict(zip(a.records.deal_id, a.records.late_contact, strict=True))
    assert got == {"D2": "none", "D3": "email"} and a.count == 2


def test_an_empty_channel_is_not_the_sources_unknown(store: Store) -> None:
    f = frame(store, "new_leads", by="channel", start=date(2024, 5, 1), end=date(2024, 5, 31))
    assert dict(zip(f.channel, f.value, strict=True)) == {"not_set": 1.0, "unknown": 1.0}
    # a filter on the empty channel works like any other value
    g = frame(store, "new_leads", where={"channel": "not_set"}, start=date(2024, 5, 1))
    assert g.value.tolist() == [1.0]
