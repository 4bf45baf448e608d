"""Every planted pattern is present, checked with plain SQL (no KPI code)."""

from __future__ import annotations

from typing import Any

from salespulse.demo import PLANTED
from tests.demo.conftest import TODAY

P = PLANTED


def test_one_rep_skips_a_required_stage_on_most_deals(sql: Any) -> None:
    # a deal skips when it enters an open stage, or closed won, without having entered
    # every required stage that comes before it
    rows = sql(
        """
        with h as (
          select h.deal_id, h.entered_at, s.stage_order, s.is_closed, s.is_won
          from deal_stage_history h join stages s using (stage_id)),
        skipped as (
          select distinct h.deal_id from h
          join stages r on r.is_required and r.stage_order < h.stage_order
          where (not h.is_closed or h.is_won)
            and not exists (
              select 1 from deal_stage_history h2
              where h2.deal_id = h.deal_id and h2.stage_id = r.stage_id
                and h2.entered_at < h.entered_at))
        select owner_rep_id, count(*),
               avg(case when deal_id in (select deal_id from skipped) then 1.0 else 0 end)
        from deals group by 1 having count(*) >= 20
        """
    )
    share = {rep: s for rep, _, s in rows}
    assert share[P.stage_skipper_rep_id] > P.skipper_min_share
    others = [s for rep, s in share.items() if rep != P.stage_skipper_rep_id]
    assert len(others) >= 10
    assert max(others) < P.others_max_skip_share


def _late_stage_contacts(sql: Any) -> dict[tuple[str, str], int]:
    rows = sql(
        f"""
        with iv as (
          select deal_id, stage_id, entered_at,
                 lead(entered_at) over (partition by deal_id order by entered_at) as next_at
          from deal_stage_history)
        select a.rep_id = '{P.email_only_rep_id}' as planted, a.activity_type, count(*)
        from activities a join iv on a.deal_id = iv.deal_id
          and a.occurred_at >= iv.entered_at
          and (iv.next_at is null or a.occurred_at < iv.next_at)
        where iv.stage_id in {P.late_stage_ids}
        group by all
        """
    )
    return {("planted" if p else "others", kind): n for p, kind, n in rows}


def test_one_rep_works_late_stage_deals_by_email_only(sql: Any) -> None:
    n = _late_stage_contacts(sql)
    assert n.get(("planted", "email"), 0) > 50
    assert n.get(("planted", "call"), 0) == 0
    assert n.get(("planted", "meeting"), 0) == 0
    assert n[("others", "call")] > 100 and n[("others", "meeting")] > 100


def test_the_email_only_rep_loses_more_late_stage_deals(sql: Any) -> None:
    rows = sql(
        f"""
        with late as (
          select distinct deal_id from deal_stage_history where stage_id in {P.late_stage_ids})
        select owner_rep_id = '{P.email_only_rep_id}', count(*),
               avg(case when outcome = 'lost' then 1.0 else 0 end)
        from deals where deal_id in (select deal_id from late) and closed_at is not null
        group by 1
        """
    )
    loss = {planted: rate for planted, n, rate in rows}
    counts = {planted: n for planted, n, rate in rows}
    assert counts[True] >= 20
    assert loss[True] >= loss[False] + P.email_only_min_extra_loss_rate


def _first_response(sql: Any) -> dict[str, tuple[int, float, float]]:
    rows = sql(
        """
        with first as (
          select l.lead_id, l.owner_rep_id, l.sql_at, min(a.occurred_at) as first_at
          from leads l join activities a
            on a.lead_id = l.lead_id and a.rep_id = l.owner_rep_id
           and a.direction = 'outbound' and a.activity_type in ('call', 'email', 'meeting')
           and a.occurred_at >= l.sql_at
          where l.sql_at is not null group by all)
        select owner_rep_id, count(*),
               avg(epoch(first_at - sql_at)) / 3600, median(epoch(first_at - sql_at)) / 3600
        from first group by 1 having count(*) >= 20
        """
    )
    return {rep: (n, mean, med) for rep, n, mean, med in rows}


def test_one_rep_answers_new_sqls_slowly(sql: Any) -> None:
    stats = _first_response(sql)
    n, mean, _ = stats[P.slow_responder_rep_id]
    assert n >= 30
    assert mean > P.slow_response_min_mean_hours
    others = [v for rep, v in stats.items() if rep != P.slow_responder_rep_id]
    # most reps: typically within a business day (median) and on average within a day
    assert all(med < P.normal_response_max_business_hours for _, _, med in others)
    assert sum(mean < 24 for _, mean, _ in others) >= 0.8 * len(others)


def test_every_sql_gets_a_response_from_its_owner(sql: Any) -> None:
    missing = sql(
        f"""
        select count(*) from leads l where l.sql_at < date '{TODAY}' - interval 10 day
          and not exists (
            select 1 from activities a where a.lead_id = l.lead_id
              and a.rep_id = l.owner_rep_id and a.direction = 'outbound'
              and a.occurred_at >= l.sql_at)
        """
    )[0][0]
    assert missing == 0


def test_a_handful_of_stale_open_deals(sql: Any) -> None:
    rows = sql(
        f"""
        with current as (
          select deal_id, max(entered_at) as entered_at from deal_stage_history group by 1)
        select d.deal_id, p.product_id, p.product_line,
               date_diff('second', c.entered_at, timestamp '{TODAY}') / 86400.0
        from deals d join current c using (deal_id) join products p using (product_id)
        where d.closed_at is null
        """
    )
    ratio = [(pid, days / P.stage_cap_days(line)) for _, pid, line, days in rows]
    stale = [(pid, r) for pid, r in ratio if r > 2.0]
    assert len(stale) == P.stale_deals
    # well beyond the stage's normal time for the product; every other open deal within it
    lo, hi = P.stale_cap_multiple
    assert all(lo - 0.05 <= r <= hi + 0.05 for _, r in stale)
    assert all(r <= 1.1 for _, r in ratio if r <= 2.0)
    assert all(pid != P.long_cycle_product_id for pid, _ in stale)


def test_one_channel_brings_many_leads_that_rarely_convert(sql: Any) -> None:
    rows = sql(
        """
        select l.channel, count(*),
               avg(case when l.sql_at is not null then 1.0 else 0 end),
               avg(case when d.outcome = 'won' then 1.0 else 0 end)
        from leads l left join deals d using (lead_id) group by 1
        """
    )
    by = {ch: (n, sql_rate, won_rate) for ch, n, sql_rate, won_rate in rows}
    assert set(by) == {"trade_fair", "web_form", "phone", "email", "referral", "outbound"}
    n, sql_rate, won_rate = by[P.junk_channel]
    assert n == max(v[0] for v in by.values())
    assert sql_rate < P.junk_max_sql_rate
    for ch, (_, other_sql, other_won) in by.items():
        if ch != P.junk_channel:
            assert other_sql > 0.2 and other_won > 3 * won_rate, ch


def test_trade_fair_leads_come_in_peaks(sql: Any) -> None:
    rows = sql(
        "select month(created_at), count(*) from leads where channel = 'trade_fair' group by 1"
    )
    by_month = dict(rows)
    fair_months = by_month.get(3, 0) + by_month.get(10, 0)
    assert fair_months > 0.8 * sum(by_month.values())


def test_one_product_has_a_much_longer_cycle(sql: Any) -> None:
    rows = sql(
        """
        select product_id, median(date_diff('day', created_at, closed_at))
        from deals where outcome = 'won' group by 1
        """
    )
    cycle = dict(rows)
    long = cycle.pop(P.long_cycle_product_id)
    lo, hi = P.long_cycle_days
    assert lo <= long <= hi
    assert long > 1.5 * max(cycle.values())


def test_product_lines_have_their_own_cycle_lengths(sql: Any) -> None:
    rows = sql(
        f"""
        select p.product_line, median(date_diff('day', d.created_at, d.closed_at))
        from deals d join products p using (product_id)
        where d.outcome = 'won' and d.product_id <> '{P.long_cycle_product_id}' group by 1
        """
    )
    cycle = dict(rows)
    assert 30 <= cycle["service"] <= 62
    assert 60 <= cycle["parts"] <= 125
    assert 180 <= cycle["machines"] <= 275


def test_a_backlog_of_unassigned_leads(sql: Any) -> None:
    recent, old = sql(
        f"""
        select count(*) filter (where created_at >= date '{TODAY}' - interval 28 day),
               count(*) filter (where created_at < date '{TODAY}' - interval 28 day)
        from leads where owner_rep_id is null and disqualified_at is null
        """
    )[0]
    assert recent >= P.backlog_for("demo")
    assert old == 0


def test_referrals_come_from_customers_with_an_active_contract(sql: Any) -> None:
    total, active = sql(
        f"""
        select count(*), count(*) filter (where exists (
                 select 1 from contracts c
                 where c.account_id = l.referring_account_id
                   and c.start_on <= l.created_at::date
                   and (c.end_on is null or c.end_on >= l.created_at::date)))
        from leads l where l.channel = '{P.referral_channel}'
        """
    )[0]
    assert total > 100
    assert active == total
    others = sql(
        f"select count(*) from leads where channel <> '{P.referral_channel}' "
        "and referring_account_id is not null"
    )[0][0]
    assert others == 0
