"""Drill-down records as a manager reads them: names instead of ids, readable headers.

The semantic layer's records (``salespulse.semantic.query.records``) carry the raw facts
(``rep_id``, ``stage_id``, ``amount_eur``, helper flags, …), which is what the CSV download and
the API give analysts. A page shows a curated subset in a fixed order: names looked up for
reps, teams, accounts, stages and products; vocabulary values (channel, activity type, …)
marked for translation; ids, internal flags and duplicates left out. Presentation only:
nothing is counted or computed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from salespulse.i18n import both
from salespulse.services.models import Column, Table
from salespulse.services.names import Names
from salespulse.services.runner import rows_of


@dataclass(frozen=True)
class Field:
    """One shown column: read from ``source`` (an id column is looked up in ``names``)."""

    source: str
    id: str
    title: str  # i18n key
    unit: str = ""
    terms: str | None = None
    names: str | None = None  # lookup table (reps, teams, accounts, stages, products)


#: The columns a drill-down list shows, in this order, where the records have them.
FIELDS: tuple[Field, ...] = (
    Field("in_numerator", "in_numerator", "col.counted", unit="flag"),
    Field("name", "name", "col.deal"),
    Field("company", "company", "col.company"),
    Field("rep_name", "rep_name", "col.rep"),
    Field("rep_id", "rep_name", "col.rep", names="reps"),
    Field("account_id", "account_name", "col.account", names="accounts"),
    Field("team_name", "team_name", "col.team"),
    Field("team_id", "team_name", "col.team", names="teams"),
    Field("region", "region", "col.region"),
    Field("activity_type", "activity_type", "col.activity_type", terms="activity_type"),
    Field("direction", "direction", "col.direction", terms="direction"),
    Field("subject", "subject", "col.subject"),
    Field("occurred_at", "occurred_at", "col.occurred", unit="date"),
    Field("due_at", "due_at", "col.due", unit="date"),
    Field("completed_at", "completed_at", "col.completed", unit="date"),
    Field("from_stage_id", "from_stage_name", "col.from_stage", terms="stage", names="stages"),
    Field("stage_name", "stage_name", "col.stage", terms="stage"),
    Field("stage_id", "stage_name", "col.stage", terms="stage", names="stages"),
    Field("product_id", "product_name", "col.product", names="products"),
    Field("channel", "channel", "col.channel", terms="channel"),
    Field("lead_status", "lead_status", "col.lead_status", terms="lead_status"),
    Field("industry", "industry", "col.industry"),
    Field("amount_eur", "amount_eur", "col.amount", unit="EUR"),
    Field("created_at", "created_at", "col.created", unit="date"),
    Field("sql_at", "sql_at", "col.sql_at", unit="date"),
    Field("first_outbound_at", "first_outbound_at", "col.first_outbound", unit="date"),
    Field("response_hours", "response_hours", "col.response_hours", unit="hours"),
    Field("entered_at", "entered_at", "col.entered", unit="date"),
    Field("first_at", "first_at", "col.entered", unit="date"),
    Field("valid_from", "valid_from", "col.in_stage_since", unit="date"),
    Field("stale_after_days", "stale_after_days", "col.stale_after", unit="days"),
    Field("emails", "emails", "col.emails", unit="count"),
    Field("expected_close_on", "expected_close_on", "col.close", unit="date"),
    Field("closed_at", "closed_at", "col.closed", unit="date"),
    Field("outcome", "outcome", "col.outcome", terms="outcome"),
    Field("lost_reason", "lost_reason", "col.lost_reason", terms="lost_reason"),
    Field("cycle_days", "cycle_days", "col.cycle_days", unit="days"),
    Field("skipped_stages", "skipped_stages", "col.skipped_stages", unit="count"),
    Field("hired_on", "hired_on", "col.hired", unit="date"),
    Field("left_on", "left_on", "col.left", unit="date"),
    Field("first_contact_at", "first_contact_at", "col.first_contact", unit="date"),
    Field("ramp_days", "ramp_days", "col.ramp_days", unit="days"),
)


def counted_first(frame: pd.DataFrame) -> pd.DataFrame:
    """The records a figure counts (``in_numerator``) before the rest of its denominator,
    otherwise in their order."""
    if "in_numerator" not in frame.columns:
        return frame
    return frame.sort_values("in_numerator", ascending=False, kind="stable")


def readable(
    tid: str,
    frame: pd.DataFrame,
    names: Names,
    csv: dict[str, Any] | None = None,
    skip: tuple[str, ...] = (),
) -> Table:
    """``frame`` (a KPI's records) as a table of the :data:`FIELDS` it has (minus ``skip``)."""
    cols: list[Column] = []
    out = pd.DataFrame(index=frame.index)
    for f in FIELDS:
        if f.source not in frame.columns or f.id in out.columns or f.id in skip:
            continue
        if f.id == "account_name" and "company" in out.columns:
            continue  # a lead's company is its account: one column
        values = frame[f.source]
        if f.names:
            lookup = names.get(f.names, {})
            values = values.map(lambda v, lookup=lookup: lookup.get(v, v))
        out[f.id] = values
        en, nl = both(f.title)
        cols.append(Column(id=f.id, title_en=en, title_nl=nl, unit=f.unit, terms=f.terms))
    en, nl = both("explorer.records")
    return Table(
        id=tid, title_en=en, title_nl=nl, columns=cols, rows=rows_of(out), csv=csv, key=None
    )
