"""Stage KPIs from stage history: stage skipping (W6), stage-to-stage conversion (W7),
time in stage and stale deals (W8).

A *visit* is one stay of a deal in a stage: from entering it until entering the next one
(re-entries are separate visits). *Required* stages are those a pipeline marks
``is_required``; a pipeline that marks none treats every open stage as required.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
from ibis import _

from salespulse.semantic.catalogue.deals import open_intervals
from salespulse.semantic.kpi import DEAL_DIMS, Dim, Facts, Kind, Kpi, Unit
from salespulse.semantic.measures import Count, Mean, Quantile, Ratio
from salespulse.semantic.model import Context, days_between
from salespulse.semantic.relations import without

STAGE_DIMS = (*DEAL_DIMS, Dim.stage)
HISTORY = ("deals", "deal_stage_history")


def _first_entries(ctx: Context) -> ir.Table:
    """(deal, stage) → first time the deal entered the stage, lost stages left out."""
    h = ctx.stage_history.filter(~_.is_closed | _.is_won)
    return h.group_by(
        "deal_id", "stage_id", "pipeline_id", "stage_order", "is_closed", "is_won"
    ).aggregate(first_at=h.entered_at.min())


def _required_stages(ctx: Context) -> ir.Table:
    s = ctx.stages.filter(~_.is_closed)
    w = ibis.window(group_by="pipeline_id")
    s = s.mutate(_marks=ibis.ifelse(s.is_required, 1, 0).max().over(w))
    s = s.filter((_._marks == 0) | _.is_required)
    return s.select(r_pipeline="pipeline_id", r_stage="stage_id", r_order="stage_order")


def skip_facts(ctx: Context) -> Facts:
    """Deals that progressed beyond a required stage, with ``skipped``: it got there
    without first entering every required stage before it. Event time: when the deal
    first went beyond a required stage."""
    fe = _first_entries(ctx)
    req = _required_stages(ctx)
    j = fe.inner_join(req, fe.pipeline_id == req.r_pipeline)
    per_req = j.group_by(j.deal_id, j.r_stage).aggregate(
        beyond_at=j.first_at.min(where=j.stage_order > j.r_order),
        req_at=j.first_at.min(where=j.stage_id == j.r_stage),
    )
    per_req = per_req.filter(_.beyond_at.notnull())
    per_req = per_req.mutate(skipped=per_req.req_at.isnull() | (per_req.req_at > per_req.beyond_at))
    per_deal = per_req.group_by(_sd="deal_id").aggregate(
        progressed_at=per_req.beyond_at.min(),
        skipped=per_req.skipped.any(),
        skipped_stages=ibis.ifelse(per_req.skipped, 1, 0).sum(),
    )
    d = ctx.deals
    out = without(d.inner_join(per_deal, d.deal_id == per_deal._sd), "_sd")
    return Facts(out, "deals", "deal_id", at="progressed_at")


def conversion_facts(ctx: Context) -> Facts:
    """Per deal and open stage: first entry (the cohort date), whether the deal later
    entered a later stage (won included, lost not) and its outcome."""
    fe = _first_entries(ctx).filter(~_.is_closed)
    later = _first_entries(ctx).select(l_deal="deal_id", l_order="stage_order", l_at="first_at")
    j = fe.left_join(
        later,
        [fe.deal_id == later.l_deal, later.l_order > fe.stage_order, later.l_at >= fe.first_at],
    )
    adv = j.group_by("deal_id", "stage_id", "first_at").aggregate(advanced=j.l_deal.notnull().any())
    dims = ctx.deals.select("deal_id", "is_closed", "is_won", *[d.column for d in DEAL_DIMS])
    out = adv.inner_join(dims, "deal_id")
    return Facts(out, "deals", "deal_id", at="first_at")


def entry_facts(ctx: Context) -> Facts:
    """Per deal and open stage: its first entry (the cohort date of
    :func:`conversion_facts`, without what became of the deal)."""
    fe = _first_entries(ctx).filter(~_.is_closed)
    fe = fe.select("deal_id", "stage_id", "stage_order", "first_at")
    out = fe.inner_join(ctx.deal_dims, "deal_id")
    return Facts(out, "deals", "deal_id", at="first_at")


def visit_facts(ctx: Context) -> Facts:
    """Completed stage visits (open stages), with days spent; event time = when left."""
    v = ctx.stage_visits.filter(~_.is_closed & _.left_at.notnull())
    return Facts(v, "deal_stage_history", "deal_id", at="left_at")


def cumulative_facts(ctx: Context) -> Facts:
    """Total days per deal and stage over all its visits (re-entries added up), for deals
    that have left the stage; event time = when it last left it."""
    v = ctx.stage_visits.filter(~_.is_closed)
    dims = [d.column for d in STAGE_DIMS]
    g = v.group_by(["deal_id", *dims]).aggregate(
        total_days=v.days_in_stage.sum(),
        last_left_at=v.left_at.max(),
        still_there=v.is_current.any(),
    )
    g = g.filter(~g.still_there)
    return Facts(g, "deal_stage_history", "deal_id", at="last_left_at")


def transition_facts(ctx: Context) -> Facts:
    """Moves between stages: one row per stage entry after a deal's first, with the stage
    it came from (``from_stage_id``) and the one it entered (``stage_id``)."""
    h = ctx.stage_history.filter(_.visit > 1)
    h = h.select(
        "deal_id",
        "stage_id",
        "entered_at",
        from_stage_id=h.prev_stage_id,
        is_backward=h.stage_order < h.prev_stage_order,
    )
    j = h.inner_join(ctx.deal_dims, "deal_id")
    return Facts(j, "deal_stage_history", "deal_id", at="entered_at")


def stale_thresholds(ctx: Context) -> tuple[ir.Table, ir.Table]:
    """Days after which an open deal is stale, from completed visits known at as-of (cycles
    differ per product): per (stage, product) the p90 where that pair has at least
    ``stale_min_history`` visits; per stage likewise. Returns both tables."""
    s = ctx.settings
    v = ctx.stage_visits.filter(~_.is_closed & _.left_at.notnull())
    p90 = v.days_in_stage.quantile(0.9)
    sp = v.group_by(_sp_stage="stage_id", _sp_product="product_id").aggregate(
        sp_p90=p90, sp_n=v.count()
    )
    sp = sp.filter(sp.sp_n >= s.stale_min_history)
    st = v.group_by(_s_stage="stage_id").aggregate(s_p90=p90, s_n=v.count())
    st = st.filter(st.s_n >= s.stale_min_history)
    return sp, st


def stale_facts(ctx: Context) -> Facts:
    """Open deals with the threshold for their stage and product (``stale_p90_factor`` ×
    p90, falling back to the stage's, then ``stale_days_default``) and where it came from
    (``stale_basis``)."""
    iv = open_intervals(ctx)
    sp, st = stale_thresholds(ctx)
    j = iv.left_join(sp, [iv.stage_id == sp._sp_stage, iv.product_id == sp._sp_product])
    j = j.left_join(st, j.stage_id == st._s_stage)
    default = float(ctx.settings.stale_days_default)
    factor = ctx.settings.stale_p90_factor
    j = j.mutate(
        stale_after_days=ibis.coalesce(j.sp_p90 * factor, j.s_p90 * factor, default),
        stale_basis=ibis.cases(
            (j.sp_p90.notnull(), "stage_product"),
            (j.s_p90.notnull(), "stage"),
            else_="default",
        ),
    )
    j = without(j, "_sp_stage", "_sp_product", "sp_p90", "sp_n", "_s_stage", "s_p90", "s_n")
    return Facts(j, "deals", "deal_id", valid_from="valid_from", valid_to="valid_to")


def _days_in_stage_now(t: ir.Table) -> ir.FloatingValue:
    return days_between(t.valid_from, t.as_of_at)


KPIS = (
    Kpi(
        "skipped_stage_deals",
        "Deals that skipped a required stage",
        "Deals met overgeslagen fase",
        "Deals that went beyond a required stage without first entering it (e.g. straight "
        "from qualification to negotiation), counted when they went beyond it.",
        Unit.count,
        skip_facts,
        Count(where=_.skipped),
        dims=DEAL_DIMS,
        source="W6",
        requires=HISTORY,
        higher_is_better=False,
        default_by=("rep",),
    ),
    Kpi(
        "stage_skip_share",
        "Share of deals skipping a stage",
        "Aandeel deals met overgeslagen fase",
        "Of the deals that went beyond a required stage in the period, the share that "
        "skipped a required stage on the way. Skipped stages make the forecast unreliable.",
        Unit.ratio,
        skip_facts,
        Ratio(Count(where=_.skipped), Count()),
        dims=DEAL_DIMS,
        source="W6",
        primary=True,
        requires=HISTORY,
        higher_is_better=False,
        default_by=("rep",),
    ),
    Kpi(
        "stage_conversion",
        "Stage-to-stage conversion",
        "Conversie per fase",
        "Of the deals that entered a stage in the period (first entry), the share that later "
        "entered any later stage (won included, lost not). The biggest drop is the leak.",
        Unit.ratio,
        conversion_facts,
        Ratio(Count(where=_.advanced), Count()),
        dims=STAGE_DIMS,
        source="W7",
        primary=True,
        requires=HISTORY,
        default_by=("stage",),
    ),
    Kpi(
        "stage_win_rate",
        "Win rate from stage",
        "Winkans vanuit fase",
        "Of the deals that entered a stage in the period and have been decided, the share "
        "won: the learned probability of the stage.",
        Unit.ratio,
        conversion_facts,
        Ratio(Count(where=_.is_won), Count(where=_.is_closed)),
        dims=STAGE_DIMS,
        source="W7",
        requires=HISTORY,
        default_by=("stage",),
    ),
    Kpi(
        "stage_entries",
        "Stage entries",
        "Instroom per fase",
        "Deals entering each stage for the first time in the period (movement through the "
        "pipeline).",
        Unit.count,
        entry_facts,
        Count(),
        dims=STAGE_DIMS,
        source="W7",
        requires=HISTORY,
        default_by=("stage", "month"),
        higher_is_better=None,
    ),
    Kpi(
        "stage_transitions",
        "Stage moves",
        "Faseovergangen",
        "Moves of deals between stages in the period: from which stage to which (break it "
        "down by from_stage and stage), backward moves and closing included. Shows how deals "
        "really flow through the pipeline.",
        Unit.count,
        transition_facts,
        Count(),
        dims=(*STAGE_DIMS, Dim.from_stage),
        source="W7",
        requires=HISTORY,
        higher_is_better=None,
        default_by=("from_stage", "stage"),
    ),
    Kpi(
        "backward_moves",
        "Deals moved back a stage",
        "Deals teruggezet naar een eerdere fase",
        "Moves in the period to an earlier stage than the one the deal was in (re-entries), "
        "a sign of stages used out of order.",
        Unit.count,
        transition_facts,
        Count(where=_.is_backward),
        dims=(*STAGE_DIMS, Dim.from_stage),
        source="W6",
        requires=HISTORY,
        higher_is_better=False,
        default_by=("rep",),
    ),
    Kpi(
        "time_in_stage_median",
        "Time in stage (median)",
        "Tijd in fase (mediaan)",
        "Median days deals spent in a stage per visit, for visits that ended in the period.",
        Unit.days,
        visit_facts,
        Quantile(_.days_in_stage, 0.5),
        dims=STAGE_DIMS,
        source="W8",
        primary=True,
        requires=HISTORY,
        higher_is_better=False,
        default_by=("stage",),
    ),
    Kpi(
        "time_in_stage_mean",
        "Time in stage (mean)",
        "Tijd in fase (gemiddeld)",
        "Average days per stage visit, for visits that ended in the period.",
        Unit.days,
        visit_facts,
        Mean(_.days_in_stage),
        dims=STAGE_DIMS,
        source="W8",
        requires=HISTORY,
        higher_is_better=False,
        default_by=("stage",),
    ),
    Kpi(
        "time_in_stage_p90",
        "Time in stage (p90)",
        "Tijd in fase (p90)",
        "Days within which 90% of the stage visits that ended in the period were done.",
        Unit.days,
        visit_facts,
        Quantile(_.days_in_stage, 0.9),
        dims=STAGE_DIMS,
        source="W8",
        requires=HISTORY,
        higher_is_better=False,
        default_by=("stage",),
    ),
    Kpi(
        "time_in_stage_cumulative",
        "Cumulative time in stage (mean)",
        "Cumulatieve tijd in fase (gemiddeld)",
        "Average total days a deal spent in a stage over all its visits (re-entries added), "
        "for deals that left the stage in the period.",
        Unit.days,
        cumulative_facts,
        Mean(_.total_days),
        dims=STAGE_DIMS,
        source="W8",
        requires=HISTORY,
        higher_is_better=False,
        default_by=("stage",),
    ),
    Kpi(
        "stale_deals",
        "Stale deals",
        "Vastgelopen deals",
        "Open deals that have been in their current stage much longer than is normal for "
        "that stage and product: stale_p90_factor (1.25) × the p90 of past visits of the "
        "stage by deals of the same product; where that history is thin (fewer than "
        "stale_min_history visits), the stage's p90 over all products; else 60 days "
        "(settings). Cycles differ per product, "
        "so one threshold per stage flags normal long deals and misses stalled short ones.",
        Unit.count,
        stale_facts,
        Count(where=lambda t: _days_in_stage_now(t) > t.stale_after_days),
        kind=Kind.snapshot,
        dims=STAGE_DIMS,
        source="W8",
        requires=HISTORY,
        higher_is_better=False,
        default_by=("rep",),
    ),
)
