"""Features of deals and leads **as known on an as-of date** (Ibis, computed in the engine).

Everything is read through the semantic layer's as-of relations (:class:`Context`): stage
history rows entered by then, activities that happened by then, leads' lifecycle dates
known by then. Two as-of facts the semantic layer does not have are added here, in small
functions of their own: the deal's close date and amount as known then (from
``deal_field_history``), and the owner's and account's record of closed deals by then.

Rules that keep the features honest:

* a deal's stage is known only from its stage history; without history the stage is
  ``not_known`` (the current ``stage_id`` column would tell a lost deal's fate);
* without field history the expected close date is not known (the current column is the
  date the deal closed in some exports);
* the amount is the one known then (field history), else the current amount — the
  leakage check (:mod:`salespulse.scoring.train`) refuses it if it gives the outcome away.

Times are UTC; day counts are fractional days up to the end of the as-of day (local).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
from ibis import _

from salespulse.semantic.model import Context, days_between
from salespulse.semantic.relations import without

#: Categorical deal features (strings; missing = "not_set").
DEAL_CATEGORICAL = ("stage_id", "channel", "product_id", "industry", "team_id")
#: Numeric deal features.
DEAL_NUMERIC = (
    "stage_order",
    "age_days",
    "days_in_stage",
    "stage_changes",
    "stages_skipped",
    "moves_back",
    "amount_eur",
    "calls",
    "emails",
    "call_balance",
    "meetings_held",
    "meetings_no_show",
    "replies",
    "inbound_calls",
    "activities_30d",
    "days_since_activity",
    "overdue_tasks",
    "close_date_pushes",
    "days_to_close",
    "owner_tenure_days",
    "owner_win_rate",
    "account_employees",
    "account_won_before",
)
DEAL_FEATURES = DEAL_CATEGORICAL + DEAL_NUMERIC
#: Stage of a deal whose stage history is not known.
NOT_KNOWN = "not_known"
NOT_SET = "not_set"
#: Tenure counts up to two years (ramp-up is over by then; more would only grow with time).
TENURE_CAP_DAYS = 730.0
#: Prior weight (in deals) of the owner's smoothed past win rate.
OWNER_PRIOR = 10.0


def open_deals(ctx: Context) -> ir.Table:
    """Deals open at ``ctx.as_of`` with their features (one row per deal): ``deal_id``,
    ``rep_id``, ``name``, ``stage_name``, ``expected_close_on`` (as known, or null) and
    :data:`DEAL_FEATURES`."""
    d = ctx.deals.filter(~_.is_closed)
    cut = ctx.cutoff
    h = ctx.stage_history
    hist = h.group_by("deal_id").aggregate(
        stage_changes=_.count() - 1,
        moves_back=(_.stage_order < _.prev_stage_order).fill_null(False).cast("int64").sum(),
        last_entered=_.entered_at.max(),
    )
    last = h.filter(_.is_last).select(
        l_deal="deal_id", h_stage_id="stage_id", h_order="stage_order", h_name="stage_name"
    )
    # required stages skipped on the way to the current stage
    req = ctx.stages.filter(_.is_required & ~_.is_closed)
    visited = (
        h.filter(_.is_required)
        .select("deal_id", v_order="stage_order")
        .distinct()
        .inner_join(last, _.deal_id == last.l_deal)
    )
    visited = visited.filter(visited.v_order < visited.h_order)
    n_visited = visited.group_by("deal_id").aggregate(visited_req=_.count())
    r = req.select(r_order="stage_order")
    below = last.inner_join(r, last.h_order > r.r_order)
    n_below = below.group_by("l_deal").aggregate(required_below=_.count())

    acts = deal_activity(ctx)
    fh = known_close_and_amount(ctx)
    own = owner_record(ctx)
    accw = account_record(ctx)
    acc = ctx.t("accounts").select(a_acc="account_id", account_employees="employees")
    reps = ctx.reps.select(o_rep="rep_id", hired_on="hired_on")

    j = without(d.left_join(hist, d.deal_id == hist.deal_id), "deal_id_right")
    j = without(j.left_join(last, j.deal_id == last.l_deal), "l_deal")
    j = without(j.left_join(n_visited, j.deal_id == n_visited.deal_id), "deal_id_right")
    j = without(j.left_join(n_below, j.deal_id == n_below.l_deal), "l_deal")
    j = without(j.left_join(acts, j.deal_id == acts.a_deal), "a_deal")
    j = without(j.left_join(fh, j.deal_id == fh.f_deal), "f_deal")
    j = without(j.left_join(own, j.rep_id == own.w_rep), "w_rep")
    j = without(j.left_join(accw, j.account_id == accw.c_acc), "c_acc")
    j = without(j.left_join(acc, j.account_id == acc.a_acc), "a_acc")
    j = without(j.left_join(reps, j.rep_id == reps.o_rep), "o_rep")
    known_stage = j.h_stage_id.notnull()
    as_of = ibis.literal(ctx.as_of)
    calls, emails = j.calls.fill_null(0), j.emails.fill_null(0)
    owner_closed = j.owner_closed.fill_null(0)
    overall = _overall_win_rate(ctx)
    amount = ibis.ifelse(
        j.f_amount.notnull() & j.amount.notnull() & (j.amount != 0),
        j.amount_eur * j.f_amount / j.amount,
        j.amount_eur,
    )
    return j.select(
        "deal_id",
        "rep_id",
        "name",
        "account_id",
        stage_name=ibis.ifelse(known_stage, j.h_name, ibis.null("string")),
        expected_close_on=j.f_close,
        stage_id=ibis.ifelse(known_stage, j.h_stage_id, ibis.literal(NOT_KNOWN)),
        channel=j.channel.fill_null(NOT_SET),
        product_id=j.product_id.fill_null(NOT_SET),
        industry=j.industry.fill_null(NOT_SET),
        team_id=j.team_id.fill_null(NOT_SET),
        stage_order=ibis.ifelse(known_stage, j.h_order, ibis.null("int64")).cast("float64"),
        age_days=days_between(j.created_at, cut),
        days_in_stage=ibis.ifelse(
            known_stage, days_between(j.last_entered, cut), ibis.null("float64")
        ),
        stage_changes=j.stage_changes.cast("float64"),
        stages_skipped=ibis.ifelse(
            known_stage,
            (j.required_below.fill_null(0) - j.visited_req.fill_null(0)).cast("float64"),
            ibis.null("float64"),
        ),
        moves_back=j.moves_back.cast("float64"),
        amount_eur=amount.cast("float64"),
        calls=calls.cast("float64"),
        emails=emails.cast("float64"),
        call_balance=ibis.ifelse(
            calls + emails > 0, calls.cast("float64") / (calls + emails), ibis.null("float64")
        ),
        meetings_held=j.meetings_held.fill_null(0).cast("float64"),
        meetings_no_show=j.meetings_no_show.fill_null(0).cast("float64"),
        replies=j.replies.fill_null(0).cast("float64"),
        inbound_calls=j.inbound_calls.fill_null(0).cast("float64"),
        activities_30d=j.activities_30d.fill_null(0).cast("float64"),
        days_since_activity=days_between(ibis.coalesce(j.last_activity_at, j.created_at), cut),
        overdue_tasks=j.overdue_tasks.fill_null(0).cast("float64"),
        close_date_pushes=j.pushes.cast("float64"),
        days_to_close=ibis.ifelse(
            j.f_close.notnull(), (j.f_close.cast("date") - as_of).cast("float64"), None
        ).cast("float64"),
        owner_tenure_days=ibis.least(
            ibis.ifelse(
                j.hired_on.notnull(), (as_of - j.hired_on.cast("date")).cast("float64"), None
            ),
            TENURE_CAP_DAYS,
        ).cast("float64"),
        owner_win_rate=(
            (j.owner_won.fill_null(0) + OWNER_PRIOR * overall) / (owner_closed + OWNER_PRIOR)
        ).cast("float64"),
        account_employees=j.account_employees.cast("float64"),
        account_won_before=j.account_won.fill_null(0).cast("float64"),
    )


def deal_activity(ctx: Context) -> ir.Table:
    """a_deal → activity counts and recency on the deal by ``as_of``."""
    a = ctx.activities.filter(_.deal_id.notnull())
    cut = ctx.cutoff
    recent = a.occurred_at >= cut - ibis.interval(days=30)
    typ, out = a.activity_type, a.is_outbound
    return a.group_by(a_deal=a.deal_id).aggregate(
        calls=(typ == "call").sum(),
        emails=(typ == "email").sum(),
        meetings_held=((typ == "meeting") & (a.outcome == "held")).sum(),
        meetings_no_show=((typ == "meeting") & (a.outcome == "no_show")).sum(),
        replies=((typ == "email") & ~out).sum(),
        inbound_calls=((typ == "call") & ~out).sum(),
        activities_30d=recent.sum(),
        last_activity_at=a.occurred_at.max(),
        overdue_tasks=(
            (typ == "task") & a.due_at.notnull() & (a.due_at < cut) & a.completed_at.isnull()
        ).sum(),
    )


def known_close_and_amount(ctx: Context) -> ir.Table:
    """f_deal → the expected close date and amount known at ``as_of`` (last field-history
    row by then), and how often the close date was pushed later by then. Not in the
    semantic layer (it keeps no history of these fields); kept here, small and separate."""
    fh = ctx.t("deal_field_history").filter(_.changed_at < ctx.cutoff)
    w = ibis.window(group_by="deal_id", order_by="changed_at")
    fh = fh.mutate(
        prev_close=fh.expected_close_on.lag().over(w),
        rn=ibis.row_number().over(
            ibis.window(group_by="deal_id", order_by=ibis.desc("changed_at"))
        ),
    )
    pushes = fh.group_by(f_deal=fh.deal_id).aggregate(
        pushes=(fh.expected_close_on > fh.prev_close).fill_null(False).cast("int64").sum()
    )
    lastrow = fh.filter(fh.rn == 0).select(
        l_deal="deal_id", f_close="expected_close_on", f_amount="amount"
    )
    return without(pushes.left_join(lastrow, pushes.f_deal == lastrow.l_deal), "l_deal")


def owner_record(ctx: Context) -> ir.Table:
    """w_rep → deals the rep owns that were closed (won or lost) by ``as_of``, and won."""
    c = ctx.deals.filter(_.is_closed)
    return c.group_by(w_rep=c.rep_id).aggregate(
        owner_closed=_.count(), owner_won=_.is_won.cast("int64").sum()
    )


def account_record(ctx: Context) -> ir.Table:
    """c_acc → deals won with the account by ``as_of``."""
    c = ctx.deals.filter(_.is_won & _.account_id.notnull())
    return c.group_by(c_acc=c.account_id).aggregate(account_won=_.count())


def _overall_win_rate(ctx: Context) -> ir.Scalar:
    c = ctx.deals.filter(_.is_closed)
    return ibis.coalesce(c.is_won.cast("float64").mean(), 0.5).as_scalar()


# -- leads -----------------------------------------------------------------------------

LEAD_CATEGORICAL = ("status", "channel", "industry", "job_title", "team_id")
LEAD_NUMERIC = (
    "age_days",
    "employees",
    "outbound_attempts",
    "calls_connected",
    "replies",
    "meetings_held",
    "days_since_activity",
    "owner_tenure_days",
)
LEAD_FEATURES = LEAD_CATEGORICAL + LEAD_NUMERIC


def active_leads(ctx: Context) -> ir.Table:
    """Leads active at ``as_of`` (created, not disqualified, no deal yet) with features:
    ``lead_id``, ``rep_id`` (owner), ``company`` and :data:`LEAD_FEATURES`. ``status`` is
    ``mql`` or ``open``."""
    lead = ctx.leads.filter(_.disqualified_at.isnull())
    deals = ctx.deals.filter(_.lead_id.notnull()).select(d_lead="lead_id").distinct()
    lead = lead.anti_join(deals, lead.lead_id == deals.d_lead)
    cut = ctx.cutoff
    a = ctx.activities.filter(_.lead_id.notnull() & _.deal_id.isnull())
    typ, out = a.activity_type, a.is_outbound
    acts = a.group_by(a_lead=a.lead_id).aggregate(
        outbound_attempts=(out & typ.isin(["call", "email"])).sum(),
        calls_connected=((typ == "call") & (a.outcome == "connected")).sum(),
        replies=(~out & typ.isin(["call", "email"])).sum(),
        meetings_held=((typ == "meeting") & (a.outcome == "held")).sum(),
        last_activity_at=a.occurred_at.max(),
    )
    reps = ctx.reps.select(o_rep="rep_id", hired_on="hired_on")
    j = without(lead.left_join(acts, lead.lead_id == acts.a_lead), "a_lead")
    j = without(j.left_join(reps, j.owner_rep_id == reps.o_rep), "o_rep")
    as_of = ibis.literal(ctx.as_of)
    return j.select(
        "lead_id",
        "company",
        rep_id=j.owner_rep_id,
        status=ibis.ifelse(j.mql_at.notnull(), ibis.literal("mql"), ibis.literal("open")),
        channel=j.channel.fill_null(NOT_SET),
        industry=j.industry.fill_null(NOT_SET),
        job_title=j.job_title.fill_null(NOT_SET),
        team_id=j.team_id.fill_null(NOT_SET),
        age_days=days_between(j.created_at, cut),
        employees=j.employees.cast("float64"),
        outbound_attempts=j.outbound_attempts.fill_null(0).cast("float64"),
        calls_connected=j.calls_connected.fill_null(0).cast("float64"),
        replies=j.replies.fill_null(0).cast("float64"),
        meetings_held=j.meetings_held.fill_null(0).cast("float64"),
        days_since_activity=days_between(ibis.coalesce(j.last_activity_at, j.created_at), cut),
        owner_tenure_days=ibis.ifelse(
            j.hired_on.notnull(), (as_of - j.hired_on.cast("date")).cast("float64"), None
        ).cast("float64"),
    )
