"""Where leads leak out of the bucket (W7): the funnels and their biggest drop.

* :func:`stage_funnel` — per deal stage, of the deals that entered it, how many moved on
  (``stage_conversion``), and which stage loses the largest share: the leak.
* :func:`lead_funnel` — leads → SQL → deal → won for a cohort of leads, with the step that
  loses the largest share.

Both are read from the KPI catalogue; this module only picks the largest drop.
"""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

import pandas as pd

from salespulse.semantic.model import Context
from salespulse.semantic.query import Query, context, run
from salespulse.semantic.rollup import Rollups
from salespulse.settings import Settings
from salespulse.warehouse.store import Store


def biggest_leak(frame: pd.DataFrame, label: str) -> Any:
    """The ``label`` of the row whose conversion (``value``) is lowest, i.e. whose drop
    1 − value is largest; None when no row has a value. Ties go to the earlier row."""
    rows = frame.dropna(subset=["value"])
    if rows.empty:
        return None
    return rows[label].iloc[int(rows["value"].to_numpy().argmin())]


def stage_funnel(
    store: Store,
    start: date | None = None,
    end: date | None = None,
    as_of: date | None = None,
    where: dict[str, Any] | None = None,
    settings: Settings | None = None,
    ctx: Context | None = None,
    rollups: Rollups | None = None,
) -> pd.DataFrame:
    """Per stage: stage, stage_name, entered, moved_on, conversion, drop, is_leak.

    ``ctx`` (optional) is an open query context to reuse (a page's), ``rollups`` where its
    rollups are kept (see :func:`salespulse.semantic.query.run`)."""
    ctx = ctx or context(store, settings, as_of)
    q = Query.make(
        "stage_conversion", by="stage", start=start, end=end, where=where, as_of=ctx.as_of
    )
    r = run(store, q, ctx=ctx, rollups=rollups)
    if not r.available:
        return pd.DataFrame(
            columns=["stage", "stage_name", "entered", "moved_on", "conversion", "drop", "is_leak"]
        )
    f = r.frame
    out = pd.DataFrame(
        {
            "stage": f["stage"],
            "stage_name": f["stage_name"],
            "entered": f["denominator"],
            "moved_on": f["numerator"],
            "conversion": f["value"],
            "drop": 1 - f["value"],
        }
    )
    leak = biggest_leak(f, "stage")
    out["is_leak"] = out["stage"] == leak
    return out


def lead_funnel(
    store: Store,
    start: date | None = None,
    end: date | None = None,
    as_of: date | None = None,
    where: dict[str, Any] | None = None,
    settings: Settings | None = None,
    ctx: Context | None = None,
    rollups: Rollups | None = None,
) -> pd.DataFrame:
    """Leads created in [start, end]: step (leads, sql, deal, won), count, conversion from
    the step before, and is_leak on the step with the lowest conversion."""
    ctx = ctx or context(store, settings, as_of)

    def totals(kpi: str) -> tuple[float, float]:
        q = Query.make(kpi, start=start, end=end, where=where, as_of=ctx.as_of)
        r = run(store, q, ctx=ctx, rollups=rollups)
        if not r.available or r.frame.empty:
            return 0.0, 0.0
        return float(r.frame["numerator"].iloc[0]), float(r.frame["denominator"].iloc[0])

    sql, leads = totals("lead_to_sql_rate")
    deal, _ = totals("sql_to_deal_rate")
    won, _ = totals("lead_to_won_rate")
    counts = [leads, sql, deal, won]
    conv = [None] + [(b / a if a else None) for a, b in itertools.pairwise(counts)]
    out = pd.DataFrame(
        {
            "step": ["leads", "sql", "deal", "won"],
            "count": counts,
            "value": pd.array(conv, dtype="Float64"),
        }
    )
    leak = biggest_leak(out.astype({"value": "float64"}), "step")
    out = out.rename(columns={"value": "conversion"})
    out["is_leak"] = out["step"] == leak
    return out
