"""Targets (quotas): ``target`` and ``attainment`` = value / target beside KPI rows.

Targets live in the ``targets`` table per KPI id, period (month, quarter or year) and rep
or team (or the whole company: rep and team empty). Any KPI with rows there gets them (a KPI
may name another id to compare with, e.g. quota attainment uses ``won_revenue``).

**A target belongs to its own period.** Asked per period of grain G (month, quarter or
year), each scope (a rep, a team, the company) gets, per period:

1. its targets set at grain G for that period;
2. else the sum of its finer targets within the period (quarters of a year, months of a
   quarter);
3. else its coarser target spread evenly (a year target counts a quarter of it in each
   quarter, a twelfth in each month).

Only periods that have started by the as-of date count (a quota for next quarter is not
part of attainment today). Without a grain, targets are taken at the finest grain the KPI's
targets use, and the row gets the sum over the periods that start within the query's
dates. Day and week grains have no targets.

Who gets which targets:

* broken down by rep → the rep's own targets;
* by team → the team's targets, or, where a team has none, the sum of its reps' targets;
* no breakdown → company targets, else the sum of team targets, else of rep targets
  (chosen per period). Filtered on teams or reps, the same rule applies within the filter:
  the teams' own targets (else their reps'), the reps' targets.

Other breakdowns and filters (region, channel, …) have no targets. Attainment is null
without a target.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir
import pandas as pd
from ibis import _

from salespulse.semantic import timecal
from salespulse.semantic.kpi import Dim
from salespulse.semantic.measures import ratio_value
from salespulse.semantic.model import Context
from salespulse.semantic.relations import without
from salespulse.semantic.timecal import Grain

if TYPE_CHECKING:
    from salespulse.semantic.query import Plan, Query

#: Months per target grain, finest first.
GRAIN_MONTHS = {"month": 1, "quarter": 3, "year": 12}
#: Dimensions targets can be broken down or filtered by.
TARGET_DIMS = frozenset({Dim.rep, Dim.team})


def _target_grain(ctx: Context, kpi_id: str, grain: Grain | None) -> str | None:
    """The grain targets are taken at: the query's, or the finest the KPI's targets use."""
    if grain is not None:
        return grain.value if grain.value in GRAIN_MONTHS else None
    used = ctx.target_grains.get(kpi_id, frozenset())
    return next((g for g in GRAIN_MONTHS if g in used), None)


def _at_grain(ctx: Context, t: ir.Table, grain: str) -> ir.Table:
    """Targets per scope (rep_id, team_id) and period of ``grain``, by the rule above."""
    months = GRAIN_MONTHS[grain]
    g = Grain(grain)
    cols = ("rep_id", "team_id")

    def part(x: ir.Table, period: ir.Value, value: ir.Value, prio: int) -> ir.Table:
        return x.select(
            *cols, period=period.cast("date"), value=value.cast("float64"), prio=ibis.literal(prio)
        )

    exact = t.filter(t.period_grain == grain)
    parts = [part(exact, exact.period_start, exact.value, 0)]
    finer = [k for k, m in GRAIN_MONTHS.items() if m < months]
    if finer:
        f = t.filter(t.period_grain.isin(finer))
        parts.append(part(f, timecal.truncate(f.period_start, g, ctx.settings), f.value, 1))
    for coarse, m in GRAIN_MONTHS.items():
        if m <= months:
            continue
        n = m // months
        steps = ibis.memtable({"_k": [k * months for k in range(n)]})
        c = t.filter(t.period_grain == coarse).cross_join(steps)
        parts.append(part(c, c.period_start + c._k.as_interval("M"), c.value / n, 2))
    u = parts[0]
    for x in parts[1:]:
        u = u.union(x)
    w = ibis.window(group_by=[*cols, "period"])
    u = u.mutate(_best=u.prio.min().over(w))
    u = u.filter(u.prio == u._best)
    return u.group_by([*cols, "period"]).aggregate(value=u.value.sum())


def applies(ctx: Context, p: Plan) -> bool:
    """Whether ``p``'s rows can have targets: its KPI has some at a grain it is asked at,
    and it is broken down and filtered by reps and teams only."""
    grain = _target_grain(ctx, p.kpi.target_kpi or p.kpi.id, p.grain)
    filters = {d for d, _v in p.where}
    return grain is not None and set(p.dims) <= TARGET_DIMS and filters <= TARGET_DIMS


def target_rows(ctx: Context, p: Plan, q: Query) -> ir.Table:
    """The targets of ``p``'s KPI per result key (``period`` with a grain, then the
    breakdowns), in a column ``target``. Empty where targets do not apply."""
    keys = ["period"] if p.grain else []
    dims = [d.value for d in p.dims]
    if not applies(ctx, p):
        empty = ibis.memtable({"target": [1.0]}).filter(ibis.literal(False))
        for k in [*keys, *dims]:
            empty = empty.mutate(**{k: ibis.null("date" if k == "period" else "string")})
        return empty.select(*keys, *dims, "target")
    kpi_id = p.kpi.target_kpi or p.kpi.id
    grain = _target_grain(ctx, kpi_id, p.grain)
    assert grain is not None
    filters = {d for d, _v in p.where}
    raw = ctx.t("targets").filter(_.kpi_id == kpi_id)
    t = _at_grain(ctx, raw, grain)
    if q.start:
        t = t.filter(t.period >= q.start)
    if q.end:
        t = t.filter(t.period <= q.end)
    t = t.filter(t.period <= ctx.as_of)
    if p.grain:
        t = t.mutate(period=timecal.truncate(t.period, p.grain, ctx.settings))
    teams = ctx.reps.select(_r="rep_id", _team="team_id")
    t = without(t.left_join(teams, t.rep_id == teams._r), "_r")
    t = t.mutate(team=ibis.coalesce(t.team_id, t._team), rep=t.rep_id)
    for dim, values in p.where:
        t = t.filter(t[dim.value].isin(list(values)))
    is_rep = t.rep_id.notnull()
    is_team = t.team_id.notnull() & ~is_rep
    if Dim.rep in p.dims:
        t = t.filter(is_rep)
        out = t.group_by([*keys, *dims]).aggregate(target=t.value.sum())
    elif Dim.team in p.dims:
        # a team's own targets, else the sum of its reps' (per period)
        sums = dict(own=t.value.sum(where=is_team), reps=t.value.sum(where=is_rep))
        out = t.filter(t.team.notnull()).group_by([*keys, "team"]).aggregate(**sums)
        out = out.select(*keys, "team", target=ibis.coalesce(out.own, out.reps))
    else:
        is_company = t.rep_id.isnull() & t.team_id.isnull()
        sums = dict(
            company=t.value.sum(where=is_company),
            teams=t.value.sum(where=is_team),
            reps=t.value.sum(where=is_rep),
        )
        if Dim.team in filters:
            # within the teams asked for: their own targets, else their reps' (per team)
            by_team = (
                t.filter(t.team.notnull())
                .group_by([*keys, "team"])
                .aggregate(own=t.value.sum(where=is_team), reps=t.value.sum(where=is_rep))
            )
            by_team = by_team.mutate(v=ibis.coalesce(by_team.own, by_team.reps))
            out = (
                by_team.group_by(keys).aggregate(target=by_team.v.sum())
                if keys
                else by_team.aggregate(target=by_team.v.sum())
            )
            return out
        level = t.group_by(keys).aggregate(**sums) if keys else t.aggregate(**sums)
        if Dim.rep in filters:
            return level.select(*keys, target=level.reps)
        out = level.select(*keys, target=ibis.coalesce(level.company, level.teams, level.reps))
    return out


def with_targets(ctx: Context, agg: ir.Table, p: Plan, q: Query) -> ir.Table:
    """``agg`` with ``target`` and ``attainment`` (value / target) beside each row."""
    keys = [*(["period"] if p.grain else []), *(d.value for d in p.dims)]
    tg = target_rows(ctx, p, q)
    if not keys:
        tg = tg.aggregate(target=tg.target.sum())  # one row (null when no target)
        j = agg.cross_join(tg)
    else:
        tg = tg.rename(**{f"_t_{k}": k for k in keys})
        j = agg.left_join(tg, [agg[k].identical_to(tg[f"_t_{k}"]) for k in keys])
        j = without(j, *[f"_t_{k}" for k in keys])
    return j.mutate(attainment=ratio_value(j.value, j.target))


def from_unfiltered(p: Plan, rows: Callable[[tuple[str, ...]], pd.DataFrame]) -> pd.DataFrame:
    """:func:`target_rows` of ``p`` (filtered on reps and teams) from the rows of the same
    KPI, grain and dates *without* filters — ``rows(by)`` gives them broken down by
    ``("rep", "team")``, ``("team",)`` or nothing (after the period) — so that a page
    filtered on any team or rep is answered without a query (:mod:`.rollup`).

    By the rule above: a rep's targets count for the team on their row; a filter on reps
    leaves only reps' targets (a team's own target is no rep's); within teams and without
    a filter on reps, a team's own targets come first, else its reps'."""
    keys = ["period"] if p.grain else []
    dims = [d.value for d in p.dims]
    where = {d: list(v) for d, v in p.where}
    reps, teams = where.get(Dim.rep), where.get(Dim.team)
    if not dims and reps is None and teams is None:
        return rows(())
    if reps is None and Dim.rep not in p.dims:  # teams: their own targets, else their reps'
        t = rows(("team",))
        if teams is not None:
            t = t[t["team"].isin(teams)]
        if Dim.team in p.dims:
            return t[[*keys, "team", "target"]].reset_index(drop=True)
    else:  # reps' targets only
        t = rows(("rep", "team"))
        if reps is not None:
            t = t[t["rep"].isin(reps)]
        if teams is not None:
            t = t[t["team"].isin(teams)]
        if Dim.team in p.dims and Dim.rep not in p.dims:
            t = t[t["team"].notna()]
    if not [*keys, *dims]:  # one row: the total (none without targets)
        return pd.DataFrame({"target": [t["target"].sum(min_count=1)]})
    groups = t.groupby([*keys, *dims], dropna=False, sort=False)
    return groups["target"].sum(min_count=1).reset_index()
