"""Activity KPIs: calls and e-mails (W4), CRM adoption and tasks (W10), ramp time (S7).

Activities count on the day they happened (``occurred_at``); tasks on their due date.
*Deal updates* (stage changes, by the rep who made them or else the deal owner) count as a
CRM activity for adoption.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
from ibis import _

from salespulse.semantic import timecal
from salespulse.semantic.kpi import ACTIVITY_DIMS, REP_DIMS, Dim, Facts, Kind, Kpi, Unit, same_rows
from salespulse.semantic.measures import Count, Mean, Ratio, Sum
from salespulse.semantic.model import Context, days_between
from salespulse.semantic.relations import without
from salespulse.semantic.timecal import Grain

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


def _crm_log(ctx: Context) -> ir.Table:
    """Activities plus deal updates (stage changes) as one log: id, type, rep, time."""
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
    return a.cast(upd.schema()).union(upd)  # the same types, both nullable


def crm_facts(ctx: Context) -> Facts:
    """The CRM log (:func:`_crm_log`) with the rep's team and region."""
    log = _crm_log(ctx)
    rd = ctx.rep_dims.rename(_r="rep_id")
    log = without(log.left_join(rd, log.rep_id == rd._r), "_r")
    return Facts(log, "activities", "activity_id", at="occurred_at")


def crm_week_facts(ctx: Context) -> Facts:
    """Reps × periods with the CRM feature-weeks they used and could have used.

    ``used``: distinct (local week, feature) pairs in the rep's CRM log within the period;
    ``slots``: the weeks the rep was on staff in the period (days on staff / 7, rounded
    up, up to as-of) × the number of features.
    """
    f = _crm_log(ctx)
    log = f.select(_r=f.rep_id, _at=f.occurred_at, _type=f.activity_type)
    n = float(len(CRM_FEATURES))

    def per_period(r: ir.Table, periods: ir.Table, dims: frozenset[Dim]) -> ir.Table:
        j = r.cross_join(periods)
        start = ibis.greatest(j.p_start_on, ibis.coalesce(j.hired_on, j.p_start_on))
        left_end = (j.left_on + ibis.interval(days=1)).cast("date")
        end = ibis.least(j.p_end_on, ibis.coalesce(left_end, j.p_end_on))
        secs = end.cast("timestamp").epoch_seconds() - start.cast("timestamp").epoch_seconds()
        j = j.mutate(slots=ibis.greatest((secs / (7 * 86400.0)).ceil(), 0.0) * n)
        u = j.select("rep_id", "period", "p_start_at", "p_end_at")
        u = u.inner_join(log, u.rep_id == log._r)
        # the period's UTC instants, not its local days: local time (and its week) only
        # for the log rows within a period, not for the whole log
        u = u.filter((u._at >= u.p_start_at) & (u._at < u.p_end_at))
        week = timecal.truncate(ctx.local(u._at), Grain.week, ctx.settings)
        pair = week.cast("string").concat(ibis.literal("/"), u._type)
        u = u.group_by(_ur="rep_id", _up="period").aggregate(used=pair.nunique())
        j = without(j.left_join(u, [j.rep_id == u._ur, j.period == u._up]), "_ur", "_up")
        return j.mutate(used=j.used.fill_null(0).cast("float64"))

    return Facts(
        ctx.reps,
        "reps",
        "rep_id",
        per_period=per_period,
        per_period_rows=same_rows,
        default_grain=Grain.month,
    )


def task_facts(ctx: Context) -> Facts:
    """Tasks by due date, with whether they were completed (by as-of), whether their due
    time has passed by then, and whether they were completed by their due time."""
    t = ctx.activities.filter((_.activity_type == "task") & _.due_at.notnull())
    t = t.mutate(
        is_completed=t.completed_at.notnull(),
        is_due=t.completed_at.notnull() | (t.due_at < ctx.cutoff),
        on_time=t.completed_at.notnull() & (t.completed_at <= t.due_at),
    )
    return Facts(t, "activities", "activity_id", at="due_at")


def overdue_task_facts(ctx: Context) -> Facts:
    """Tasks while overdue: from their due time until completed. Tasks of reps who have
    left by the as-of date are not counted (nobody will do them; they are not the team's
    backlog)."""
    t = ctx.activities.filter((_.activity_type == "task") & _.due_at.notnull())
    t = t.filter(t.completed_at.isnull() | (t.completed_at > t.due_at))
    left = ctx.reps.filter(_.left_on.notnull() & (_.left_on < ctx.as_of)).select(_gone="rep_id")
    t = t.anti_join(left, t.rep_id == left._gone)
    return Facts(t, "activities", "activity_id", valid_from="due_at", valid_to="completed_at")


def ramp_facts(ctx: Context) -> Facts:
    """New reps (by hire date) with days from their first day to their first outbound
    activity with a lead or contact (null while there is none). Only reps hired on or
    after the first logged activity count: for earlier hires the data cannot tell."""
    # the activities table itself (no rep teams), read twice with nothing shared: a shared
    # relation of every activity would be materialized by the database for both readers
    a = ctx.outbound_contacts
    first = a.group_by(_r="rep_id").aggregate(first_contact_at=a.occurred_at.min())
    log = ctx.t("activities")
    logged = log.occurred_at.min(where=log.occurred_at < ctx.cutoff)
    log_start = logged.cast("date").as_scalar()
    r = ctx.reps.filter(
        _.hired_on.notnull() & (_.hired_on <= ctx.as_of) & (_.hired_on >= log_start)
    )
    j = without(r.left_join(first, r.rep_id == first._r), "_r")
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
        "CRM use: feature-weeks",
        "CRM-gebruik: functieweken",
        "Breadth and regularity of CRM use: of the weeks a rep was on staff in the period × "
        "the six CRM features (calls, e-mails, meetings, tasks, notes, deal updates), the "
        "share of (week, feature) pairs in which the rep logged that feature at least once. "
        "A rep who logs everything every week scores 100 %; one who logs calls only, or "
        "only in some weeks, scores lower.",
        Unit.ratio,
        crm_week_facts,
        Ratio(Sum(_.used), Sum(_.slots)),
        kind=Kind.period,
        dims=REP_DIMS,
        source="W10",
        requires=ACT,
        default_by=("rep", "month"),
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
        "tasks_on_time_share",
        "Tasks completed on time",
        "Taken op tijd voltooid",
        "Of the tasks due in the period whose due time has passed by the as-of date (or "
        "that were completed), the share completed by their due time.",
        Unit.ratio,
        task_facts,
        Ratio(Count(where=_.on_time), Count(where=_.is_due)),
        dims=ACTIVITY_DIMS[:3],
        source="W10",
        requires=ACT,
        default_by=("rep",),
    ),
    Kpi(
        "tasks_overdue",
        "Overdue tasks",
        "Verlopen taken",
        "Tasks past their due time and not completed, as of a date (tasks of reps who have "
        "left are not counted).",
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
