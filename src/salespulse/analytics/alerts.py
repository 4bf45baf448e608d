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
==========================  =================================  ============================

Flow KPIs (SLA breaches, stage skipping, e-mail-only deals) look back ``LOOKBACK_DAYS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pandas as pd

from salespulse.semantic.catalogue import get_kpi
from salespulse.semantic.model import Context
from salespulse.semantic.query import Query, context, missing_data, records, run
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
    #: Extra row filter on the records (column, value) — e.g. only still-open deals.
    only: tuple[str, Any] | None = None


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
        "Late-stage deals worked by e-mail only",
        "Late deals met alleen e-mailcontact",
        "medium",
        lookback=True,
        only=("is_lost", False),
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

    def to_dict(self, limit: int | None = None) -> dict[str, Any]:
        from salespulse.semantic.query import jsonable

        rows = self.records if limit is None else self.records.head(limit)
        return {
            "kind": self.kind,
            "kpi": self.kpi,
            "title_en": self.title_en,
            "title_nl": self.title_nl,
            "severity": self.severity,
            "count": self.count,
            "available": self.available,
            "reason": self.reason,
            "records": [
                {k: jsonable(v) for k, v in r.items()} for r in rows.to_dict(orient="records")
            ],
        }


def list_alerts(
    store: Store,
    settings: Settings | None = None,
    as_of: date | None = None,
    where: dict[str, Any] | None = None,
    ctx: Context | None = None,
) -> list[Alert]:
    """Every alert as of ``as_of`` (default today), in order of severity. ``where``
    filters by breakdown (e.g. ``{"team": "T1"}``) where the alert's KPI allows it.
    Pass a (materialized) ``ctx`` to share it between calls; it is then not closed here."""
    own = ctx is None
    ctx = ctx or context(store, settings, as_of, materialize=True)
    try:
        return [_alert(store, ctx, rule, where) for rule in RULES]
    finally:
        if own:
            ctx.close()


def _alert(store: Store, ctx: Context, rule: AlertRule, where: dict[str, Any] | None) -> Alert:
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
    start = ctx.as_of - timedelta(days=LOOKBACK_DAYS) if rule.lookback else None
    dims = {d.value for d in kpi.dims}
    q = Query.make(
        rule.kpi,
        start=start,
        end=ctx.as_of if rule.lookback else None,
        where={k: v for k, v in (where or {}).items() if k in dims},
        as_of=ctx.as_of,
    )
    if rule.only:
        col, val = rule.only
        recs = records(store, q, limit=None, numerator_only=True, ctx=ctx)
        recs = recs[recs[col] == val]
        count = len(recs)
    else:
        recs = records(store, q, limit=MAX_RECORDS, numerator_only=True, ctx=ctx)
        frame = run(store, q, ctx=ctx).frame
        count = int(frame["value"].fillna(0).sum()) if len(frame) else 0
    return Alert(
        rule.kind,
        rule.kpi,
        rule.title_en,
        rule.title_nl,
        rule.severity,
        count,
        recs.head(MAX_RECORDS).reset_index(drop=True),
    )
