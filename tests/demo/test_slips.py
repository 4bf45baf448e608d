"""Deal field history in the demo data: close dates that slip, one rep who slips again and
again, history that ends in each deal's current values."""

from __future__ import annotations

from typing import Any

from salespulse.demo import PLANTED as P

PUSHES = """
with h as (
    select deal_id, expected_close_on e,
           lag(expected_close_on) over (partition by deal_id order by changed_at) pe
    from deal_field_history),
per as (select deal_id, count(*) filter (where e > pe) pushes from h group by deal_id)
select d.owner_rep_id, count(*) n, avg(case when pushes > 0 then 1.0 else 0 end) slip_rate,
       avg(pushes) filter (where pushes > 0) pushes
from per join deals d using (deal_id) group by 1
"""


def test_the_planted_slipper_slips_again_and_again(sql: Any) -> None:
    rows = {rep: (n, rate, pushes) for rep, n, rate, pushes in sql(PUSHES)}
    n, rate, pushes = rows.pop(P.slipper_rep_id)
    assert n >= 50
    assert rate > P.slipper_min_slip_rate
    assert pushes >= P.slipper_min_pushes
    others = [r for n, r, _ in rows.values() if n >= 20]
    assert others and max(others) < P.others_max_slip_rate
    assert min(others) < 0.5  # realistic reps get many close dates right


def test_field_history_ends_in_the_current_values(sql: Any) -> None:
    ((mismatch, deals),) = sql(
        """select count(*) filter (where h.e is distinct from d.expected_close_on
                                   or h.a is distinct from d.amount), count(*)
           from deals d join (select deal_id, arg_max(expected_close_on, changed_at) e,
                                     arg_max(amount, changed_at) a
                              from deal_field_history group by 1) h using (deal_id)"""
    )
    assert deals == sql("select count(*) from deals")[0][0]
    assert mismatch <= 0.005 * deals  # a deal that closed before its date could be set
    (outside,) = sql(
        """select count(*) from deal_field_history f join deals d using (deal_id)
           where f.changed_at < d.created_at
              or f.changed_at >= coalesce(d.closed_at, timestamp '2026-11-15')"""
    )[0]
    assert outside == 0


def test_some_close_dates_are_pulled_in_and_amounts_change(sql: Any) -> None:
    ((pulled, amounts),) = sql(
        """with h as (select deal_id, expected_close_on e, amount a,
              lag(expected_close_on) over w pe, lag(amount) over w pa
              from deal_field_history window w as (partition by deal_id order by changed_at))
           select count(distinct deal_id) filter (where e < pe),
                  count(distinct deal_id) filter (where a <> pa) from h"""
    )
    (deals,) = sql("select count(*) from deals")[0]
    assert 0.03 * deals < pulled < 0.15 * deals
    assert 0.2 * deals < amounts < 0.5 * deals
