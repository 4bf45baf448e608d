"""Alerts: what the data says needs attention now, so that no lead leaks out of the bucket.

Each alert is a KPI's numerator as of a date, with the records behind it (drill-down of the
same KPI — the alert never re-defines what it counts):

==========================  =================================  ============================
alert                       KPI                                 records
==========================  =================================  ============================
unassigned_leads            unassigned_leads                    active leads without owner
sla_breaches                sqls_unanswered_past_sla            SQLs with no follow-up
stale_deals                 stale_deals                         open deals stuck in a stage
email_only_late_deals       email_only_late_deals               open late deals, e-mail only
stage_skipping              skipped_stage_deals                 deals that skipped a stage
overdue_close_dates         overdue_close_deals                 open deals past close date
slow_responders             first_response_hours, …_sla_share   reps answering SQLs slowly
==========================  =================================  ============================

Flow KPIs (SLA breaches, stage skipping, e-mail-only deals, slow responders) look back
``LOOKBACK_DAYS``; each alert carries its window (``start``, ``end``) so that every surface
can say which days it covers. A slow responder is a rep whose mean first response over the
window is above the red line (``first_response_red_line_hours``, 42 h) or whose share
answered within the SLA is below ``slow_response_min_sla_share``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import pandas as pd

from salespulse.semantic.catalogue import get_kpi
from salespulse.semantic.model import Context
from salespulse.semantic.query import Query, context, missing_data, plan, records, run
from salespulse.semantic.rollup import Rollups, records_query
from salespulse.serialize import jsonable, rows
from salespulse.settings import Settings
from salespulse.warehouse.store import Store

LOOKBACK_DAYS = 90
MAX_RECORDS = 500


@dataclass(frozen=True)
class AlertRule:
    kind: str
    kpi: str
    title_en: str
    title_nl: str
    severity: str  # high / medium / low
    lookback: bool = False


RULES = (
    AlertRule(
        "unassigned_leads",
        "unassigned_leads",
        "Leads without an owner",
        "Leads zonder eigenaar",
        "high",
    ),
    AlertRule(
        "sla_breaches",
        "sqls_unanswered_past_sla",
        "SQLs without follow-up past the SLA",
        "SQL's zonder opvolging na de SLA",
        "high",
        lookback=True,
    ),
    AlertRule(
        "stale_deals",
        "stale_deals",
        "Stale deals (stuck in a stage)",
        "Vastgelopen deals",
        "medium",
    ),
    AlertRule(
        "email_only_late_deals",
        "email_only_late_deals",
        "Late-stage deals without a call or meeting (open or lost)",
        "Late deals zonder telefoon of afspraak (open of verloren)",
        "medium",
        lookback=True,
    ),
    AlertRule(
        "stage_skipping",
        "skipped_stage_deals",
        "Deals that skipped a required stage",
        "Deals met een overgeslagen fase",
        "low",
        lookback=True,
    ),
    AlertRule(
        "overdue_close_dates",
        "overdue_close_deals",
        "Open deals with a close date in the past",
        "Open deals met verlopen sluitdatum",
        "low",
    ),
    AlertRule(
        "slow_responders",
        "first_response_hours",
        "Reps answering SQLs slowly",
        "Verkopers die traag reageren op SQL's",
        "high",
        lookback=True,
    ),
)


@dataclass
class Alert:
    kind: str
    kpi: str
    title_en: str
    title_nl: str
    severity: str
    count: int
    records: pd.DataFrame
    available: bool = True
    reason: str | None = None
    #: The days a look-back alert covers (None for alerts about the state on as-of).
    start: date | None = None
    end: date | None = None

    def to_dict(self, limit: int | None = None) -> dict[str, Any]:
        recs = self.records if limit is None else self.records.head(limit)
        return {
            "kind": self.kind,
            "kpi": self.kpi,
            "title_en": self.title_en,
            "title_nl": self.title_nl,
            "severity": self.severity,
            "count": self.count,
            "available": self.available,
            "reason": self.reason,
            "start": jsonable(self.start),
            "end": jsonable(self.end),
            "records": rows(recs),
        }


def list_alerts(
    store: Store,
    settings: Settings | None = None,
    as_of: date | None = None,
    where: dict[str, Any] | None = None,
    ctx: Context | None = None,
    rollups: Rollups | None = None,
) -> list[Alert]:
    """Every alert as of ``as_of`` (default today), in order of severity. ``where``
    filters by breakdown (e.g. ``{"team": "T1"}``) where the alert's KPI allows it.
    Pass a (materialized) ``ctx`` to share it between calls; it is then not closed here.
    With ``rollups``, counts and records come from the unfiltered ones kept there (any
    team or rep then costs no query; :mod:`salespulse.semantic.rollup`)."""
    own = ctx is None
    ctx = ctx or context(store, settings, as_of, materialize=rollups is None)
    try:
        return [_alert(store, ctx, rule, where, rollups) for rule in RULES]
    finally:
        if own:
            ctx.close()


def _alert(
    store: Store,
    ctx: Context,
    rule: AlertRule,
    where: dict[str, Any] | None,
    rollups: Rollups | None = None,
) -> Alert:
    """One alert: its KPI's count as of the context's date, with the records behind it."""
    kpi = get_kpi(rule.kpi)
    reason = missing_data(ctx, kpi)
    if reason:
        return Alert(
            rule.kind,
            rule.kpi,
            rule.title_en,
            rule.title_nl,
            rule.severity,
            0,
            pd.DataFrame(),
            available=False,
            reason=reason,
        )
    start = ctx.as_of - timedelta(days=LOOKBACK_DAYS - 1) if rule.lookback else None
    end = ctx.as_of if rule.lookback else None
    dims = {d.value for d in kpi.dims}
    q = Query.make(
        rule.kpi,
        start=start,
        end=end,
        where={k: v for k, v in (where or {}).items() if k in dims},
        as_of=ctx.as_of,
    )
    if rule.kind == "slow_responders":
        recs = _slow_responders(store, ctx, q, rollups)
        count = len(recs)
    else:
        # from the kept unfiltered records (in the same record order) where they answer
        whole = rollups is not None and records_query(q, plan(q)) is not None
        limit = None if whole else MAX_RECORDS
        recs = records(store, q, limit=limit, numerator_only=True, ctx=ctx, rollups=rollups)
        frame = run(store, q, ctx=ctx, rollups=rollups).frame
        count = int(frame["value"].fillna(0).sum()) if len(frame) else 0
    return Alert(
        rule.kind,
        rule.kpi,
        rule.title_en,
        rule.title_nl,
        rule.severity,
        count,
        recs.head(MAX_RECORDS).reset_index(drop=True),
        start=start,
        end=end,
    )


def _slow_responders(
    store: Store, ctx: Context, q: Query, rollups: Rollups | None = None
) -> pd.DataFrame:
    """Reps whose mean first response is above the red line or whose SLA share is below
    the setting, over the query's window: one row per rep with both figures."""
    s = ctx.settings
    by_rep = replace(q, by=("rep",))
    mean = run(store, by_rep, ctx=ctx, rollups=rollups).frame
    sla_q = replace(by_rep, kpi="first_response_sla_share")
    sla = run(store, sla_q, ctx=ctx, rollups=rollups).frame
    cols = ["rep", "rep_name", "value", "denominator"]
    m = mean[[c for c in cols if c in mean]].rename(
        columns={"value": "mean_response_hours", "denominator": "sqls_answered"}
    )
    share = sla[["rep", "value"]].rename(columns={"value": "within_sla_share"})
    out = m.merge(share, on="rep", how="outer")
    slow = (out.mean_response_hours > s.first_response_red_line_hours) | (
        out.within_sla_share < s.slow_response_min_sla_share
    )
    out = out[slow.fillna(False) & out.rep.notna()]
    return out.sort_values("mean_response_hours", ascending=False).reset_index(drop=True)
