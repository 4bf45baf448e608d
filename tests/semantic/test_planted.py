"""The product finds every pattern planted in the demo data (docs/demo-data.md).

The generator's own tests check with plain SQL that the patterns are in the data; these
check that the KPIs and alerts — the product — point at the same reps, channel and product.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pandas as pd
import pytest

from salespulse.analytics.alerts import list_alerts
from salespulse.demo import generate
from salespulse.demo.patterns import PLANTED
from salespulse.semantic.query import Query, run
from salespulse.warehouse.store import Store, connect

TODAY = date(2026, 11, 15)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = connect(tmp_path_factory.mktemp("planted") / "demo.duckdb")
    generate(store, 11, "demo", TODAY)
    yield store
    store.close()


def kpi(store: Store, kpi_id: str, by: str = "", **kw: object) -> pd.DataFrame:
    return run(store, Query.make(kpi_id, by=by, as_of=TODAY, **kw)).frame  # type: ignore[arg-type]


def by_rep(frame: pd.DataFrame, min_denominator: float = 0) -> pd.Series:
    if "denominator" in frame:
        frame = frame[frame.denominator >= min_denominator]
    return frame.set_index("rep")["value"].dropna().sort_values(ascending=False)


def test_finds_the_stage_skipper(demo: Store) -> None:
    share = by_rep(kpi(demo, "stage_skip_share", "rep"), min_denominator=20)
    assert share.index[0] == PLANTED.stage_skipper_rep_id
    assert share.iloc[0] > PLANTED.skipper_min_share
    assert (share.iloc[1:] < PLANTED.others_max_skip_share).all()


def test_finds_the_email_only_rep(demo: Store) -> None:
    share = by_rep(kpi(demo, "email_only_late_share", "rep"), min_denominator=5)
    assert share.index[0] == PLANTED.email_only_rep_id
    assert share.iloc[0] > 0.9
    assert share.iloc[1] < 0.5


def test_finds_the_slow_responder(demo: Store) -> None:
    hours = by_rep(kpi(demo, "first_response_hours", "rep"), min_denominator=5)
    assert hours.index[0] == PLANTED.slow_responder_rep_id
    assert hours.iloc[0] > PLANTED.slow_response_min_mean_hours
    median_bh = by_rep(kpi(demo, "first_response_median", "rep"))
    others = median_bh.drop(PLANTED.slow_responder_rep_id)
    assert (others < PLANTED.normal_response_max_business_hours).mean() > 0.5


@pytest.mark.slow
def test_finds_the_stale_deals(demo: Store) -> None:
    stale = kpi(demo, "stale_deals")
    assert stale["value"].iloc[0] == PLANTED.stale_deals
    alert = next(a for a in list_alerts(demo, as_of=TODAY) if a.kind == "stale_deals")
    assert alert.count == stale["value"].iloc[0]
    # precision and recall against the planted ones (2.5-3.5 × their line's cap in stage)
    recs = alert.records
    lines = recs.product_line.map(PLANTED.stage_cap_days)
    days = (pd.Timestamp(TODAY) - pd.to_datetime(recs.valid_from)).dt.total_seconds() / 86400
    assert len(recs) == PLANTED.stale_deals and (days > 2 * lines).all()


def test_finds_the_leaky_channel(demo: Store) -> None:
    rate = kpi(demo, "lead_to_sql_rate", "channel").set_index("channel")["value"]
    assert rate.idxmin() == PLANTED.junk_channel
    assert rate.min() < PLANTED.junk_max_sql_rate
    leads = kpi(demo, "new_leads", "channel").set_index("channel")["value"]
    assert leads.idxmax() == PLANTED.junk_channel  # many leads …
    won = kpi(demo, "lead_to_won_rate", "channel").set_index("channel")["value"]
    assert won.idxmin() == PLANTED.junk_channel  # … that rarely convert


def test_finds_the_long_cycle_product(demo: Store) -> None:
    cycle = kpi(demo, "avg_sales_cycle", "product").set_index("product")["value"]
    assert cycle.idxmax() == PLANTED.long_cycle_product_id
    assert cycle.max() >= PLANTED.long_cycle_days[0]
    assert cycle.drop(PLANTED.long_cycle_product_id).max() <= PLANTED.machine_cycle_days[1]


@pytest.mark.slow
def test_finds_the_unassigned_backlog(demo: Store) -> None:
    backlog = kpi(demo, "unassigned_leads")["value"].iloc[0]
    # the planted backlog plus leads of the last days not assigned yet, counted in plain SQL
    plain = demo.con.raw_sql(  # type: ignore[attr-defined]
        "select count(*) from leads l where owner_rep_id is null and disqualified_at is null "
        "and not exists (select 1 from deals d where d.lead_id = l.lead_id)"
    ).fetchone()[0]
    assert backlog == plain >= PLANTED.backlog_for("demo")
    alert = next(a for a in list_alerts(demo, as_of=TODAY) if a.kind == "unassigned_leads")
    assert alert.count == backlog and len(alert.records) == backlog


def test_finds_the_referrals(demo: Store) -> None:
    referrals = kpi(demo, "referrals")["value"].iloc[0]
    channel = kpi(demo, "new_leads", "channel").set_index("channel")["value"]
    # every referral-channel lead came from an active customer
    assert referrals == channel[PLANTED.referral_channel] > 0
