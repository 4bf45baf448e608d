"""One page-data function per dashboard (D1–D6), the alerts view and the KPI explorer.

Each function takes a :class:`~salespulse.services.runner.Runner` (the page's window and
filters) and returns the figures, cards and tables of its page. They choose *which* queries a
page shows; every number comes from :func:`salespulse.semantic.query.run`. What they do with
results is presentation only: pick the top N rows, mark the lowest value, join KPI columns
side by side on the same key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pandas as pd

from salespulse import i18n
from salespulse.analytics.funnel import lead_funnel, stage_funnel
from salespulse.errors import UserError
from salespulse.i18n import both
from salespulse.semantic import timecal
from salespulse.semantic.catalogue import get_kpi
from salespulse.semantic.query import Query, jsonable, records
from salespulse.semantic.timecal import Grain
from salespulse.services.filters import where_for
from salespulse.services.models import Card, Column, Figure, Layer, Ref, Table
from salespulse.services.names import Names
from salespulse.services.runner import Runner, query_params, rows_of

log = logging.getLogger(__name__)

Parts = tuple[list[Card], list[Figure], list[Table]]

#: Above this many reps, charts per rep show teams instead (tables still list every rep).
MAX_REPS_IN_CHART = 40
TOP_N = 10
ACTIVE_LEAD_STATUSES = ["new", "attempting", "connected", "open_deal"]


# -- building blocks -------------------------------------------------------------------
def figure(
    fid: str,
    chart: str,
    layers: list[Layer],
    *,
    x: str | None = None,
    series: str | None = None,
    refs: list[Ref] | None = None,
    highlight: str | None = None,
    note: tuple[str, str] | None = None,
    title: str | None = None,
) -> Figure:
    en, nl = both(title or f"fig.{fid}")
    return Figure(
        id=fid,
        title_en=en,
        title_nl=nl,
        chart=chart,  # type: ignore[arg-type]
        unit=layers[0].unit,
        x=x,
        series=series,
        layers=layers,
        refs=refs or [],
        highlight=highlight,
        note_en=note[0] if note else None,
        note_nl=note[1] if note else None,
    )


def card(r: Runner, kpi_id: str) -> Card:
    layer = r.layer(kpi_id)
    row = layer.rows[0] if layer.rows else {}
    return Card(
        id=kpi_id,
        layer=layer,
        value=row.get("value"),
        target=row.get("target"),
        attainment=row.get("attainment"),
    )


def ref(value: float, key: str, **values: Any) -> Ref:
    en, nl = both(key, **values)
    return Ref(value=value, label_en=en, label_nl=nl)


def top(layer: Layer, n: int = TOP_N, reverse: bool = True) -> Layer:
    """Only the ``n`` rows with the highest (``reverse``) or lowest value."""
    rows = [r for r in layer.rows if r.get("value") is not None]
    rows.sort(key=lambda r: r["value"], reverse=reverse)
    return layer.model_copy(update={"rows": rows[:n]})


def who(r: Runner) -> str:
    """Per-rep charts for a team or a small company; per team otherwise."""
    if r.filters.team or r.filters.rep:
        return "rep"
    reps = r.store.table("reps")
    return "rep" if int(reps.count().execute()) <= MAX_REPS_IN_CHART else "team"


def label(dim: str) -> str:
    """The row column that names a breakdown value (rep → rep_name)."""
    return f"{dim}_name" if dim in ("rep", "team", "product", "stage") else dim


def side_by_side(
    tid: str, key: str, layers: list[Layer], title: str | None = None, sort: str | None = None
) -> Table:
    """Several KPIs broken down by the same ``key`` as one table (one column per KPI)."""
    en, nl = both(title or f"table.{tid}")
    rows: dict[Any, dict[str, Any]] = {}
    for layer in layers:
        for row in layer.rows:
            out = rows.setdefault(row.get(key), {key: row.get(key)})
            if label(key) in row:
                out[label(key)] = row[label(key)]
            out[layer.kpi] = row.get("value")
    terms = {"channel": "channel", "stage": "stage", "lead_status": "lead_status"}.get(key)
    columns = [
        Column(
            id=label(key),
            title_en=both(f"dim.{key}")[0],
            title_nl=both(f"dim.{key}")[1],
            terms=terms,
        )
    ]
    columns += [
        Column(id=x.kpi, title_en=x.name_en, title_nl=x.name_nl, unit=x.unit) for x in layers
    ]
    out_rows = list(rows.values())
    if sort:
        out_rows.sort(key=lambda row: (row.get(sort) is None, -(row.get(sort) or 0)))
    reasons = [x.reason for x in layers if not x.available and x.reason]
    return Table(
        id=tid,
        title_en=en,
        title_nl=nl,
        key=key,
        columns=columns,
        rows=out_rows,
        available=bool(out_rows) or not reasons,
        reason=reasons[0] if reasons and not out_rows else None,
        csv=layers[0].query if layers else None,
    )


def deal_table(r: Runner, tid: str, kpi_id: str, date_col: str, names: Names) -> Table:
    """The ``TOP_N`` largest deals behind ``kpi_id`` (drill-down records, by amount)."""
    en, nl = both(f"table.{tid}")
    q, _ = r.query(kpi_id)

    def col(cid: str, key: str, unit: str = "", terms: str | None = None) -> Column:
        return Column(id=cid, title_en=both(key)[0], title_nl=both(key)[1], unit=unit, terms=terms)

    cols = [
        col("name", "col.deal"),
        col("account_name", "col.account"),
        col("rep_name", "col.rep"),
        col("stage_name", "col.stage", terms="stage"),
        col(date_col, "col.close", unit="date"),
        col("amount_eur", "col.amount", unit="EUR"),
    ]
    try:
        recs = records(r.store, q, limit=None, ctx=r.ctx, rollups=r.rollups)
    except Exception as exc:  # e.g. data without deals
        return Table(
            id=tid,
            title_en=en,
            title_nl=nl,
            columns=cols,
            rows=[],
            available=False,
            reason=str(exc),
        )
    if "amount_eur" in recs.columns:
        recs = recs.sort_values("amount_eur", ascending=False, na_position="last").head(TOP_N)
    lookups = {"rep_name": ("rep_id", "reps"), "account_name": ("account_id", "accounts")}
    lookups["stage_name"] = ("stage_id", "stages")
    for out, (src, table) in lookups.items():
        if out not in recs.columns and src in recs.columns:
            recs = recs.assign(**{out: recs[src].map(names[table])})
    keep = [c.id for c in cols if c.id in recs.columns]
    return Table(
        id=tid,
        title_en=en,
        title_nl=nl,
        key="deal_id",
        columns=cols,
        rows=rows_of(recs[keep]),
        csv=_params(q),
    )


def _params(q: Query) -> dict[str, Any]:
    from salespulse.services.runner import query_params

    return query_params(q)


def in_pipeline_order(r: Runner, layer: Layer) -> Layer:
    """``layer``'s rows sorted (stably) by the pipeline order of their ``stage``: series per
    stage then come in the order deals move through them."""
    if not layer.rows:  # nothing to sort (or the KPI failed): no query
        return layer
    stages = r.store.table("stages").select("stage_id", "stage_order").execute()
    rank = dict(zip(stages["stage_id"], stages["stage_order"], strict=True))
    rows = sorted(layer.rows, key=lambda row: rank.get(row.get("stage"), len(rank) + 1))
    return layer.model_copy(update={"rows": rows})


def fiscal_year_end(r: Runner) -> date:
    start = timecal.period_start(r.window.as_of, Grain.year, r.settings)
    return timecal.next_period(start, Grain.year) - timedelta(days=1)


# -- D1 State of the Union --------------------------------------------------------------
def home(r: Runner) -> Parts:
    cards = [
        card(r, k)
        for k in (
            "won_revenue",
            "won_deals",
            "win_rate",
            "avg_deal_size",
            "avg_sales_cycle",
            "open_pipeline",
            "weighted_pipeline",
            "deal_velocity",
            "new_leads",
        )
    ]
    won_q = r.layer("won_revenue", "quarter")
    figures = [
        figure("won_by_quarter", "bar", [won_q], x="period"),
        forecast_figure(r),
        figure(
            "top_reps",
            "hbar",
            [top(r.layer("quota_attainment", "rep"), TOP_N)],
            x="rep_name",
            refs=[ref(1.0, "ref.quota")],
        ),
    ]
    names = r.names()
    tables = [
        deal_table(r, "top_open", "open_pipeline", "expected_close_on", names),
        deal_table(r, "top_won", "won_revenue", "closed_at", names),
    ]
    return cards, figures, tables


def forecast_figure(r: Runner) -> Figure:
    """Won revenue per month so far, and the weighted forecast for the rest of the fiscal
    year. Open deals whose expected close date has passed (or is missing) are placed on the
    as-of day by the forecast KPI; they are drawn as a labelled "overdue" bar in the first
    forecast period instead of falling off the chart."""
    won = r.layer("won_revenue", "month")
    as_of = r.window.as_of
    after = as_of + timedelta(days=1)
    fy_end = fiscal_year_end(r)
    forecast = r.layer("forecast", "month", start=after, end=max(fy_end, after), style="line")
    overdue = r.layer("forecast", start=as_of, end=as_of, style="marker")
    first = timecal.period_start(after, Grain.month, r.settings)
    value = overdue.rows[0].get("value") if overdue.rows else None
    en, nl = both("legend.overdue")
    overdue = overdue.model_copy(
        update={
            "rows": [{"period": first.isoformat(), "value": value}] if value else [],
            "name_en": en,
            "name_nl": nl,
        }
    )
    return figure("forecast", "bar", [won, overdue, forecast], x="period")


# -- D2 Pipeline ------------------------------------------------------------------------
HYGIENE = (
    "skipped_stage_deals",
    "overdue_close_deals",
    "deals_without_amount",
    "deals_not_updated",
)


def pipeline(r: Runner) -> Parts:
    cards = [
        card(r, k)
        for k in (
            "open_deals",
            "open_pipeline",
            "weighted_pipeline",
            "deal_velocity",
            "avg_deal_size",
            "avg_sales_cycle",
            "win_rate",
            "conversion_rate",
            "stale_deals",
            "stage_skip_share",
        )
    ]
    w = who(r)
    by_stage = in_pipeline_order(r, r.layer("open_pipeline", f"{w},stage"))
    stale = r.layer("stale_deals", "stage")
    tis = r.layer("time_in_stage_median", "stage")
    cycle = r.layer("avg_sales_cycle", "product")
    coverage = r.layer("pipeline_coverage", w)
    hygiene = [r.layer(k, w) for k in HYGIENE]
    figures = [
        figure("pipeline_by_stage", "hstacked", [by_stage], x=label(w), series="stage_name"),
        figure("hygiene", "hstacked", hygiene, x=label(w)),
        figure("stuck", "bar", [stale], x="stage_name"),
        figure("time_in_stage_pipeline", "bar", [tis], x="stage_name"),
        figure("cycle_by_product", "hbar", [cycle], x="product_name"),
        figure("coverage", "hbar", [coverage], x=label(w), refs=[ref(1.0, "ref.coverage")]),
    ]
    per_rep = [
        r.layer(k, "rep")
        for k in (
            "open_deals",
            "open_pipeline",
            "weighted_pipeline",
            "pipeline_coverage",
            "deal_velocity",
            "avg_deal_size",
            "avg_sales_cycle",
            "win_rate",
            "conversion_rate",
            "avg_lead_age",
        )
    ]
    after = r.window.as_of
    fy_end = max(fiscal_year_end(r), after)
    forecast = r.layer("forecast", "rep", start=after, end=fy_end)
    forecast = forecast.model_copy(
        update={
            "name_en": both("col.forecast_fy", end=i18n.day(fy_end, "en"))[0],
            "name_nl": both("col.forecast_fy", end=i18n.day(fy_end, "nl"))[1],
        }
    )
    hygiene_rep = [forecast, *[r.layer(k, "rep") for k in (*HYGIENE, "stage_skip_share")]]
    return (
        cards,
        figures,
        [
            side_by_side("reps", "rep", per_rep, sort="open_pipeline"),
            side_by_side("hygiene", "rep", hygiene_rep, sort="skipped_stage_deals"),
        ],
    )


# -- D3 Team activity -------------------------------------------------------------------
def activity(r: Runner) -> Parts:
    cards = [
        card(r, k)
        for k in (
            "activities",
            "calls",
            "emails",
            "meetings",
            "tasks_due",
            "tasks_completed_share",
            "tasks_overdue",
            "first_response_hours",
            "staff_retention",
            "ramp_time",
        )
    ]
    w = who(r)
    s = r.settings
    figures = [
        figure(
            "activity_mix",
            "stacked",
            [r.layer("activities", "month,activity_type")],
            x="period",
            series="activity_type",
        ),
        figure("calls_emails", "grouped", [r.layer("calls", w), r.layer("emails", w)], x=label(w)),
        figure(
            "first_response",
            "bar",
            [r.layer("first_response_hours", w)],
            x=label(w),
            refs=[
                ref(
                    s.first_response_red_line_hours,
                    "ref.red_line",
                    hours=f"{s.first_response_red_line_hours:g}",
                )
            ],
        ),
        figure("sla_share", "bar", [r.layer("first_response_sla_share", w)], x=label(w)),
        figure("balance", "bar", [r.layer("call_email_balance", w)], x=label(w)),
        figure("tasks", "bar", [r.layer("tasks_completed_share", w)], x=label(w)),
        figure("ramp", "hbar", [r.layer("ramp_time", "rep")], x="rep_name"),
    ]
    per_rep = [
        r.layer(k, "rep")
        for k in (
            "calls",
            "emails",
            "meetings",
            "call_email_balance",
            "tasks_due",
            "tasks_completed_share",
            "tasks_overdue",
            "crm_feature_share",
            "first_response_hours",
        )
    ]
    return cards, figures, [side_by_side("reps", "rep", per_rep, sort="calls")]


# -- D4 Business performance ------------------------------------------------------------
def performance(r: Runner) -> Parts:
    cards = [
        card(r, k)
        for k in (
            "won_revenue",
            "won_deals",
            "win_rate",
            "avg_deal_size",
            "acv",
            "clv",
            "customer_retention",
            "referrals",
            "sqls",
            "sql_followup_share",
        )
    ]
    figures = [
        figure("won_by_region", "bar", [r.layer("won_revenue", "region")], x="region"),
        figure("won_by_product", "hbar", [r.layer("won_revenue", "product")], x="product_name"),
        figure("won_by_industry", "hbar", [r.layer("won_revenue", "industry")], x="industry"),
        figure(
            "won_by_account", "hbar", [top(r.layer("won_revenue", "account"), 15)], x="account_name"
        ),
        figure("leads_by_channel", "bar", [r.layer("new_leads", "channel")], x="channel"),
        figure("conversion_channel", "bar", [r.layer("lead_to_won_rate", "channel")], x="channel"),
        figure("sqls_by_channel", "bar", [r.layer("sqls", "channel")], x="channel"),
        figure("won_by_channel", "bar", [r.layer("won_deals", "channel")], x="channel"),
        figure("referrals", "bar", [r.layer("referrals", "quarter")], x="period"),
        figure("win_rate_product", "hbar", [r.layer("win_rate", "product")], x="product_name"),
        figure(
            "cycle_by_product", "hbar", [r.layer("avg_sales_cycle", "product")], x="product_name"
        ),
    ]
    per_channel = [
        r.layer(k, "channel")
        for k in (
            "new_leads",
            "sqls",
            "sql_owner_share",
            "sql_followup_share",
            "lead_to_sql_rate",
            "lead_to_won_rate",
            "won_deals",
            "won_revenue",
        )
    ]
    return cards, figures, [side_by_side("channels", "channel", per_channel, sort="new_leads")]


# -- D5 Stage analysis ------------------------------------------------------------------
def in_stage_order(moves: Layer, entries: Layer) -> Layer:
    """``moves`` (from stage → stage) sorted by the pipeline order of ``entries``' stages."""
    rank = {row.get("stage_name"): i for i, row in enumerate(entries.rows)}
    rows = sorted(
        moves.rows,
        key=lambda m: (
            rank.get(m.get("from_stage_name"), len(rank)),
            rank.get(m.get("stage_name"), len(rank)),
        ),
    )
    return moves.model_copy(update={"rows": rows})


def _funnel(kpi_id: str, compute: Callable[[], pd.DataFrame]) -> tuple[pd.DataFrame, str | None]:
    """``compute()`` (an analytics funnel), or no rows and why, like :meth:`Runner.layer`: a
    figure that fails must not take the page down."""
    try:
        return compute(), None
    except UserError as exc:
        return pd.DataFrame(), exc.message
    except Exception as exc:
        log.exception("funnel %s failed", kpi_id)
        return pd.DataFrame(), f"could not be computed: {exc}"


def _funnel_layer(
    r: Runner, kpi_id: str, rows: list[dict[str, Any]], unit: str, reason: str | None = None
) -> Layer:
    """A layer over the rows of an analytics funnel (the query is ``kpi_id``'s by stage)."""
    kpi = get_kpi(kpi_id)
    q, ignored = r.query(kpi_id, "stage" if kpi_id == "stage_conversion" else "")
    return Layer(
        available=reason is None,
        reason=reason,
        kpi=kpi.id,
        name_en=kpi.name_en,
        name_nl=kpi.name_nl,
        unit=unit,
        higher_is_better=kpi.higher_is_better,
        rows=rows,
        ignored_filters=ignored,
        query=query_params(q),
    )


def _leak_note(key: str, name: str, vocabulary: str, share: Any) -> tuple[str, str]:
    return (
        i18n.t(key, "en", stage=i18n.term(vocabulary, name, "en"), share=i18n.percent(share, "en")),
        i18n.t(key, "nl", stage=i18n.term(vocabulary, name, "nl"), share=i18n.percent(share, "nl")),
    )


#: The records behind each step of the lead funnel (the cohort KPIs it is read from).
LEAD_STEP_KPIS = {
    "leads": "lead_to_sql_rate",
    "sql": "lead_to_sql_rate",
    "deal": "sql_to_deal_rate",
    "won": "lead_to_won_rate",
}


def funnels(r: Runner) -> tuple[Figure, Figure, Figure]:
    """The deal-stage funnel, the conversion per stage and the lead funnel, all drawn from
    :mod:`salespulse.analytics.funnel` (cohort views: deals that entered a stage in the
    window, leads created in the window), with the biggest leak marked from the same rows."""
    kw: dict[str, Any] = {
        "start": r.window.start,
        "end": r.window.end,
        "as_of": r.window.as_of,
        "settings": r.settings,
        "ctx": r.ctx,
        "rollups": r.rollups,
    }
    where = where_for(get_kpi("stage_conversion"), r.filters)[0]
    sf, sf_reason = _funnel("stage_conversion", lambda: stage_funnel(r.store, where=where, **kw))
    stage_rows = [
        {
            "stage": row.stage,
            "stage_name": row.stage_name,
            "value": jsonable(row.entered),
            "moved_on": jsonable(row.moved_on),
            "conversion": jsonable(row.conversion),
            "is_leak": bool(row.is_leak),
        }
        for row in sf.itertuples()
    ]
    leak = next((x for x in stage_rows if x["is_leak"]), None)
    note = (
        _leak_note("note.leak", str(leak["stage_name"]), "stage", leak["conversion"])
        if leak
        else None
    )
    entered = _funnel_layer(r, "stage_conversion", stage_rows, "count", sf_reason)
    conv = entered.model_copy(
        update={"unit": "ratio", "rows": [{**x, "value": x["conversion"]} for x in stage_rows]}
    )
    win = r.layer("stage_win_rate", "stage", style="line")
    highlight = leak["stage_name"] if leak else None
    stage_fig = figure("funnel", "funnel", [entered], x="stage_name", note=note)
    conv_fig = figure(
        "stage_conversion", "bar", [conv, win], x="stage_name", highlight=highlight, note=note
    )

    where = where_for(get_kpi("lead_to_won_rate"), r.filters)[0]
    lf, lf_reason = _funnel("lead_to_won_rate", lambda: lead_funnel(r.store, where=where, **kw))
    lead_rows = [
        {
            "step": row.step,
            "value": jsonable(row.count),
            "conversion": jsonable(row.conversion),
            "is_leak": bool(row.is_leak),
            "drill_kpi": LEAD_STEP_KPIS[str(row.step)],
        }
        for row in lf.itertuples()
    ]
    i = next((i for i, x in enumerate(lead_rows) if x["is_leak"]), None)
    lnote = None
    if i:  # the step that loses the most, named by where it comes from and goes to
        prev, step = lead_rows[i - 1]["step"], lead_rows[i]["step"]
        lnote = tuple(
            i18n.t(
                "note.lead_leak",
                lang,
                step=f"{i18n.term('funnel', prev, lang)} → {i18n.term('funnel', step, lang)}",
                share=i18n.percent(lead_rows[i]["conversion"], lang),
            )
            for lang in ("en", "nl")
        )
    leads = _funnel_layer(r, "lead_to_won_rate", lead_rows, "count", lf_reason)
    lead_fig = figure("lead_funnel", "funnel", [leads], x="step", note=lnote)  # type: ignore[arg-type]
    return stage_fig, conv_fig, lead_fig


def stages(r: Runner) -> Parts:
    cards = [
        card(r, k)
        for k in ("stage_entries", "skipped_stage_deals", "stage_skip_share", "stale_deals")
    ]
    entries = r.layer("stage_entries", "stage")
    stage_fig, conv_fig, lead_fig = funnels(r)
    figures = [
        stage_fig,
        conv_fig,
        lead_fig,
        figure(
            "time_in_stage",
            "grouped",
            [r.layer("time_in_stage_median", "stage"), r.layer("time_in_stage_p90", "stage")],
            x="stage_name",
        ),
        figure(
            "moves",
            "heatmap",
            [in_stage_order(r.layer("stage_transitions", "from_stage,stage"), entries)],
        ),
        figure(
            "movement",
            "line",
            [in_pipeline_order(r, r.layer("stage_entries", "month,stage"))],
            x="period",
            series="stage_name",
        ),
        figure("skips_by_rep", "hbar", [top(r.layer("skipped_stage_deals", "rep"))], x="rep_name"),
    ]
    per_stage = [
        entries,
        r.layer("stage_conversion", "stage"),
        r.layer("stage_win_rate", "stage"),
        r.layer("time_in_stage_median", "stage"),
        r.layer("time_in_stage_p90", "stage"),
        r.layer("stale_deals", "stage"),
    ]
    return cards, figures, [side_by_side("stages", "stage", per_stage)]


# -- D6 Leaderboards --------------------------------------------------------------------
def leaderboards(r: Runner) -> Parts:
    kpis = (
        "quota_attainment",
        "won_revenue",
        "won_deals",
        "new_leads",
        "avg_sales_cycle",
        "activities",
    )
    start = r.window.start.isoformat()  # rows carry ISO dates

    def on_staff(layer: Layer) -> Layer:
        """Only reps on staff at some time in the window (a rep who left earlier is no
        contender; their figures stay in the team totals and the explorer)."""
        rows = [x for x in layer.rows if not x.get("rep_left_on") or str(x["rep_left_on"]) >= start]
        return layer.model_copy(update={"rows": rows})

    reps = [on_staff(r.layer(k, "rep")) for k in kpis]
    active = on_staff(
        r.layer("leads_by_status", "rep", where={"lead_status": ACTIVE_LEAD_STATUSES})
    )
    active = active.model_copy(
        update={
            "name_en": both("col.leads_in_pipeline")[0],
            "name_nl": both("col.leads_in_pipeline")[1],
        }
    )
    lead_age = on_staff(r.layer("avg_lead_age", "rep"))
    referrals = on_staff(r.layer("referrals", "rep"))
    teams = [r.layer(k, "team") for k in (*kpis, "ramp_time", "staff_retention")]
    figures = [
        figure(
            "quota_board", "hbar", [top(reps[0], 15)], x="rep_name", refs=[ref(1.0, "ref.quota")]
        ),
        figure("won_by_team", "bar", [r.layer("won_revenue", "team")], x="team_name"),
    ]
    tables = [
        side_by_side(
            "reps",
            "rep",
            [*reps[:4], active, lead_age, referrals, *reps[4:]],
            sort="quota_attainment",
        ),
        side_by_side("teams", "team", teams, sort="quota_attainment"),
    ]
    return [], figures, tables


PAGES: dict[str, Callable[[Runner], Parts]] = {
    "home": home,
    "pipeline": pipeline,
    "activity": activity,
    "performance": performance,
    "stages": stages,
    "leaderboards": leaderboards,
}


def kpi_layer(r: Runner, kpi_id: str, by: str) -> Layer:
    """The KPI explorer's result (validated by the semantic layer)."""
    get_kpi(kpi_id)
    return r.layer(kpi_id, by)
