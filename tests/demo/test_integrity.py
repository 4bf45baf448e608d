"""The generated data is a consistent CRM: keys, stage history, lifecycles, time."""

from __future__ import annotations

from typing import Any

from salespulse.demo import PLANTED
from salespulse.warehouse.store import Store, check_keys
from tests.demo.conftest import TODAY


def one(sql: Any, query: str) -> Any:
    return sql(query)[0][0]


def test_keys_are_unique_and_references_resolve(demo_store: Store) -> None:
    assert check_keys(demo_store) == []


def test_demo_scale_has_the_expected_size(demo_store: Store) -> None:
    counts = demo_store.counts()
    assert counts["teams"] == 4 and counts["stages"] == 7 and counts["pipelines"] == 1
    assert 2_000 <= counts["deals"] <= 5_000
    assert counts["activities"] >= 15 * counts["deals"]
    assert counts["leads"] > 3 * counts["deals"]
    for name in ("accounts", "contracts", "targets", "currency_rates", "deal_stage_history"):
        assert counts[name] > 0, name


def test_about_twenty_selling_reps_at_a_time(sql: Any) -> None:
    employed_today = one(
        sql,
        f"select count(*) from reps where manager_rep_id in "
        f"(select manager_rep_id from teams) and (left_on is null or left_on >= '{TODAY}')",
    )
    assert 18 <= employed_today <= 30
    assert one(sql, "select count(*) from reps where left_on is not null") >= 2
    assert one(sql, "select count(*) from reps where hired_on >= date '2023-11-15'") >= 2


def test_deal_stage_is_the_last_history_stage_and_created_is_the_first(sql: Any) -> None:
    bad = one(
        sql,
        """
        with h as (
          select deal_id,
                 arg_max(stage_id, entered_at) as last_stage,
                 min(entered_at) as first_at
          from deal_stage_history group by deal_id)
        select count(*) from deals d left join h using (deal_id)
        where h.deal_id is null or d.stage_id <> h.last_stage or d.created_at <> h.first_at
        """,
    )
    assert bad == 0


def test_closed_deals_match_their_final_stage(sql: Any) -> None:
    bad = one(
        sql,
        """
        select count(*) from deals d join stages s using (stage_id)
        where (s.is_closed and (d.closed_at is null
                               or d.outcome is distinct from case when s.is_won then 'won'
                                                                   else 'lost' end))
           or (not s.is_closed and (d.closed_at is not null or d.outcome is not null))
           or (d.closed_at is not null and d.closed_at <> (
                 select max(entered_at) from deal_stage_history h where h.deal_id = d.deal_id))
        """,
    )
    assert bad == 0
    assert one(sql, "select count(*) from deals where outcome = 'won'") > 300
    assert one(sql, "select count(*) from deals where closed_at is null") > 100


def test_history_has_reentries_and_reopened_deals(sql: Any) -> None:
    reentries = one(
        sql,
        "select count(distinct deal_id) from (select deal_id, stage_id from deal_stage_history "
        "group by all having count(*) > 1)",
    )
    reopened = one(
        sql,
        """
        select count(distinct h.deal_id) from deal_stage_history h
        join stages s using (stage_id)
        where s.is_closed and exists (
          select 1 from deal_stage_history h2 join stages s2 on s2.stage_id = h2.stage_id
          where h2.deal_id = h.deal_id and h2.entered_at > h.entered_at and not s2.is_closed)
        """,
    )
    assert reentries >= 10
    assert reopened >= 5


def test_nothing_happens_on_or_after_today(sql: Any) -> None:
    checks = {
        "leads": ["created_at", "assigned_at", "mql_at", "sql_at", "disqualified_at"],
        "deals": ["created_at", "closed_at", "updated_at"],
        "deal_stage_history": ["entered_at"],
        "activities": ["occurred_at", "completed_at"],
        "accounts": ["created_at"],
    }
    for table, cols in checks.items():
        for col in cols:
            assert one(sql, f"select count(*) from {table} where {col} >= '{TODAY}'") == 0, col
    assert one(sql, f"select count(*) from contracts where signed_on >= '{TODAY}'") == 0
    assert one(sql, f"select count(*) from reps where hired_on >= '{TODAY}'") == 0


def test_lead_lifecycle_is_ordered(sql: Any) -> None:
    bad = one(
        sql,
        """
        select count(*) from leads
        where assigned_at < created_at or mql_at < created_at or sql_at < mql_at
           or (sql_at is not null and mql_at is null)
           or (sql_at is not null and disqualified_at is not null)
           or (assigned_at is null) <> (owner_rep_id is null)
        """,
    )
    assert bad == 0
    # every SQL lead that is old enough has a deal
    missing = one(
        sql,
        f"select count(*) from leads where sql_at < date '{TODAY}' - interval 14 day "
        "and lead_id not in (select lead_id from deals)",
    )
    assert missing == 0


def test_deals_start_after_the_sql_of_their_lead(sql: Any) -> None:
    bad = one(
        sql,
        "select count(*) from deals d join leads l using (lead_id) "
        "where d.created_at < l.sql_at or d.owner_rep_id is null or d.account_id <> l.account_id",
    )
    assert bad == 0


def test_activities_happen_in_dutch_working_hours(sql: Any) -> None:
    share = one(
        sql,
        """
        with local as (
          select timezone('Europe/Amsterdam', timezone('UTC', occurred_at)) as t
          from activities)
        select avg(case when isodow(t) <= 5 and hour(t) >= 8 and hour(t) < 18
                   then 1 else 0 end) from local
        """,
    )
    assert share > 0.95


def test_activities_are_well_formed(sql: Any) -> None:
    rows = dict(
        sql(
            """
            select activity_type || '/' || coalesce(direction, '-') || '/'
                   || coalesce(outcome, '-'), count(*)
            from activities group by 1
            """
        )
    )
    for kind in ("call/outbound/connected", "call/outbound/no_answer", "call/outbound/voicemail",
                 "email/outbound/-", "email/inbound/replied", "meeting/outbound/held",
                 "meeting/outbound/no_show", "task/-/-", "note/-/-"):  # fmt: skip
        assert rows.get(kind, 0) > 0, kind
    bad = one(
        sql,
        "select count(*) from activities where rep_id is null or account_id is null "
        "or (lead_id is null and deal_id is null) "
        "or (activity_type = 'task') <> (due_at is not null) "
        "or completed_at < occurred_at",
    )
    assert bad == 0
    overdue = one(
        sql,
        f"select count(*) from activities where activity_type = 'task' "
        f"and completed_at is null and due_at < '{TODAY}'",
    )
    assert overdue > 0


def test_activities_by_reps_only_while_employed(sql: Any) -> None:
    bad = one(
        sql,
        "select count(*) from activities a join reps r using (rep_id) "
        "where a.occurred_at::date < r.hired_on or a.occurred_at::date > r.left_on",
    )
    assert bad == 0


def test_money_products_and_currencies(sql: Any) -> None:
    rows = dict(sql("select currency, count(*) from deals group by 1"))
    assert set(rows) == {"EUR", "USD", "GBP"}
    assert rows["EUR"] > 0.9 * sum(rows.values())
    rates = dict(sql("select currency, count(*) from currency_rates group by 1"))
    assert rates["USD"] > 36 and rates["GBP"] > 36
    machines = sql(
        "select min(amount), max(amount) from deals d join products p using (product_id) "
        f"where p.product_line = 'machines' and d.currency = 'EUR' "
        f"and d.product_id <> '{PLANTED.long_cycle_product_id}'"
    )[0]
    assert machines[0] >= 40_000 and machines[1] <= 400_000
    service = one(
        sql,
        "select count(*) from contracts c join products p using (product_id) "
        "where p.product_line = 'service' and c.deal_id is null and c.start_on > date '2024-01-01'",
    )
    assert service > 0  # renewals


def test_service_customers_churn(sql: Any) -> None:
    churned = one(
        sql,
        f"""
        select count(*) from (
          select account_id, max(end_on) as last_end from contracts c
          join products p using (product_id) where p.product_line = 'service'
          group by 1)
        where last_end < date '{TODAY}'
        """,
    )
    assert churned > 20


def test_targets_cover_reps_and_teams_per_quarter(sql: Any) -> None:
    rows = dict(
        sql(
            "select kpi_id || '/' || period_grain || '/' || "
            "case when rep_id is not null then 'rep' when team_id is not null then 'team' "
            "else 'company' end, count(*) from targets group by 1"
        )
    )
    assert rows["won_revenue/quarter/rep"] > 200
    assert rows["won_revenue/quarter/team"] >= 4 * 12
    assert rows["won_revenue/year/company"] >= 3
    assert rows["sqls/month/team"] >= 4 * 36
    # quotas are in the range of what reps win: team attainment over the past year 50-150 %
    ratio = one(
        sql,
        f"""
        select sum(won) / sum(target) from (
          select t.value as target,
                 (select coalesce(sum(d.amount), 0) from deals d join reps r
                    on r.rep_id = d.owner_rep_id
                  where r.team_id = t.team_id and d.outcome = 'won' and d.currency = 'EUR'
                    and d.closed_at >= t.period_start
                    and d.closed_at < t.period_start + interval 3 month) as won
          from targets t
          where t.kpi_id = 'won_revenue' and t.period_grain = 'quarter' and t.team_id is not null
            and t.period_start >= date '{TODAY}' - interval 15 month
            and t.period_start < date '{TODAY}' - interval 3 month)
        """,
    )
    assert 0.5 < ratio < 1.5
