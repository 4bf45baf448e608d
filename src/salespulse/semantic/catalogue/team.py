"""Team KPIs: sales staff retention (S6).

A rep is *on staff* on a day when hired on or before it (no hire date = always was) and not
yet left (``left_on`` on or after the day).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir
import pandas as pd

from salespulse.semantic.catalogue.common import grouped, key_columns, period_table
from salespulse.semantic.kpi import Dim, Facts, Kpi, Unit
from salespulse.semantic.measures import Count, Ratio, ratio_value
from salespulse.semantic.model import Context
from salespulse.semantic.timecal import Grain

if TYPE_CHECKING:
    from salespulse.semantic.query import Plan, Query

TEAM_DIMS = (Dim.team, Dim.region)


def _staff_retention(ctx: Context, p: Plan, q: Query) -> pd.DataFrame:
    """S6: (staff at end of period − new hires in the period) / staff at start × 100."""
    periods, with_period = period_table(ctx, p, q, Grain.year)
    r = ctx.reps
    for dim, values in p.where:
        r = r.filter(r[dim.column].cast("string").isin(list(values)))
    j = r.cross_join(periods)
    last_day = j.p_end_on - ibis.interval(days=1)

    def on_staff(day: ir.DateValue) -> ir.BooleanValue:
        return (j.hired_on.isnull() | (j.hired_on <= day)) & (
            j.left_on.isnull() | (j.left_on >= day)
        )

    hired = j.hired_on.notnull() & (j.hired_on >= j.p_start_on) & (j.hired_on <= last_day)
    keys = key_columns(p, with_period)
    groups = {k: (j[k] if k == "period" else j[Dim(k).column]) for k in keys}
    agg = grouped(
        j,
        groups,
        at_start=on_staff(j.p_start_on).sum().cast("float64"),
        at_end=on_staff(last_day).sum().cast("float64"),
        hires=hired.sum().cast("float64"),
    )
    agg = agg.mutate(numerator=agg.at_end - agg.hires, denominator=agg.at_start)
    agg = agg.mutate(value=ratio_value(agg.numerator, agg.denominator, 100.0))
    return agg.drop("at_start", "at_end", "hires").execute()


def _none(ctx: Context) -> Facts:  # composite KPIs have no facts of their own
    raise NotImplementedError


KPIS = (
    Kpi(
        "staff_retention",
        "Sales staff retention",
        "Behoud van salesmedewerkers",
        "The source's formula: (staff at the end of the year − new hires that year) / staff "
        "at the start of the year × 100.",
        Unit.percent,
        _none,
        Ratio(Count(), Count()),
        dims=TEAM_DIMS,
        source="S6",
        primary=True,
        requires=("reps.hired_on",),
        default_by=("year",),
        compute=_staff_retention,
    ),
)
