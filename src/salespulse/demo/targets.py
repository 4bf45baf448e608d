"""Targets (quotas) derived from what the company historically achieves.

* ``won_revenue`` per rep and per team per quarter (EUR): the region's average won revenue per
  fully employed rep per quarter, times growth, ramp-up and the share of the quarter employed,
  with some negotiation noise, rounded to EUR 5,000; team targets are the sum of their reps'.
* ``won_revenue`` for the company per year (sum of the team targets).
* ``sqls`` per team per month: the team's average monthly SQLs plus 10 %, rounded.

Targets cover every quarter/month from the start of the history to the end of the current year
(quotas are set ahead; they are plans, not events).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from salespulse.demo.arrow import NA, dates, floats, ids, take
from salespulse.demo.flow import Totals
from salespulse.demo.world import World


def _period_days(first_year: int, n: int, months_per: int) -> np.ndarray:
    base = np.datetime64(f"{first_year:04d}-01", "M")
    months = base + np.arange(n + 1) * months_per
    return months.astype("datetime64[D]").astype(np.int64)


def targets_table(world: World, totals: Totals, rng: np.random.Generator) -> pa.Table:
    reps = world.reps
    years = world.today.year - world.first_year + 1
    nq = 4 * years
    q_days = _period_days(world.first_year, nq, 3)
    q_start, q_end = q_days[:-1], q_days[1:] - 1
    first_q = int(np.searchsorted(q_start, world.start_day, side="right") - 1)
    today_q = int(np.searchsorted(q_start, world.cutoff_day, side="right") - 1)
    # share of each quarter each selling rep was employed, and ramp-up at mid-quarter
    left = np.where(reps.left_day == NA, 10**7, reps.left_day)
    lo = np.maximum(reps.hired_day[:, None], q_start[None, :])
    hi = np.minimum(left[:, None], q_end[None, :])
    share = np.clip((hi - lo + 1) / (q_end - q_start + 1)[None, :], 0, 1) * reps.selling[:, None]
    mid = (q_start + q_end) // 2
    ramp = np.clip((mid[None, :] - reps.hired_day[:, None]) / reps.ramp_days[:, None], 0.15, 1)
    weight = share * ramp
    # average won revenue per fully productive rep-quarter, per region, over completed quarters
    done = np.arange(nq)
    done_mask = (done > first_q) & (done < today_q)
    per_rep = np.zeros(4)
    for r in range(4):
        in_r = reps.region == r
        won = totals.won_eur[in_r][:, done_mask].sum()
        capacity = weight[in_r][:, done_mask].sum()
        per_rep[r] = won / capacity if capacity > 0 else 0.0
    growth = 1 + 0.08 * (np.arange(nq) - (first_q + today_q) / 2) / 4
    region = np.maximum(reps.region, 0)
    quota = per_rep[region][:, None] * growth[None, :] * weight * 1.05
    quota = quota * rng.uniform(0.92, 1.15, quota.shape)
    quota = np.round(quota / 5000) * 5000
    quota[:, :first_q] = 0
    rep_idx, q_idx = np.nonzero(quota > 0)
    rep_val = quota[rep_idx, q_idx]
    team = reps.team[rep_idx]
    team_val = np.zeros((world.n_teams, nq))
    np.add.at(team_val, (team, q_idx), rep_val)
    t_idx, tq_idx = np.nonzero(team_val > 0)
    year_val = team_val.reshape(world.n_teams, years, 4).sum(axis=(0, 2))
    # SQLs per team per month
    nm = 12 * years
    m_days = _period_days(world.first_year, nm, 1)
    first_m = int(np.searchsorted(m_days[:-1], world.start_day, side="right") - 1)
    today_m = int(np.searchsorted(m_days[:-1], world.cutoff_day, side="right") - 1)
    full = slice(first_m + 1, today_m)
    avg = totals.sqls[:, full].mean(axis=1) if today_m > first_m + 1 else np.zeros(world.n_teams)
    sql_val = np.round(np.repeat(avg[:, None], nm - first_m, axis=1) * 1.1)
    s_team, s_m = np.nonzero(sql_val > 0)
    s_val = sql_val[s_team, s_m]
    s_m = s_m + first_m
    y_start = np.array(
        [
            np.datetime64(f"{world.first_year + y:04d}-01-01", "D").astype(np.int64)
            for y in range(years)
        ]
    )
    team_ids = ids("T", np.arange(1, world.n_teams + 1), 2)
    kpi = ["won_revenue"] * (rep_idx.shape[0] + t_idx.shape[0] + years) + ["sqls"] * s_team.shape[0]
    grain = (
        ["quarter"] * (rep_idx.shape[0] + t_idx.shape[0])
        + ["year"] * years
        + ["month"] * s_team.shape[0]
    )
    start = np.concatenate([q_start[q_idx], q_start[tq_idx], y_start, m_days[s_m]])
    rep_col = np.concatenate([rep_idx, np.full(t_idx.shape[0] + years + s_team.shape[0], -1)])
    team_col = np.concatenate([np.full(rep_idx.shape[0], -1), t_idx, np.full(years, -1), s_team])
    value = np.concatenate([rep_val, team_val[t_idx, tq_idx], year_val, s_val])
    n = value.shape[0]
    return pa.table(
        {
            "target_id": ids("TG", np.arange(1, n + 1), 6),
            "kpi_id": pa.array(kpi),
            "period_grain": pa.array(grain),
            "period_start": dates(start),
            "rep_id": take(reps.ids, rep_col),
            "team_id": take(team_ids, team_col),
            "value": floats(value.astype(np.float64)),
        }
    )
