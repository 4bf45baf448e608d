"""Lead KPIs: SQLs per channel and rep (W1, W2), first response (W2), lead status (W3),
new leads (S3), lead age (S4), referrals (S8) and the lead funnel (W7).

A lead is *sales-qualified* (SQL) from ``sql_at``. *First response* is the owner's first
outbound call, e-mail or meeting on the lead, measured from ``sql_at`` (or ``created_at``
when no lead has an SQL date by the as-of date: a CRM that does not track the lifecycle).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
from ibis import _

from salespulse.semantic import timecal
from salespulse.semantic.kpi import LEAD_DIMS, Dim, Facts, Kind, Kpi, Unit
from salespulse.semantic.measures import Count, Mean, Quantile, Ratio
from salespulse.semantic.model import Context, days_between
from salespulse.semantic.relations import without
from salespulse.semantic.scoring import event_counts, load_rules


def earliest(*ts: ir.TimestampValue) -> ir.TimestampValue:
    """The earliest of the timestamps that are set; null when none is. (SQL's ``LEAST``
    skips nulls on every engine the product runs on: DuckDB, PostgreSQL, Spark.)"""
    if not ts:
        return ibis.null("timestamp")
    return ibis.least(*ts) if len(ts) > 1 else ts[0]


#: Lead statuses (W3), lowest to highest precedence; a lead has the highest it reached.
#: ``open_deal`` lasts while the lead has a deal that is not closed; once all its deals are
#: closed the lead is a ``customer`` (one was won) or ``deal_lost`` (all were lost).
LEAD_STATUSES = (
    "new",
    "attempting",
    "connected",
    "open_deal",
    "customer",
    "deal_lost",
    "unqualified",
)


def _with_first_response(ctx: Context, leads: ir.Table) -> ir.Table:
    """``leads`` (with ``lead_id`` and ``response_from``) with ``first_outbound_at`` (the
    owner's first outbound contact; one before ``response_from`` counts from it) and
    ``followed_up``."""
    fo = ctx.first_outbound.rename(fo_lead="lead_id")
    j = without(leads.left_join(fo, leads.lead_id == fo.fo_lead), "fo_lead")
    # the first outbound may precede SQL (worked before qualification): then 0 hours
    resp_at = ibis.ifelse(
        j.first_outbound_at < j.response_from, j.response_from, j.first_outbound_at
    )
    return j.mutate(first_outbound_at=resp_at, followed_up=resp_at.notnull())


def _lead_response(
    ctx: Context,
    from_created_without_sqls: bool,
    business_hours: bool = True,
    outbound: bool = True,
) -> ir.Table:
    """SQL leads with the response window start (``sql_at``) and — with ``outbound`` —
    the first outbound time and clock hours to it, with ``business_hours`` also the
    business hours to it (or, unanswered, to as-of). With ``from_created_without_sqls``,
    when no lead is an SQL by as-of (a CRM that does not track the lifecycle), all leads,
    from their creation. Each KPI asks only for what it uses: the first outbound contact
    is a join with the activities, business hours two ASOF joins more."""
    leads = ctx.leads
    # decided on what is known at as-of, so that later data cannot change the answer
    has_sqls = ctx.known_at_as_of("leads_sql_at", ctx.leads.sql_at.notnull().any())
    if has_sqls or not from_created_without_sqls:
        leads = leads.filter(_.sql_at.notnull()).mutate(response_from=_.sql_at)
    else:
        leads = leads.mutate(response_from=_.created_at)
    if not outbound:
        return leads.mutate(has_owner=leads.owner_rep_id.notnull()).rename(rep_id="owner_rep_id")
    j = _with_first_response(ctx, leads)
    resp_at = j.first_outbound_at
    clock = ibis.ifelse(
        resp_at.notnull(), days_between(j.response_from, resp_at) * 24.0, ibis.null("float64")
    )
    if not business_hours:
        return j.mutate(has_owner=j.owner_rep_id.notnull(), response_hours=clock).rename(
            rep_id="owner_rep_id"
        )
    j = j.mutate(_until=ibis.coalesce(resp_at, ctx.cutoff))
    j = timecal.with_business_hours(
        j, "response_from", "_until", "lead_id", ctx.business_calendar(), ctx.store.engine
    )
    sla = ctx.settings.first_response_sla_hours
    answered = j.first_outbound_at.notnull()
    return without(
        j.mutate(
            has_owner=j.owner_rep_id.notnull(),
            response_bh=ibis.ifelse(answered, j.business_hours, ibis.null("float64")),
            response_hours=clock,
            within_sla=answered & (j.business_hours <= sla),
            sla_due=answered | (j.business_hours > sla),
        ).rename(rep_id="owner_rep_id"),
        "_until",
    )


def sql_facts(ctx: Context) -> Facts:
    """Leads that became SQL, by SQL date, with their follow-up and its business hours."""
    return Facts(_lead_response(ctx, False), "leads", "lead_id", at="response_from")


def sql_count_facts(ctx: Context) -> Facts:
    """SQL leads by SQL date, with whether they have an owner (for KPIs that count them);
    the drill-down adds the first outbound contact."""
    return Facts(
        _lead_response(ctx, False, False, outbound=False),
        "leads",
        "lead_id",
        at="response_from",
        detail=lambda t: _with_first_response(ctx, t),
    )


def sql_followup_facts(ctx: Context) -> Facts:
    """As :func:`sql_count_facts`, with the first outbound contact (``followed_up``)."""
    return Facts(_lead_response(ctx, False, False), "leads", "lead_id", at="response_from")


def response_clock_facts(ctx: Context) -> Facts:
    """As :func:`response_facts` without the business hours (clock hours only)."""
    return Facts(_lead_response(ctx, True, False), "leads", "lead_id", at="response_from")


def response_facts(ctx: Context) -> Facts:
    """As :func:`sql_facts`; without any SQL date, all leads from creation (W2)."""
    return Facts(_lead_response(ctx, True), "leads", "lead_id", at="response_from")


def lead_facts(ctx: Context) -> Facts:
    t = ctx.leads.rename(rep_id="owner_rep_id")
    return Facts(t, "leads", "lead_id", at="created_at")


def _status_intervals(ctx: Context) -> ir.Table:
    """One row per (lead, status) the lead was in, with [valid_from, valid_to)."""
    a = ctx.activities.filter(_.lead_id.notnull())
    responded = (~a.is_outbound) | a.outcome.isin(["connected", "replied", "held"])
    touches = a.group_by(t_lead=a.lead_id).aggregate(
        t_attempt=a.occurred_at.min(where=a.is_outbound),
        t_connect=a.occurred_at.min(where=responded),
    )
    d = ctx.deals.filter(_.lead_id.notnull())
    deals = d.group_by(d_lead=d.lead_id).aggregate(
        t_deal=d.created_at.min(),
        n_open=(~d.is_closed).sum(),
        t_closed=d.closed_at.max(),
        won=d.is_won.any(),
    )
    leads = ctx.leads.rename(rep_id="owner_rep_id")
    j = without(leads.left_join(touches, leads.lead_id == touches.t_lead), "t_lead")
    j = without(j.left_join(deals, j.lead_id == deals.d_lead), "d_lead")
    # one row per (lead, status): the leads crossed with the seven statuses, each row
    # taking its status's start and the earliest start of a later status as its end (a
    # union of seven copies made the database compute the joins above seven times)
    x = j.cross_join(ibis.memtable({"lead_status": list(LEAD_STATUSES)}))
    done = ibis.ifelse(x.n_open == 0, x.t_closed, ibis.null("timestamp"))
    starts = {
        "new": x.created_at,
        "attempting": x.t_attempt,
        "connected": x.t_connect,
        "open_deal": x.t_deal,
        "customer": ibis.ifelse(x.won, done, ibis.null("timestamp")),
        "deal_lost": ibis.ifelse(x.won, ibis.null("timestamp"), done),
        "unqualified": x.disqualified_at,
    }
    ends = {}
    for i, status in enumerate(LEAD_STATUSES):
        ends[status] = earliest(*(starts[s] for s in LEAD_STATUSES[i + 1 :]))
    start = ibis.cases(*((x.lead_status == k, v) for k, v in starts.items()))
    end = ibis.cases(*((x.lead_status == k, v) for k, v in ends.items()))
    x = x.mutate(valid_from=start.cast("timestamp"), valid_to=end.cast("timestamp"))
    keep = x.filter(_.valid_from.notnull() & (_.valid_to.isnull() | (_.valid_to > _.valid_from)))
    return without(keep, "t_attempt", "t_connect", "t_deal", "n_open", "t_closed", "won")


def lead_status_facts(ctx: Context) -> Facts:
    return Facts(
        _status_intervals(ctx), "leads", "lead_id", valid_from="valid_from", valid_to="valid_to"
    )


def active_lead_facts(ctx: Context) -> Facts:
    """Leads while active: from creation until disqualified or turned into a deal."""
    d = ctx.t("deals").filter(_.lead_id.notnull(), _.created_at < ctx.cutoff)  # no state
    deals = d.group_by(d_lead=d.lead_id).aggregate(t_deal=d.created_at.min())
    leads = ctx.leads.rename(rep_id="owner_rep_id")
    j = without(leads.left_join(deals, leads.lead_id == deals.d_lead), "d_lead")
    j = j.mutate(valid_to=earliest(j.disqualified_at, j.t_deal))
    return Facts(j, "leads", "lead_id", valid_from="created_at", valid_to="valid_to")


def scored_lead_facts(ctx: Context) -> Facts:
    """Active leads with their rule-based score (W9a) from the rules file in the settings,
    counting the activity logged by the as-of date."""
    active = active_lead_facts(ctx)
    rules = load_rules(ctx.settings.lead_score_rules or None)
    scored = rules.score(active.table, event_counts(ctx.activities))
    return Facts(scored, "leads", "lead_id", valid_from="created_at", valid_to="valid_to")


def referral_facts(ctx: Context) -> Facts:
    """Leads referred by an account that was a customer when the lead came in (a contract
    running on the lead's creation day)."""
    leads = ctx.leads.filter(_.referring_account_id.notnull()).rename(rep_id="owner_rep_id")
    refs = leads.select(
        r_lead=leads.lead_id, r_acc=leads.referring_account_id, r_day=leads.created_at.cast("date")
    )
    # the contracts' dates alone (``ctx.contracts`` adds values and owners it never uses)
    c = ctx.t("contracts").filter(_.signed_on <= ctx.as_of)
    c = c.select(c_acc="account_id", c_from="start_on", c_to="end_on")
    # join on the account alone, then test the dates (a range or OR in the join condition
    # makes DuckDB compare every pair)
    j = refs.inner_join(c, refs.r_acc == c.c_acc)
    running = (j.c_from <= j.r_day) & (j.c_to.isnull() | (j.c_to >= j.r_day))
    active = j.filter(running).select(_lead=j.r_lead).distinct()
    flagged = leads.left_join(active, leads.lead_id == active._lead)
    flagged = without(flagged.mutate(from_customer=flagged._lead.notnull()), "_lead")
    return Facts(flagged, "leads", "lead_id", at="created_at")


def _funnel(ctx: Context, step: str) -> Facts:
    """Leads by creation cohort with ``is_sql`` and, for ``step`` "deal", whether they got
    a deal (created by as-of; ``has_deal``) or, for "won", a deal won by as-of
    (``has_won``: the deals' state then, a join over their stage history). Each step pays
    only for its own flag."""
    leads = ctx.leads.rename(rep_id="owner_rep_id")
    j = leads.mutate(is_sql=leads.sql_at.notnull())
    if step == "sql":
        return Facts(j, "leads", "lead_id", at="created_at")
    if step == "won":
        d = ctx.deals.filter(_.lead_id.notnull())
        deals = d.group_by(d_lead=d.lead_id).aggregate(_flag=d.is_won.any())
    else:
        d = ctx.t("deals").filter(_.lead_id.notnull(), _.created_at < ctx.cutoff)
        deals = d.group_by(d_lead=d.lead_id).aggregate(_flag=d.deal_id.count() > 0)
    j = without(j.left_join(deals, j.lead_id == deals.d_lead), "d_lead")
    flag = j._flag.fill_null(False)
    return Facts(
        without(j.mutate(**{f"has_{step}": flag}), "_flag"), "leads", "lead_id", at="created_at"
    )


def funnel_sql_facts(ctx: Context) -> Facts:
    return _funnel(ctx, "sql")


def funnel_deal_facts(ctx: Context) -> Facts:
    return _funnel(ctx, "deal")


def funnel_won_facts(ctx: Context) -> Facts:
    return _funnel(ctx, "won")


SQL_REQ = ("leads.sql_at",)
RESP_REQ = ("leads", "activities")
SQL_RESP_REQ = ("leads.sql_at", "activities")

KPIS = (
    Kpi(
        "sqls",
        "Sales-qualified leads",
        "Sales-gekwalificeerde leads (SQL's)",
        "Leads that became sales-qualified (SQL) in the period, counted on the SQL date. "
        "Break it down by channel to see where leads come from.",
        Unit.count,
        sql_count_facts,
        Count(),
        dims=LEAD_DIMS,
        source="W1",
        primary=True,
        requires=SQL_REQ,
        default_by=("month", "channel"),
    ),
    Kpi(
        "sql_owner_share",
        "SQLs with an owner",
        "SQL's met eigenaar",
        "Share of the period's SQLs that have an owner (a rep responsible for follow-up).",
        Unit.ratio,
        sql_count_facts,
        Ratio(Count(where=_.has_owner), Count()),
        dims=LEAD_DIMS,
        source="W1",
        requires=SQL_REQ,
        default_by=("month",),
    ),
    Kpi(
        "sql_followup_share",
        "SQLs followed up",
        "Opgevolgde SQL's",
        "Share of the period's SQLs whose owner made at least one outbound call, e-mail or "
        "meeting with the lead (by the as-of date).",
        Unit.ratio,
        sql_followup_facts,
        Ratio(Count(where=_.followed_up), Count()),
        dims=LEAD_DIMS,
        source="W1",
        requires=SQL_RESP_REQ,
        default_by=("month",),
    ),
    Kpi(
        "first_response_median",
        "First-response time (median)",
        "Eerste reactietijd (mediaan)",
        "Median business hours from a lead becoming SQL to the owner's first outbound call, "
        "e-mail or meeting. Leads not yet answered are left out (see the SLA share).",
        Unit.business_hours,
        response_facts,
        Quantile(_.response_bh, 0.5),
        dims=LEAD_DIMS,
        source="W2",
        primary=True,
        higher_is_better=False,
        requires=RESP_REQ,
        default_by=("rep",),
    ),
    Kpi(
        "first_response_mean",
        "First-response time (mean)",
        "Eerste reactietijd (gemiddeld)",
        "Average business hours from SQL to the owner's first outbound contact (answered "
        "leads only).",
        Unit.business_hours,
        response_facts,
        Mean(_.response_bh),
        dims=LEAD_DIMS,
        source="W2",
        higher_is_better=False,
        requires=RESP_REQ,
        default_by=("rep",),
    ),
    Kpi(
        "first_response_p90",
        "First-response time (p90)",
        "Eerste reactietijd (p90)",
        "Business hours within which 90% of answered SQLs got their first outbound contact.",
        Unit.business_hours,
        response_facts,
        Quantile(_.response_bh, 0.9),
        dims=LEAD_DIMS,
        source="W2",
        higher_is_better=False,
        requires=RESP_REQ,
        default_by=("rep",),
    ),
    Kpi(
        "first_response_hours",
        "First-response time (clock hours, mean)",
        "Eerste reactietijd (klokuren, gemiddeld)",
        "Average clock hours (nights and weekends included) from SQL to the owner's first "
        "outbound contact. The source calls an average of 42 hours unacceptable: that is "
        "the red line.",
        Unit.hours,
        response_clock_facts,
        Mean(_.response_hours),
        dims=LEAD_DIMS,
        source="W2",
        higher_is_better=False,
        requires=RESP_REQ,
        default_by=("rep",),
    ),
    Kpi(
        "first_response_sla_share",
        "SQLs answered within SLA",
        "SQL's binnen SLA opgevolgd",
        "Share of SQLs whose first outbound contact came within the SLA (setting, default "
        "one business day = 10 business hours). Leads whose SLA time has not run out yet "
        "are left out; unanswered leads past the SLA count as missed.",
        Unit.ratio,
        response_facts,
        Ratio(Count(where=_.within_sla), Count(where=_.sla_due)),
        dims=LEAD_DIMS,
        source="W2",
        requires=RESP_REQ,
        default_by=("rep",),
    ),
    Kpi(
        "leads_by_status",
        "Leads per status",
        "Leads per status",
        "Number of leads per lead status as of a date, derived from activity: new (no "
        "activity), attempting (outbound only, no response), connected (a reply, a "
        "connected call or a held meeting), open deal (while a deal from the lead is open), "
        "customer (all its deals closed, one won), deal lost (all its deals closed and "
        "lost), unqualified (disqualified).",
        Unit.count,
        lead_status_facts,
        Count(),
        kind=Kind.snapshot,
        dims=(*LEAD_DIMS, Dim.lead_status),
        source="W3",
        primary=True,
        requires=("leads",),
        default_by=("rep", "lead_status"),
        higher_is_better=None,
    ),
    Kpi(
        "unassigned_leads",
        "Unassigned leads",
        "Leads zonder eigenaar",
        "Active leads (not disqualified, no deal yet) without an owner, as of a date: leads "
        "nobody is responsible for following up.",
        Unit.count,
        active_lead_facts,
        Count(where=_.rep_id.isnull()),
        kind=Kind.snapshot,
        dims=(Dim.channel, Dim.industry),
        source="W1",
        requires=("leads",),
        higher_is_better=False,
        default_by=("channel",),
    ),
    Kpi(
        "sqls_unanswered_past_sla",
        "SQLs not followed up past the SLA",
        "SQL's zonder opvolging na SLA",
        "SQLs whose owner has made no outbound contact while the SLA time (business hours) "
        "has run out, by SQL date.",
        Unit.count,
        sql_facts,
        Count(where=~_.followed_up & _.sla_due),
        dims=LEAD_DIMS,
        source="W2",
        requires=SQL_RESP_REQ,
        higher_is_better=False,
        default_by=("rep",),
    ),
    Kpi(
        "lead_score",
        "Lead score (rule-based, average)",
        "Leadscore (regels, gemiddeld)",
        "Average rule-based score of the active leads as of a date: points for who the lead "
        "is (industry, company size, job title, channel) and what it did (replies, connected "
        "calls, held meetings), from a rules file you can change (setting "
        "lead_score_rules). Drill down for each lead's score.",
        Unit.score,
        scored_lead_facts,
        Mean(_.score),
        kind=Kind.snapshot,
        dims=LEAD_DIMS,
        source="W9",
        primary=True,
        requires=("leads",),
        point_only=True,
        default_by=("rep",),
        uses=(Dim.industry,),  # industry and employees, from the lead's account
    ),
    Kpi(
        "new_leads",
        "New leads",
        "Nieuwe leads",
        "Leads added to the pipeline in the period (by creation date), per owner.",
        Unit.count,
        lead_facts,
        Count(),
        dims=LEAD_DIMS,
        source="S3",
        primary=True,
        requires=("leads",),
        default_by=("rep", "quarter"),
    ),
    Kpi(
        "avg_lead_age",
        "Average age of active leads",
        "Gemiddelde leeftijd actieve leads",
        "Total age of all active leads / number of active leads, as of a date; age = as-of "
        "date − creation date, in days. Active = not disqualified and not (yet) a deal.",
        Unit.days,
        active_lead_facts,
        Mean(lambda t: days_between(t.created_at, t.as_of_at)),
        kind=Kind.snapshot,
        dims=LEAD_DIMS,
        source="S4",
        primary=True,
        higher_is_better=False,
        requires=("leads",),
        default_by=("rep",),
    ),
    Kpi(
        "referrals",
        "Referrals from customers",
        "Doorverwijzingen door klanten",
        "New leads referred by an account that had an active contract when the lead came "
        "in, per quarter. Per rep = the lead's owner.",
        Unit.count,
        referral_facts,
        Count(where=_.from_customer),
        dims=LEAD_DIMS,
        source="S8",
        primary=True,
        requires=("leads", "contracts"),
        default_by=("rep", "quarter"),
    ),
    Kpi(
        "lead_to_sql_rate",
        "Lead → SQL conversion",
        "Conversie lead → SQL",
        "Of the leads created in the period, the share that became SQL (by the as-of date).",
        Unit.ratio,
        funnel_sql_facts,
        Ratio(Count(where=_.is_sql), Count()),
        dims=LEAD_DIMS,
        source="W7",
        requires=("leads",),
        default_by=("channel",),
    ),
    Kpi(
        "sql_to_deal_rate",
        "SQL → deal conversion",
        "Conversie SQL → deal",
        "Of the leads created in the period that became SQL, the share that got a deal.",
        Unit.ratio,
        funnel_deal_facts,
        Ratio(Count(where=_.has_deal & _.is_sql), Count(where=_.is_sql)),
        dims=LEAD_DIMS,
        source="W7",
        requires=("leads", "deals"),
        default_by=("channel",),
    ),
    Kpi(
        "lead_to_won_rate",
        "Lead → won conversion",
        "Conversie lead → gewonnen",
        "Of the leads created in the period, the share that led to a won deal.",
        Unit.ratio,
        funnel_won_facts,
        Ratio(Count(where=_.has_won), Count()),
        dims=LEAD_DIMS,
        source="W7",
        requires=("leads", "deals"),
        default_by=("channel",),
    ),
)
