"""``salespulse forecast snapshot``: store the forecast as of a date, per method, per deal
and aggregated, in ``forecast_snapshots`` and ``forecast_snapshot_deals``.

A snapshot of a past date is reconstructed from history: it is the forecast as it would
have been made then (everything is read as of that date), so a new user has a track record
on the first day. Taking a snapshot again for the same date and method replaces it.
A weekly cron line: ``0 6 * * 1 salespulse forecast snapshot --db …``.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from salespulse.forecast import categories
from salespulse.forecast.run import METHODS, compute
from salespulse.semantic import timecal
from salespulse.semantic.model import Context
from salespulse.semantic.timecal import Grain
from salespulse.warehouse.engine import insert_arrow
from salespulse.warehouse.schema import SYSTEM_TABLES
from salespulse.warehouse.store import Store, conform, utcnow

_T = {t.name: t for t in SYSTEM_TABLES}
#: Draws per stored forecast.
DRAWS = 5_000


def take(ctx: Context, methods: tuple[str, ...] = METHODS, draws: int = DRAWS) -> dict[str, int]:
    """Compute and store the forecast as of ``ctx.as_of``; rows written per table."""
    store = ctx.store
    f = compute(ctx, methods=methods, draws=draws)
    now = utcnow()
    s = f.summary.rename(columns={"by": "breakdown", "group": "group_id"})
    s = s.assign(as_of=f.as_of, taken_at=now)
    q_end = timecal.next_period(
        timecal.period_start(ctx.as_of, Grain.quarter, ctx.settings), Grain.quarter
    ) - timedelta(days=1)
    d = categories.categorize(store, f.deals, ctx.as_of, q_end) if not f.deals.empty else f.deals
    if not d.empty:
        d = d.assign(as_of=f.as_of)[
            [
                c
                for c in _T["forecast_snapshot_deals"].column_names
                if c in d.columns or c == "as_of"
            ]
        ]
    with store.transaction():
        for m in f.methods:
            for name in ("forecast_snapshots", "forecast_snapshot_deals"):
                store.con.raw_sql(
                    f"DELETE FROM {name} WHERE as_of = DATE '{f.as_of.isoformat()}' "
                    f"AND method = '{m}'"
                )
        if not s.empty:
            insert_arrow(store.con, "forecast_snapshots", conform(_T["forecast_snapshots"], s))
        if not d.empty:
            insert_arrow(
                store.con, "forecast_snapshot_deals", conform(_T["forecast_snapshot_deals"], d)
            )
    return {"forecast_snapshots": len(s), "forecast_snapshot_deals": len(d)}


def stored(store: Store, method: str | None = None) -> pd.DataFrame:
    """The stored totals per snapshot date, method and period."""
    t = store.con.table("forecast_snapshots")
    t = t.filter(t.breakdown == "total")
    if method:
        t = t.filter(t.method == method)
    return t.order_by(["as_of", "method", "grain", "period_start"]).execute()
