"""Deal KPIs: won revenue and the dashboard measures, open pipeline, forecast (W5, W6),
data hygiene (W6), e-mail-only late-stage deals (W4) and conversion rate (S5).

*Closed* means the deal's last known stage (as of the as-of date) is a closed stage — or,
for deals without stage history, that ``closed_at`` lies before the as-of date. *Won* is a
closed deal whose stage is the won stage (``outcome = won``). Amounts are in the reporting
currency; deals without an amount count in deal numbers but add nothing to sums.
"""

from __future__ import annotations

from datetime import date, timedelta

import ibis
import ibis.expr.types as ir
from ibis import _

from salespulse.semantic import timecal
from salespulse.semantic.kpi import (
    DEAL_DIMS,
    LEAD_DIMS,
    REP_DIMS,
    Derived,
    Dim,
    Facts,
    Input,
    Kind,
    Kpi,
    Unit,
)
from salespulse.semantic.measures import Count, Mean, Ratio, Sum
from salespulse.semantic.model import Context, days_between
from salespulse.semantic.relations import without
from salespulse.semantic.timecal import Grain

#: Lead columns that are also deal breakdowns (S5 counts leads beside deals).
LEAD_COLUMNS = {d.column for d in LEAD_DIMS}

#: A learned stage probability needs at least this many decided (won/lost) deals.
MIN_LEARNED_DEALS = 10


# -- facts -------------------------------------------------------------------------------
def closed_facts(ctx: Context) -> Facts:
    d = ctx.deals.filter(_.is_closed)
    d = d.mutate(cycle_days=days_between(d.created_at, d.closed_at))
    return Facts(d, "deals", "deal_id", at="closed_at")


def won_facts(ctx: Context) -> Facts:
    f = closed_facts(ctx)
    return Facts(f.table.filter(_.is_won), "deals", "deal_id", at="closed_at")


def created_facts(ctx: Context) -> Facts:
    """Deals by creation time with their breakdowns: a count of new deals needs neither
    their state nor their amount, so only the drill-down adds them (``ctx.deals``)."""
    d = (
        ctx.t("deals")
        .filter(_.created_at < ctx.cutoff)
        .select(_d="deal_id", created_at="created_at")
    )
    t = without(ctx.deal_dims.inner_join(d, _.deal_id == d._d), "_d")

    def state(rows: ir.Table) -> ir.Table:
        keys = rows.select(_k="deal_id")
        return without(ctx.deals.inner_join(keys, ctx.deals.deal_id == keys._k), "_k")

    return Facts(t, "deals", "deal_id", at="created_at", detail=state)


def open_intervals(ctx: Context) -> ir.Table:
    """Deals while open, one row per stage visit: [valid_from, valid_to) with the stage.

    Deals with history are open during visits of non-closed stages; deals without history
    from creation until closed (in their current stage).
    """
    v = ctx.stage_history.filter(~_.is_closed)
    ts = "timestamp"
    hist = v.select(
        deal_id=v.deal_id.cast("string"),
        stage_id=v.stage_id.cast("string"),
        valid_from=v.entered_at.cast(ts),
        valid_to=v.left_at.cast(ts),
    )
    d = ctx.deals
    plain = d.filter(~d.has_history).select(
        deal_id=d.deal_id.cast("string"),
        stage_id=d.stage_id.cast("string"),
        valid_from=d.created_at.cast(ts),
        valid_to=d.closed_at.cast(ts),
    )
    iv = hist.union(plain)
    attrs = without(d, "stage_id", "stage_order", "stage_probability", "closed_at")
    attrs = attrs.rename(_deal="deal_id")
    j = without(iv.inner_join(attrs, iv.deal_id == attrs._deal), "_deal")
    st = ctx.stages.select("stage_id", "stage_order", "stage_probability", "stage_name")
    return without(j.left_join(st, "stage_id"), "stage_id_right")


def open_facts(ctx: Context) -> Facts:
    return Facts(
        open_intervals(ctx), "deals", "deal_id", valid_from="valid_from", valid_to="valid_to"
    )


def learned_probabilities(ctx: Context) -> ir.Table:
    """stage_id → learned win probability: of the deals that entered the stage and have
    been decided (won or lost by as-of), the share won. Null with fewer than
    ``MIN_LEARNED_DEALS`` decided deals."""
    h = ctx.stage_history.filter(~_.is_closed).select("deal_id", "stage_id").distinct()
    dec = ctx.deals.filter(_.is_closed).select(_d="deal_id", _won="is_won")
    j = h.inner_join(dec, h.deal_id == dec._d)
    agg = j.group_by("stage_id").aggregate(won=j._won.sum(), n=j.count())
    return agg.select(
        "stage_id",
        learned_probability=ibis.ifelse(
            agg.n >= MIN_LEARNED_DEALS, agg.won.cast("float64") / agg.n, ibis.null("float64")
        ),
    )


def learned_days_to_close(ctx: Context) -> ir.Table:
    """(stage_id, product_id) → median days from entering the stage to being won."""
    h = ctx.stage_history.filter(~_.is_closed).select("deal_id", "stage_id", "entered_at")
    won = ctx.deals.filter(_.is_won).select(_d="deal_id", _closed="closed_at", _p="product_id")
    j = h.inner_join(won, h.deal_id == won._d)
    j = j.mutate(days=days_between(j.entered_at, j._closed))
    return j.group_by(stage_id=j.stage_id, product_id=j._p).aggregate(days_to_close=j.days.median())


def _forecast_base(ctx: Context, learned: bool = True, timing: bool = True) -> ir.Table:
    """Deals open at as-of with their configured probability and close date (``p_config``,
    ``close_on``); with ``learned`` also the learned probability (``p_learned``), with
    ``timing`` the close date learned from history (``close_on_learned``). Each KPI asks
    only for what it uses: the learned parts are joins over the whole history."""
    d = ctx.deals.filter(~_.is_closed)
    today = ibis.literal(ctx.as_of)
    cols: dict[str, ir.Value] = {}
    if learned:
        lp = learned_probabilities(ctx).rename(_lp_stage="stage_id")
        d = without(d.left_join(lp, d.stage_id == lp._lp_stage), "_lp_stage")
    if timing:
        cur = ctx.stage_history.filter(_.is_last).select(_cd="deal_id", _entered="entered_at")
        d = without(d.left_join(cur, d.deal_id == cur._cd), "_cd")
        lt = learned_days_to_close(ctx).rename(_lt_stage="stage_id", _lt_product="product_id")
        d = d.left_join(lt, [d.stage_id == lt._lt_stage, d.product_id == lt._lt_product])
        d = without(d, "_lt_stage", "_lt_product")
        entered = ibis.coalesce(d._entered, d.created_at)
        learned_close = (entered + d.days_to_close.round().cast("int64").as_interval("D")).date()
        cols["close_on_learned"] = ibis.greatest(
            ibis.coalesce(learned_close, d.expected_close_on, today), today
        )
    if learned:
        cols["p_learned"] = ibis.coalesce(d.learned_probability, d.stage_probability)
    return d.mutate(
        p_config=d.stage_probability,
        close_on=ibis.greatest(ibis.coalesce(d.expected_close_on, today), today),
        **cols,
    )


def forecast_facts(ctx: Context) -> Facts:
    """Open deals with the configured probability, by expected close date."""
    return Facts(_forecast_base(ctx, False, False), "deals", "deal_id", at="close_on")


def forecast_learned_facts(ctx: Context) -> Facts:
    """As :func:`forecast_facts`, with the learned probability."""
    return Facts(_forecast_base(ctx, True, False), "deals", "deal_id", at="close_on")


def forecast_timing_facts(ctx: Context) -> Facts:
    """Open deals with the learned probability, by the close date learned from history."""
    return Facts(_forecast_base(ctx), "deals", "deal_id", at="close_on_learned")


def _last_touch(ctx: Context) -> ir.Table:
    """deal_id → last stage change or activity on the deal before as-of."""
    h = ctx.stage_history.group_by(_t_deal=_.deal_id).aggregate(t=_.entered_at.max())
    a = ctx.activities.filter(_.deal_id.notnull())
    a = a.group_by(_t_deal=a.deal_id).aggregate(t=a.occurred_at.max())
    u = h.mutate(t=h.t.cast("timestamp")).union(a.mutate(t=a.t.cast("timestamp")))
    return u.group_by("_t_deal").aggregate(last_touch_at=u.t.max())


def hygiene_facts(ctx: Context) -> Facts:
    """Open deals at as-of with their last touch (for "not updated in N days")."""
    iv = open_intervals(ctx)
    lt = _last_touch(ctx)
    j = without(iv.left_join(lt, iv.deal_id == lt._t_deal), "_t_deal")
    j = j.mutate(
        last_touch_at=ibis.coalesce(j.last_touch_at, j.created_at),
        not_updated_days=ibis.literal(float(ctx.settings.not_updated_days)),
    )
    return Facts(j, "deals", "deal_id", valid_from="valid_from", valid_to="valid_to")


def late_stage_ids(ctx: Context) -> ir.Table:
    """The last two open stages of each pipeline (by stage order)."""
    s = ctx.stages.filter(~_.is_closed)
    w = ibis.window(group_by="pipeline_id", order_by=ibis.desc("stage_order"))
    s = s.mutate(_rank=ibis.row_number().over(w))
    return s.filter(_._rank < 2).select(late_stage="stage_id")


def email_only_facts(ctx: Context) -> Facts:
    """Deals that reached one of the last two open stages and are open or lost at as-of,
    with how they were contacted while in those stages: ``email_only`` (≥ 1 e-mail, no
    call or meeting), ``no_contact`` (nothing at all) and ``late_contact`` (the one of
    call_or_meeting / email / none). Event time: when the deal first entered a late
    stage."""
    late = late_stage_ids(ctx)
    v = ctx.stage_history.inner_join(late, _.stage_id == late.late_stage)
    # join on deal_id alone and test the visit's time range afterwards: a range (or an OR)
    # in the join condition makes DuckDB compare every visit with every activity
    visits = v.select(v_deal=v.deal_id, v_from=v.entered_at, v_to=v.left_at)
    a = ctx.activities.filter(
        _.deal_id.notnull() & _.activity_type.isin(["call", "email", "meeting"])
    )
    a = a.select(a_deal=a.deal_id, a_type=a.activity_type, a_at=a.occurred_at)
    j = visits.left_join(a, visits.v_deal == a.a_deal)
    during = (j.a_at >= j.v_from) & (j.v_to.isnull() | (j.a_at < j.v_to))
    per_deal = j.group_by(deal_id=j.v_deal).aggregate(
        late_entered_at=j.v_from.min(),
        emails=(during & (j.a_type == "email")).sum(),
        others=(during & j.a_type.isin(["call", "meeting"])).sum(),
    )
    d = ctx.deals.filter(~_.is_closed | (_.outcome == "lost")).rename(_d="deal_id")
    out = without(per_deal.inner_join(d, per_deal.deal_id == d._d), "_d")
    no_call = out.others.fill_null(0) == 0
    out = out.mutate(
        email_only=(out.emails.fill_null(0) > 0) & no_call,
        no_contact=(out.emails.fill_null(0) == 0) & no_call,
        late_contact=ibis.cases(
            (~no_call, "call_or_meeting"), ((out.emails.fill_null(0) > 0), "email"), else_="none"
        ),
        is_lost=out.outcome.fill_null("") == "lost",
    )
    return Facts(out, "deals", "deal_id", at="late_entered_at")


# -- composite KPIs --------------------------------------------------------------------
def _pipeline_items(ctx: Context) -> ir.Table:
    """Deals, and leads without a deal, with when they were in the pipeline.

    Columns: the breakdowns, ``open_from``, ``open_to`` (exclusive, null = still open),
    ``closed_at``, ``is_won`` and ``deal_from`` (leads: when their first deal was created,
    so that a lead is not counted again once it is a deal). A lead leaves the pipeline when
    disqualified, or — dormant — ``lead_dormant_days`` after its last activity (or its
    creation) when that is before as-of.
    """
    ts = "timestamp"
    dims = [d.column for d in DEAL_DIMS]
    d = ctx.deals
    deals = d.select(
        ibis.literal("deal").name("record"),
        d.deal_id.cast("string").name("id"),
        *dims,
        open_from=d.created_at.cast(ts),
        open_to=d.closed_at.cast(ts),
        closed_at=d.closed_at.cast(ts),
        is_won=d.is_won,
        deal_from=ibis.null(ts),
    )
    first = (
        d.filter(d.lead_id.notnull()).group_by(_l="lead_id").aggregate(t_deal=_.created_at.min())
    )
    lead = ctx.leads.rename(rep_id="owner_rep_id")
    lead = lead.left_join(first, lead.lead_id == first._l)
    touched = ctx.activities.filter(_.lead_id.notnull())
    touched = touched.group_by(_tl="lead_id").aggregate(_last=_.occurred_at.max())
    lead = lead.left_join(touched, lead.lead_id == touched._tl)
    dormant_at = ibis.coalesce(lead._last, lead.created_at).cast(ts) + ibis.interval(
        days=ctx.settings.lead_dormant_days
    )
    dormant_at = ibis.ifelse(dormant_at < ctx.cutoff, dormant_at, ibis.null(ts))
    leads = lead.select(
        ibis.literal("lead").name("record"),
        lead.lead_id.cast("string").name("id"),
        *[lead[c] if c in LEAD_COLUMNS else ibis.null("string").name(c) for c in dims],
        open_from=lead.created_at.cast(ts),
        open_to=ibis.coalesce(lead.disqualified_at.cast(ts), dormant_at),
        closed_at=ibis.null(ts),
        is_won=ibis.literal(False),
        deal_from=lead.t_deal.cast(ts),
    )
    return deals.union(leads)


def _with_leads(dims: frozenset[Dim]) -> bool:
    """Whether leads take part in the conversion rows for these breakdowns and filters (a
    filter on a dimension leads lack, e.g. product, keeps no lead either way)."""
    return dims <= set(LEAD_DIMS)


def _conversion_rows(items: ir.Table, periods: ir.Table, dims: frozenset[Dim]) -> ir.Table:
    """Pipeline items × periods with ``in_pipeline`` and ``won_in`` (won in the period).

    Leads take part only when every breakdown and filter is on a dimension a lead has (rep,
    team, region, channel, industry); a lead counts until it becomes a deal (then the deal
    counts).
    """
    if not _with_leads(dims):
        items = items.filter(items.record == "deal")
    j = items.cross_join(periods)
    in_pipeline = (
        (j.open_from < j.p_end_at)
        & (j.open_to.isnull() | (j.open_to >= j.p_start_at))
        & (j.deal_from.isnull() | (j.deal_from >= j.p_end_at))
    )
    won_in = j.is_won & (j.closed_at >= j.p_start_at) & (j.closed_at < j.p_end_at)
    return j.mutate(in_pipeline=in_pipeline, won_in=won_in)


def conversion_facts(ctx: Context) -> Facts:
    return Facts(
        _pipeline_items(ctx),
        "pipeline_items",
        "id",
        per_period=_conversion_rows,
        per_period_rows=_with_leads,
        default_grain=Grain.quarter,
    )


def _this_quarter(ctx: Context) -> tuple[date | None, date | None]:
    start = timecal.period_start(ctx.as_of, Grain.quarter, ctx.settings)
    return start, timecal.next_period(start, Grain.quarter) - timedelta(days=1)


def _quarter_to_date(ctx: Context) -> tuple[date | None, date | None]:
    return timecal.period_start(ctx.as_of, Grain.quarter, ctx.settings), ctx.as_of


def _last_12_months(ctx: Context) -> tuple[date | None, date | None]:
    a = ctx.as_of
    start = date(a.year - 1, a.month, 1) + timedelta(days=a.day)  # the day after a year ago
    return min(start, a), a


def _as_of_only(ctx: Context) -> tuple[date | None, date | None]:
    return None, None


DEALS = ("deals",)
HISTORY = ("deals", "deal_stage_history")

KPIS = (
    Kpi(
        "won_revenue",
        "Won revenue",
        "Gewonnen omzet",
        "Total amount of the deals won in the period (by close date), in EUR.",
        Unit.money,
        won_facts,
        Sum(_.amount_eur),
        dims=DEAL_DIMS,
        requires=DEALS,
        default_by=("rep", "quarter"),
    ),
    Kpi(
        "won_deals",
        "Won deals",
        "Gewonnen deals",
        "Number of deals won in the period (by close date).",
        Unit.count,
        won_facts,
        Count(),
        dims=DEAL_DIMS,
        requires=DEALS,
        default_by=("rep", "quarter"),
    ),
    Kpi(
        "quota_attainment",
        "Quota attainment",
        "Quotarealisatie",
        "Won revenue / revenue quota (the targets for won_revenue) for the period, per rep, "
        "team or the whole company. Every rep on staff in the period appears, with 0 won "
        "when nothing was won. No quota = no value. Without a period, the periods started "
        "by the as-of date count.",
        Unit.ratio,
        None,
        Derived(
            {"won": Input("won_revenue", fill=0.0), "quota": Input("won_revenue", "target")},
            numerator=_.won,
            denominator=_.quota,
        ),
        kind=Kind.derived,
        dims=(Dim.rep, Dim.team),
        money=True,
        requires=DEALS,
        default_by=("rep", "quarter"),
        drill="won_revenue",
    ),
    Kpi(
        "avg_deal_size",
        "Average deal size",
        "Gemiddelde dealgrootte",
        "Average amount of the deals won in the period (deals without amount left out).",
        Unit.money,
        won_facts,
        Mean(_.amount_eur),
        dims=DEAL_DIMS,
        requires=DEALS,
        default_by=("rep", "quarter"),
    ),
    Kpi(
        "avg_sales_cycle",
        "Average sales cycle",
        "Gemiddelde verkoopcyclus",
        "Average days from deal creation to won, for the deals won in the period.",
        Unit.days,
        won_facts,
        Mean(_.cycle_days),
        dims=DEAL_DIMS,
        requires=DEALS,
        higher_is_better=False,
        default_by=("product",),
    ),
    Kpi(
        "win_rate",
        "Win rate",
        "Winratio",
        "Won / (won + lost) of the deals closed in the period (the cohort win rate). "
        "Null when no deal closed.",
        Unit.ratio,
        closed_facts,
        Ratio(Count(where=_.is_won), Count()),
        dims=DEAL_DIMS,
        source="S5",
        requires=DEALS,
        default_by=("rep", "quarter"),
    ),
    Kpi(
        "conversion_rate",
        "Conversion rate",
        "Conversieratio",
        "The source's formula: (deals won in the quarter) / (leads and deals in the pipeline "
        "at any time in the quarter) × 100, per rep per quarter. 'Closed' means won. A lead "
        "that has become a deal by the end of the quarter counts once, as the deal; a lead "
        "with no activity for lead_dormant_days (setting, default 120) has left the "
        "pipeline. Broken down by product or pipeline, only deals count (leads have "
        "neither). The cohort win rate (win_rate) stands beside it.",
        Unit.percent,
        conversion_facts,
        Ratio(Count(where=_.won_in), Count(where=_.in_pipeline)),
        kind=Kind.period,
        dims=DEAL_DIMS,
        source="S5",
        primary=True,
        requires=DEALS,
        default_by=("rep", "quarter"),
        scale=100.0,
    ),
    Kpi(
        "new_deals",
        "New deals",
        "Nieuwe deals",
        "Deals created in the period (by creation date), whatever happened to them later.",
        Unit.count,
        created_facts,
        Count(),
        dims=DEAL_DIMS,
        requires=DEALS,
        default_by=("rep", "month"),
    ),
    Kpi(
        "open_deals",
        "Open deals",
        "Open deals",
        "Number of open deals as of a date (from stage history), e.g. per rep and stage.",
        Unit.count,
        open_facts,
        Count(),
        kind=Kind.snapshot,
        dims=(*DEAL_DIMS, Dim.stage),
        source="W3",
        requires=DEALS,
        default_by=("rep", "stage"),
        higher_is_better=None,
    ),
    Kpi(
        "open_pipeline",
        "Open pipeline value",
        "Open pijplijnwaarde",
        "Total amount of the deals open as of a date, in EUR.",
        Unit.money,
        open_facts,
        Sum(_.amount_eur),
        kind=Kind.snapshot,
        dims=(*DEAL_DIMS, Dim.stage),
        requires=DEALS,
        default_by=("rep", "stage"),
    ),
    Kpi(
        "weighted_pipeline",
        "Weighted pipeline",
        "Gewogen pijplijn",
        "Σ amount × the stage's configured win probability over the deals open as of a date.",
        Unit.money,
        open_facts,
        Sum(lambda t: t.amount_eur * t.stage_probability),
        kind=Kind.snapshot,
        dims=(*DEAL_DIMS, Dim.stage),
        source="W5",
        requires=DEALS,
        default_by=("rep",),
    ),
    Kpi(
        "forecast",
        "Revenue forecast",
        "Omzetprognose",
        "'Chance × time': Σ over deals open at the as-of date of amount × the stage's "
        "configured win probability, placed in the period of the expected close date "
        "(overdue or missing close dates count on the as-of date).",
        Unit.money,
        forecast_facts,
        Sum(lambda t: t.amount_eur * t.p_config),
        dims=(*DEAL_DIMS, Dim.stage),
        source="W5",
        primary=True,
        requires=DEALS,
        default_by=("month",),
    ),
    Kpi(
        "forecast_learned",
        "Revenue forecast (learned probabilities)",
        "Omzetprognose (geleerde kansen)",
        "As the forecast, with each stage's probability learned from history: of the deals "
        "that entered the stage and have been decided, the share won (configured "
        "probability where fewer than 10 decided deals).",
        Unit.money,
        forecast_learned_facts,
        Sum(lambda t: t.amount_eur * t.p_learned),
        dims=(*DEAL_DIMS, Dim.stage),
        source="W5",
        requires=HISTORY,
        default_by=("month",),
    ),
    Kpi(
        "forecast_learned_timing",
        "Revenue forecast (learned probabilities and timing)",
        "Omzetprognose (geleerde kansen en timing)",
        "As the learned forecast, but each deal is placed at the date implied by history: "
        "when it entered its current stage plus the median days from that stage to won for "
        "deals of the same product (products with different cycle lengths are not mixed).",
        Unit.money,
        forecast_timing_facts,
        Sum(lambda t: t.amount_eur * t.p_learned),
        dims=(*DEAL_DIMS, Dim.stage),
        source="W5",
        requires=HISTORY,
        default_by=("month",),
    ),
    Kpi(
        "pipeline_coverage",
        "Pipeline coverage",
        "Pijplijndekking",
        "Weighted open pipeline expected to close in the current quarter (the forecast) / "
        "remaining quota (the quarter's quota − won so far this quarter). Every rep on "
        "staff appears. No value when the quota is met or missing.",
        Unit.ratio,
        None,
        Derived(
            {
                "forecast": Input("forecast", window=_this_quarter, fill=0.0),
                "won": Input("won_revenue", window=_quarter_to_date, fill=0.0),
                "quota": Input("won_revenue", "target", window=_this_quarter),
            },
            numerator=_.forecast,
            denominator=_.quota - _.won,
            positive=True,
        ),
        kind=Kind.derived,
        dims=(Dim.rep, Dim.team),
        money=True,
        requires=DEALS,
        point_only=True,
        default_by=("rep",),
        drill="forecast",
    ),
    Kpi(
        "deal_velocity",
        "Deal velocity",
        "Dealsnelheid",
        "(Open deals × average deal size × win rate) / average sales cycle in days: the "
        "revenue the pipeline produces per day. Sizes, rates and cycles over the last 12 "
        "months; open deals as of the as-of date.",
        Unit.money,
        None,
        Derived(
            {
                "open_deals": Input("open_deals", window=_as_of_only, fill=0.0),
                "avg_deal_size": Input("avg_deal_size", window=_last_12_months),
                "win_rate": Input("win_rate", window=_last_12_months),
                "avg_sales_cycle": Input("avg_sales_cycle", window=_last_12_months),
            },
            numerator=_.open_deals * _.avg_deal_size * _.win_rate,
            denominator=_.avg_sales_cycle,
            positive=True,
        ),
        kind=Kind.derived,
        dims=REP_DIMS,
        requires=DEALS,
        point_only=True,
        default_by=("rep",),
        drill="open_deals",
    ),
    Kpi(
        "overdue_close_deals",
        "Open deals with a close date in the past",
        "Open deals met sluitdatum in het verleden",
        "Open deals whose expected close date lies before the as-of date (W6 data hygiene).",
        Unit.count,
        open_facts,
        Count(where=lambda t: t.expected_close_on < t.as_of_on),
        kind=Kind.snapshot,
        dims=DEAL_DIMS,
        source="W6",
        requires=DEALS,
        higher_is_better=False,
        default_by=("rep",),
    ),
    Kpi(
        "deals_without_amount",
        "Open deals without amount",
        "Open deals zonder bedrag",
        "Open deals with no amount filled in (W6 data hygiene).",
        Unit.count,
        open_facts,
        Count(where=_.amount.isnull()),
        kind=Kind.snapshot,
        dims=DEAL_DIMS,
        source="W6",
        requires=DEALS,
        higher_is_better=False,
        default_by=("rep",),
    ),
    Kpi(
        "deals_not_updated",
        "Open deals not updated",
        "Open deals niet bijgewerkt",
        "Open deals with no stage change and no activity in the last N days (setting, "
        "default 30) before the as-of date (W6 data hygiene).",
        Unit.count,
        hygiene_facts,
        Count(where=lambda t: days_between(t.last_touch_at, t.as_of_at) > t.not_updated_days),
        kind=Kind.snapshot,
        dims=DEAL_DIMS,
        source="W6",
        requires=DEALS,
        higher_is_better=False,
        point_only=True,
        default_by=("rep",),
    ),
    Kpi(
        "email_only_late_deals",
        "E-mail-only late-stage deals",
        "Late deals met alleen e-mail",
        "Open or lost deals that reached one of the last two open stages and had no call "
        "and no meeting while there: worked by e-mail only, or not contacted at all "
        "(late_contact tells which); by when they first reached a late stage.",
        Unit.count,
        email_only_facts,
        Count(where=_.email_only | _.no_contact),
        dims=DEAL_DIMS,
        source="W4",
        requires=("deals", "deal_stage_history", "activities"),
        higher_is_better=False,
        default_by=("rep",),
    ),
    Kpi(
        "email_only_late_share",
        "Share of late-stage deals worked by e-mail only",
        "Aandeel late deals met alleen e-mail",
        "Of the open or lost deals that reached the last two open stages, the share that "
        "had no call or meeting there (e-mail only, or no contact at all).",
        Unit.ratio,
        email_only_facts,
        Ratio(Count(where=_.email_only | _.no_contact), Count()),
        dims=DEAL_DIMS,
        source="W4",
        requires=("deals", "deal_stage_history", "activities"),
        higher_is_better=False,
        default_by=("rep",),
    ),
)
