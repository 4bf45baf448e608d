"""Activity KPIs: calls and e-mails (W4), CRM adoption and tasks (W10), ramp time (S7).

Activities count on the day they happened (``occurred_at``); tasks on their due date.
*Deal updates* (stage changes, by the rep who made them or else the deal owner) count as a
CRM activity for adoption.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
from ibis import _

from salespulse.semantic.kpi import ACTIVITY_DIMS, REP_DIMS, Facts, Kind, Kpi, Unit
from salespulse.semantic.measures import Count, Mean, Ratio
from salespulse.semantic.model import Context, days_between

#: The CRM features whose use W10 measures.
CRM_FEATURES = ("call", "email", "meeting", "task", "note", "deal_update")


def activity_facts(ctx: Context) -> Facts:
    cols = [
        "activity_id",
        "activity_type",
        "direction",
        "outcome",
        "rep_id",
        "team_id",
        "region",
        "lead_id",
        "deal_id",
        "account_id",
        "occurred_at",
    ]
    return Facts(ctx.activities.select(cols), "activities", "activity_id", at="occurred_at")


def crm_facts(ctx: Context) -> Facts:
    """Activities plus deal updates (stage changes) as one log."""
    a = ctx.activities.select("activity_id", "activity_type", "rep_id", "occurred_at")
    h = ctx.stage_history.filter(_.visit > 1)
    owner = ctx.deals.select(_d="deal_id", _owner="rep_id")
    h = h.left_join(owner, h.deal_id == owner._d)
    upd = h.select(
        activity_id=h.deal_id.concat(ibis.literal("@"), h.entered_at.cast("string")),
        activity_type=ibis.literal("deal_update"),
        rep_id=ibis.coalesce(h.changed_by_rep_id, h._owner),
        occurred_at=h.entered_at,
    )
    log = a.union(upd)
    rd = ctx.rep_dims.rename(_r="rep_id")
    log = log.left_join(rd, log.rep_id == rd._r).drop("_r")
    return Facts(log, "activities", "activity_id", at="occurred_at")


def task_facts(ctx: Context) -> Facts:
    """Tasks by due date, with whether they were completed (by as-of) and on time."""
    t = ctx.activities.filter((_.activity_type == "task") & _.due_at.notnull())
    t = t.mutate(
        is_completed=t.completed_at.notnull(),
        on_time=t.completed_at.notnull() & (t.completed_at <= t.due_at),
    )
    return Facts(t, "activities", "activity_id", at="due_at")


def overdue_task_facts(ctx: Context) -> Facts:
    """Tasks while overdue: from their due time until completed."""
    t = ctx.activities.filter((_.activity_type == "task") & _.due_at.notnull())
    t = t.filter(t.completed_at.isnull() | (t.completed_at > t.due_at))
    return Facts(t, "activities", "activity_id", valid_from="due_at", valid_to="completed_at")


def ramp_facts(ctx: Context) -> Facts:
    """New reps (by hire date) with days from their first day to their first outbound
    activity with a lead or contact (null while there is none). Only reps hired on or
    after the first logged activity count: for earlier hires the data cannot tell."""
    a = ctx.activities.filter(
        _.is_outbound & _.lead_id.notnull() & _.activity_type.isin(["call", "email", "meeting"])
    )
    first = a.group_by(_r="rep_id").aggregate(first_contact_at=a.occurred_at.min())
    log_start = ctx.activities.occurred_at.min().cast("date").as_scalar()
    r = ctx.reps.filter(
        _.hired_on.notnull() & (_.hired_on <= ctx.as_of) & (_.hired_on >= log_start)
    )
    j = r.left_join(first, r.rep_id == first._r).drop("_r")
    hired_at = j.hired_on.cast("timestamp")
    j = j.mutate(ramp_days=days_between(hired_at, j.first_contact_at).floor().cast("float64"))
    return Facts(j, "reps", "rep_id", at="hired_on")


def _is(kind: str) -> ir.Deferred:
    return _.activity_type == kind


ACT = ("activities",)

KPIS = (
    Kpi(
        "activities",
        "Activities",
        "Activiteiten",
        "Logged calls, e-mails, meetings, tasks and notes in the period, per rep and type.",
        Unit.count,
        activity_facts,
        Count(),
        dims=ACTIVITY_DIMS,
        source="W10",
        requires=ACT,
        default_by=("rep", "activity_type"),
        higher_is_better=None,
    ),
    Kpi(
        "calls",
        "Calls",
        "Belletjes",
        "Calls logged in the period, outbound and inbound, whatever their outcome.",
        Unit.count,
        activity_facts,
        Count(where=_is("call")),
        dims=ACTIVITY_DIMS,
        source="W4",
        primary=True,
        requires=ACT,
        default_by=("rep", "month"),
    ),
    Kpi(
        "emails",
        "E-mails",
        "E-mails",
        "E-mails logged in the period (sent and received).",
        Unit.count,
        activity_facts,
        Count(where=_is("email")),
        dims=ACTIVITY_DIMS,
        source="W4",
        requires=ACT,
        default_by=("rep", "month"),
        higher_is_better=None,
    ),
    Kpi(
        "meetings",
        "Meetings",
        "Afspraken",
        "Meetings logged in the period (held or not), by the day they were planned for.",
        Unit.count,
        activity_facts,
        Count(where=_is("meeting")),
        dims=ACTIVITY_DIMS,
        source="W4",
        requires=ACT,
        default_by=("rep", "month"),
    ),
    Kpi(
        "call_email_balance",
        "Call/e-mail balance",
        "Verhouding bellen/mailen",
        "Calls / (calls + e-mails) in the period: 1 = only calls, 0 = only e-mail. The "
        "source warns that e-mail alone loses deals late in the process.",
        Unit.ratio,
        activity_facts,
        Ratio(Count(where=_is("call")), Count(where=_.activity_type.isin(["call", "email"]))),
        dims=ACTIVITY_DIMS,
        source="W4",
        requires=ACT,
        default_by=("rep", "month"),
        higher_is_better=None,
    ),
    Kpi(
        "crm_activities",
        "CRM activity (incl. deal updates)",
        "CRM-activiteit",
        "Activities and deal updates (stage changes) logged per rep in the period: who is "
        "at home in the CRM.",
        Unit.count,
        crm_facts,
        Count(),
        dims=ACTIVITY_DIMS,
        source="W10",
        primary=True,
        requires=ACT,
        default_by=("rep", "week"),
    ),
    Kpi(
        "crm_feature_share",
        "Share of CRM features used",
        "Aandeel gebruikte CRM-functies",
        "Of the six CRM features (calls, e-mails, meetings, tasks, notes, deal updates), "
        "the share a rep used at least once in the period.",
        Unit.ratio,
        crm_facts,
        Count(distinct="activity_type"),
        dims=ACTIVITY_DIMS[:3],
        source="W10",
        requires=ACT,
        default_by=("rep", "month"),
        scale=1.0 / len(CRM_FEATURES),
    ),
    Kpi(
        "tasks_due",
        "Tasks due",
        "Taken met deadline",
        "Tasks whose due date falls in the period, completed or not.",
        Unit.count,
        task_facts,
        Count(),
        dims=ACTIVITY_DIMS[:3],
        source="W10",
        requires=ACT,
        default_by=("rep",),
        higher_is_better=None,
    ),
    Kpi(
        "tasks_completed_share",
        "Tasks completed",
        "Voltooide taken",
        "Of the tasks due in the period, the share completed (by the as-of date).",
        Unit.ratio,
        task_facts,
        Ratio(Count(where=_.is_completed), Count()),
        dims=ACTIVITY_DIMS[:3],
        source="W10",
        requires=ACT,
        default_by=("rep",),
    ),
    Kpi(
        "tasks_overdue",
        "Overdue tasks",
        "Verlopen taken",
        "Tasks past their due time and not completed, as of a date.",
        Unit.count,
        overdue_task_facts,
        Count(),
        kind=Kind.snapshot,
        dims=ACTIVITY_DIMS[:3],
        source="W10",
        requires=ACT,
        higher_is_better=False,
        default_by=("rep",),
    ),
    Kpi(
        "ramp_time",
        "Average ramp time",
        "Gemiddelde inwerktijd",
        "Total days all new reps needed from their first day to their first outbound "
        "contact with a lead / number of new reps, for reps hired in the period (reps "
        "without a contact yet, and reps hired before the activity log starts, are left "
        "out).",
        Unit.days,
        ramp_facts,
        Mean(_.ramp_days),
        dims=REP_DIMS,
        source="S7",
        primary=True,
        requires=("reps.hired_on", "activities"),
        higher_is_better=False,
        default_by=("team",),
    ),
)
