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
from salespulse.semantic.kpi import COMPUTED_RATIO, Dim, Kpi, Unit, computed
from salespulse.semantic.measures import ratio_value
from salespulse.semantic.model import Context
from salespulse.semantic.timecal import Grain

if TYPE_CHECKING:
    from salespulse.semantic.query import Plan, Query

TEAM_DIMS = (Dim.team, Dim.region)


def _staff_rows(ctx: Context, p: Plan, q: Query) -> tuple[ir.Table, bool]:
    """Reps × periods with ``at_start``, ``at_end`` (on staff on the first / last day) and
    ``hired`` (hired within the period)."""
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
    return j.mutate(
        at_start=on_staff(j.p_start_on), at_end=on_staff(last_day), hired=hired
    ), with_period


def _staff_retention(ctx: Context, p: Plan, q: Query) -> pd.DataFrame:
    """S6: (staff at end of period − new hires in the period) / staff at start × 100."""
    j, with_period = _staff_rows(ctx, p, q)
    keys = key_columns(p, with_period)
    groups = {k: (j[k] if k == "period" else j[Dim(k).column]) for k in keys}
    agg = grouped(
        j,
        groups,
        at_start=j.at_start.sum().cast("float64"),
        at_end=j.at_end.sum().cast("float64"),
        hires=j.hired.sum().cast("float64"),
    )
    agg = agg.mutate(numerator=agg.at_end - agg.hires, denominator=agg.at_start)
    agg = agg.mutate(value=ratio_value(agg.numerator, agg.denominator, 100.0))
    return agg.drop("at_start", "at_end", "hires").execute()


def _staff_records(ctx: Context, p: Plan, q: Query) -> ir.Table:
    """Reps on staff at the start or end of the period, or hired in it."""
    j, _ = _staff_rows(ctx, p, q)
    j = j.filter(j.at_start | j.at_end | j.hired)
    return j.mutate(in_numerator=j.at_end & ~j.hired).order_by("rep_id")


KPIS = (
    Kpi(
        "staff_retention",
        "Sales staff retention",
        "Behoud van salesmedewerkers",
        "The source's formula: (staff at the end of the year − new hires that year) / staff "
        "at the start of the year × 100.",
        Unit.percent,
        computed,
        COMPUTED_RATIO,
        dims=TEAM_DIMS,
        source="S6",
        primary=True,
        requires=("reps.hired_on",),
        default_by=("year",),
        compute=_staff_retention,
        drill=_staff_records,
    ),
)
