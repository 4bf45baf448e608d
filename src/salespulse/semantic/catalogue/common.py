"""Helpers shared by catalogue modules: period tables and composing KPIs from KPIs."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir
import pandas as pd

from salespulse.semantic import timecal
from salespulse.semantic.timecal import Grain

if TYPE_CHECKING:
    from salespulse.semantic.model import Context
    from salespulse.semantic.query import Plan, Query


def period_table(ctx: Context, p: Plan, q: Query, default_grain: Grain) -> tuple[ir.Table, bool]:
    """Periods of the query as a table: ``period`` (start date), ``p_start_on``/``p_end_on``
    (local dates, end exclusive) and ``p_start_at``/``p_end_at`` (UTC instants, exclusive,
    capped at as-of). Without a grain, one period spans the query range (default: the
    ``default_grain`` period containing as-of). Returns the table and whether a period
    column belongs in the result."""
    s, tz = ctx.settings, ctx.settings.timezone
    end = min(q.end or ctx.as_of, ctx.as_of)
    if p.grain:
        start = q.start or timecal.period_start(end, p.grain, s)
        starts = timecal.periods(start, end, p.grain, s)
        bounds = [(ps, timecal.next_period(ps, p.grain)) for ps in starts]
    else:
        start = q.start or timecal.period_start(end, default_grain, s)
        bounds = [(start, end + timedelta(days=1))]

    def utc(d: date) -> datetime:
        return min(timecal.local_to_utc(datetime.combine(d, datetime.min.time()), tz), ctx.as_of_at)

    frame = pd.DataFrame(
        {
            "period": [b[0] for b in bounds],
            "p_start_on": [b[0] for b in bounds],
            "p_end_on": [min(b[1], ctx.as_of + timedelta(days=1)) for b in bounds],
            "p_start_at": pd.to_datetime([utc(b[0]) for b in bounds]),
            "p_end_at": pd.to_datetime([utc(b[1]) for b in bounds]),
        }
    )
    return ibis.memtable(frame), p.grain is not None


def run_kpi(ctx: Context, q: Query, kpi_id: str, **changes: object) -> pd.DataFrame:
    """Another KPI's result frame for the same context (used by composite KPIs)."""
    from salespulse.semantic.query import run

    return run(ctx.store, replace(q, kpi=kpi_id, **changes), ctx=ctx).frame  # type: ignore[arg-type]


def key_columns(p: Plan, with_period: bool) -> list[str]:
    return (["period"] if with_period else []) + [d.value for d in p.dims]


def grouped(t: ir.Table, groups: dict[str, ir.Value], **aggs: ir.Scalar) -> ir.Table:
    """``t`` aggregated by ``groups`` (or as a whole when there are none)."""
    return t.group_by(**groups).aggregate(**aggs) if groups else t.aggregate(**aggs)
