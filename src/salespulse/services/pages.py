"""One page-data function per dashboard (D1–D6), the alerts view and the KPI explorer.

Each function takes a :class:`~salespulse.services.runner.Runner` (the page's window and
filters) and returns the figures, cards and tables of its page. They choose *which* queries a
page shows; every number comes from :func:`salespulse.semantic.query.run`. What they do with
results is presentation only: pick the top N rows, mark the lowest value, join KPI columns
side by side on the same key.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pandas as pd

from salespulse.analytics.funnel import biggest_leak
from salespulse.i18n import both
from salespulse.semantic import timecal
from salespulse.semantic.catalogue import get_kpi
from salespulse.semantic.query import Query, records
from salespulse.semantic.timecal import Grain
from salespulse.services.models import Card, Column, Figure, Layer, Ref, Table
from salespulse.services.runner import Runner, rows_of

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
    if r.filters.team:
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
    columns = [
        Column(id=label(key), title_en=both(f"dim.{key}")[0], title_nl=both(f"dim.{key}")[1])
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


def deal_table(r: Runner, tid: str, kpi_id: str, date_col: str, names: dict[str, str]) -> Table:
    """The ``TOP_N`` largest deals behind ``kpi_id`` (drill-down records, by amount)."""
    en, nl = both(f"table.{tid}")
    q, _ = r.query(kpi_id)
    cols = [
        Column(id="name", title_en=both("col.deal")[0], title_nl=both("col.deal")[1]),
        Column(id="rep_name", title_en=both("col.rep")[0], title_nl=both("col.rep")[1]),
        Column(id="stage_name", title_en=both("col.stage")[0], title_nl=both("col.stage")[1]),
        Column(
            id=date_col, title_en=both("col.close")[0], title_nl=both("col.close")[1], unit="date"
        ),
        Column(
            id="amount_eur",
            title_en=both("col.amount")[0],
            title_nl=both("col.amount")[1],
            unit="EUR",
        ),
    ]
    try:
        recs = records(r.store, q, limit=None, ctx=r.ctx)
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
    recs = recs.assign(rep_name=recs["rep_id"].map(names) if "rep_id" in recs else None)
    if "stage_name" not in recs.columns:
        recs = recs.assign(stage_name=recs.get("stage_id", None))
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


def rep_names(r: Runner) -> dict[str, str]:
    reps = r.store.table("reps").select("rep_id", "name").execute()
    return dict(zip(reps["rep_id"], reps["name"], strict=True))


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
            "new_leads",
        )
    ]
    won_q = r.layer("won_revenue", "quarter")
    won = r.layer("won_revenue", "month")
    after = r.window.as_of + timedelta(days=1)
    fy_end = fiscal_year_end(r)
    forecast = r.layer("forecast", "month", start=after, end=max(fy_end, after), style="line")
    quota = top(r.layer("quota_attainment", "rep"), TOP_N)
    names = rep_names(r)
    figures = [
        figure("won_by_quarter", "bar", [won_q], x="period"),
        figure("forecast", "bar", [won, forecast], x="period"),
        figure("top_reps", "hbar", [quota], x="rep_name", refs=[ref(1.0, "ref.quota")]),
    ]
    tables = [
        deal_table(r, "top_open", "open_pipeline", "expected_close_on", names),
        deal_table(r, "top_won", "won_revenue", "closed_at", names),
    ]
    return cards, figures, tables


# -- D2 Pipeline ------------------------------------------------------------------------
def pipeline(r: Runner) -> Parts:
    cards = [
        card(r, k)
        for k in (
            "open_deals",
            "open_pipeline",
            "weighted_pipeline",
            "avg_deal_size",
            "avg_sales_cycle",
            "win_rate",
            "conversion_rate",
            "stale_deals",
        )
    ]
    w = who(r)
    by_stage = r.layer("open_pipeline", f"{w},stage")
    stale = r.layer("stale_deals", "stage")
    tis = r.layer("time_in_stage_median", "stage")
    cycle = r.layer("avg_sales_cycle", "product")
    coverage = r.layer("pipeline_coverage", w)
    figures = [
        figure("pipeline_by_stage", "stacked", [by_stage], x=label(w), series="stage_name"),
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
            "avg_deal_size",
            "avg_sales_cycle",
            "win_rate",
            "conversion_rate",
        )
    ]
    return cards, figures, [side_by_side("reps", "rep", per_rep, sort="open_pipeline")]


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
            "customer_retention",
        )
    ]
    figures = [
        figure("won_by_region", "bar", [r.layer("won_revenue", "region")], x="region"),
        figure("won_by_product", "hbar", [r.layer("won_revenue", "product")], x="product_name"),
        figure("won_by_industry", "hbar", [r.layer("won_revenue", "industry")], x="industry"),
        figure(
            "won_by_account", "hbar", [top(r.layer("won_revenue", "account"), 15)], x="account_name"
        ),
        figure("won_by_channel", "bar", [r.layer("won_deals", "channel")], x="channel"),
        figure("win_rate_product", "hbar", [r.layer("win_rate", "product")], x="product_name"),
        figure("conversion_channel", "bar", [r.layer("lead_to_won_rate", "channel")], x="channel"),
        figure(
            "cycle_by_product", "hbar", [r.layer("avg_sales_cycle", "product")], x="product_name"
        ),
    ]
    return cards, figures, []


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


def stages(r: Runner) -> Parts:
    cards = [
        card(r, k)
        for k in ("stage_entries", "skipped_stage_deals", "stage_skip_share", "stale_deals")
    ]
    entries = r.layer("stage_entries", "stage")
    conv = r.layer("stage_conversion", "stage")
    win = r.layer("stage_win_rate", "stage", style="line")
    leak = biggest_leak(
        pd.DataFrame(conv.rows or [{"value": None, "stage_name": None}]), "stage_name"
    )
    note = both("note.leak", stage=leak) if leak else None
    lead_funnel = [r.layer(k) for k in ("new_leads", "sqls", "new_deals", "won_deals")]
    figures = [
        figure("funnel", "funnel", [entries], x="stage_name", highlight=leak, note=note),
        figure("stage_conversion", "bar", [conv, win], x="stage_name", highlight=leak, note=note),
        figure("lead_funnel", "funnel", lead_funnel),
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
            [r.layer("stage_entries", "month,stage")],
            x="period",
            series="stage_name",
        ),
    ]
    per_stage = [
        entries,
        conv,
        win,
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
    reps = [r.layer(k, "rep") for k in kpis]
    active = r.layer("leads_by_status", "rep", where={"lead_status": ACTIVE_LEAD_STATUSES})
    active = active.model_copy(
        update={
            "name_en": both("col.leads_in_pipeline")[0],
            "name_nl": both("col.leads_in_pipeline")[1],
        }
    )
    teams = [r.layer(k, "team") for k in kpis]
    figures = [
        figure(
            "quota_board", "hbar", [top(reps[0], 15)], x="rep_name", refs=[ref(1.0, "ref.quota")]
        ),
        figure("won_by_team", "bar", [r.layer("won_revenue", "team")], x="team_name"),
    ]
    tables = [
        side_by_side("reps", "rep", [*reps[:4], active, *reps[4:]], sort="quota_attainment"),
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
