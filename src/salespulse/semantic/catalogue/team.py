"""Team KPIs: sales staff retention (S6).

A rep is *on staff* on a day when hired on or before it (no hire date = always was) and not
yet left (``left_on`` on or after the day).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
from ibis import _

from salespulse.semantic.kpi import Dim, Facts, Kind, Kpi, Unit, same_rows
from salespulse.semantic.measures import Count, Ratio
from salespulse.semantic.model import Context
from salespulse.semantic.timecal import Grain

TEAM_DIMS = (Dim.team, Dim.region)


def _staff_periods(r: ir.Table, periods: ir.Table, dims: frozenset[Dim]) -> ir.Table:
    """Reps × periods with ``at_start``, ``at_end`` (on staff on the first / last day) and
    ``hired`` (hired within the period)."""
    j = r.cross_join(periods)
    last_day = j.p_end_on - ibis.interval(days=1)

    def on_staff(day: ir.DateValue) -> ir.BooleanValue:
        return (j.hired_on.isnull() | (j.hired_on <= day)) & (
            j.left_on.isnull() | (j.left_on >= day)
        )

    hired = j.hired_on.notnull() & (j.hired_on >= j.p_start_on) & (j.hired_on <= last_day)
    return j.mutate(at_start=on_staff(j.p_start_on), at_end=on_staff(last_day), hired=hired)


def staff_facts(ctx: Context) -> Facts:
    return Facts(
        ctx.reps,
        "reps",
        "rep_id",
        per_period=_staff_periods,
        per_period_rows=same_rows,
        default_grain=Grain.year,
    )


KPIS = (
    Kpi(
        "staff_retention",
        "Sales staff retention",
        "Behoud van salesmedewerkers",
        "The source's formula, (staff at the end of the year − new hires that year) / staff "
        "at the start of the year × 100, read as: of the reps on staff at the start, the "
        "share still on staff at the end (a hire who left again within the year is not "
        "subtracted twice).",
        Unit.percent,
        staff_facts,
        Ratio(Count(where=_.at_start & _.at_end), Count(where=_.at_start)),
        kind=Kind.period,
        dims=TEAM_DIMS,
        source="S6",
        primary=True,
        requires=("reps.hired_on",),
        default_by=("year",),
        scale=100.0,
    ),
)
