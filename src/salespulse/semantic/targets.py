"""Targets (quotas): attach ``target`` and ``attainment`` = value / target to KPI rows.

Targets live in the ``targets`` table per KPI id, period and rep or team (or the whole
company: rep and team empty). Any KPI with rows there gets them (a KPI may name another id
to compare with, e.g. quota attainment uses ``won_revenue``). A result row gets the sum of
the targets whose period starts within its period (or within the query's date range when
there is no period grain):

* broken down by rep → the rep's own targets;
* by team → the team's targets, or, where a team has none, the sum of its reps' targets;
* no breakdown → company targets, else the sum of team targets, else of rep targets
  (chosen per period).

Other breakdowns (region, channel, …) have no targets. Attainment is null without a target.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir
from ibis import _

from salespulse.semantic import timecal
from salespulse.semantic.kpi import Dim
from salespulse.semantic.measures import ratio_value
from salespulse.semantic.model import Context

if TYPE_CHECKING:
    from salespulse.semantic.query import Plan, Query


def _period_targets(ctx: Context, p: Plan, q: Query) -> ir.Table:
    t = ctx.t("targets").filter(_.kpi_id == (p.kpi.target_kpi or p.kpi.id))
    if q.start:
        t = t.filter(_.period_start >= q.start)
    if q.end:
        t = t.filter(_.period_start <= q.end)
    if p.grain:
        t = t.mutate(period=timecal.truncate(t.period_start, p.grain, ctx.settings))
    return t


def with_targets(ctx: Context, agg: ir.Table, p: Plan, q: Query) -> ir.Table:
    dims = set(p.dims)
    if not dims <= {Dim.rep, Dim.team}:
        return agg.mutate(target=ibis.null("float64"), attainment=ibis.null("float64"))
    t = _period_targets(ctx, p, q)
    keys = ["period"] if p.grain else []
    if Dim.rep in dims:
        rep_t = t.filter(_.rep_id.notnull()).mutate(rep=_.rep_id)
        if Dim.team in dims:
            teams = ctx.reps.select(_r="rep_id", team="team_id")
            rep_t = rep_t.inner_join(teams, rep_t.rep == teams._r)
        level = rep_t.group_by([*keys, "rep", *(["team"] if Dim.team in dims else [])])
    elif Dim.team in dims:
        team_t = t.filter(_.team_id.notnull() & _.rep_id.isnull()).mutate(team=_.team_id)
        reps_t = t.filter(_.rep_id.notnull())
        teams = ctx.reps.select(_r="rep_id", team="team_id")
        reps_t = reps_t.inner_join(teams, reps_t.rep_id == teams._r)
        has_own = team_t.select(_own="team").distinct()
        reps_t = reps_t.anti_join(has_own, reps_t.team == has_own._own)

        def part(x: ir.Table) -> ir.Table:
            return x.select(*keys, "team", value=x.value.cast("float64"))

        level = part(team_t).union(part(reps_t)).group_by([*keys, "team"])
    else:
        # per period: company targets if any, else the sum of team targets, else of reps'
        is_company = t.rep_id.isnull() & t.team_id.isnull()
        is_team = t.team_id.notnull() & t.rep_id.isnull()
        sums = dict(
            company=t.value.sum(where=is_company),
            teams=t.value.sum(where=is_team),
            reps=t.value.sum(where=t.rep_id.notnull()),
        )
        level_t = t.group_by(keys).aggregate(**sums) if keys else t.aggregate(**sums)
        level_t = level_t.mutate(target=ibis.coalesce(level_t.company, level_t.teams, level_t.reps))
        level_t = level_t.drop("company", "teams", "reps")
        if not keys:
            j = agg.cross_join(level_t)
            return j.mutate(attainment=ratio_value(j.value, j.target))
        return _join(agg, level_t, keys, p)
    return _join(agg, level.aggregate(target=_.value.sum()), keys, p)


def _join(agg: ir.Table, tg: ir.Table, keys: list[str], p: Plan) -> ir.Table:
    on = [*keys, *(d.value for d in p.dims)]
    tg = tg.rename(**{f"_t_{k}": k for k in on})
    j = agg.left_join(tg, [agg[k] == tg[f"_t_{k}"] for k in on])
    j = j.drop(*[f"_t_{k}" for k in on])
    return j.mutate(attainment=ratio_value(j.value, j.target))
