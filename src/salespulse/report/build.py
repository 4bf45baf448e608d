"""Gather the figures of a monthly report: page data of the dashboards plus a summary.

Every number comes from the page-data layer (:class:`~salespulse.services.service.Service`,
the same functions that serve the web pages and ``/api/pages/…``) or from the semantic
layer through a :class:`~salespulse.services.runner.Runner`; nothing here does KPI
arithmetic. What this module adds is *which* windows a report shows:

* **the month** (first … last day, as of the month end; as of the last data day when the
  data stops inside the month) — summary cards and the pipeline, activity, stage-analysis and
  business-performance sections;
* **the quarter to date** — leaderboards (quotas are quarterly) and won vs the quarter target;
* **the fiscal year to date** — won vs the year target;
* **the last twelve months** — the trend charts;
* **last month** — the cards again, to find the biggest changes.

Dates are local calendar dates in the settings' time zone; "won" means closed as won in the
period (by close date), as everywhere in the product.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pandas as pd

from salespulse.errors import UserError
from salespulse.semantic import timecal
from salespulse.semantic.catalogue import get_kpi
from salespulse.semantic.timecal import Grain
from salespulse.services.filters import Filters, Period
from salespulse.services.models import AlertData, Card, Figure, Layer, PageData, Table
from salespulse.services.pages import card, figure
from salespulse.services.service import Service
from salespulse.warehouse.store import date_ranges

#: The dashboard themes, in report order: (section key, page name, window).
SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("pipeline", "pipeline", "month"),
    ("activity", "activity", "month"),
    ("stages", "stages", "month"),
    ("leaderboards", "leaderboards", "qtd"),
    ("performance", "performance", "month"),
)
#: Figures of a page left out of the report: the stage-move matrix and stage entries over
#: time need interaction to be read; the home page's charts are the summary's (trend_won);
#: lead → won conversion of one month's new leads is ~0 by construction with cycles of months.
SKIP_FIGURES = {
    "moves",
    "movement",
    "activity_mix",
    "won_by_quarter",
    "forecast",
    "top_reps",
    "conversion_channel",
}
#: KPIs whose month-on-month change the summary ranks (cards of these pages).
CHANGE_PAGES = ("home", "pipeline", "activity")
#: Activity counts that decide whether a month has data at all.
PRESENCE_KPIS = ("activities", "new_leads", "new_deals", "stage_entries", "won_deals")
SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}
TOP_CHANGES, TOP_ALERTS = 3, 5

#: ``(step, done, total)`` progress callback (the CLI draws a bar with it).
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ReportFilters(Filters):
    """Page filters plus one rep (a report for a single rep)."""

    rep: str | None = None

    def dims(self) -> dict[str, str]:
        out = super().dims()
        if self.rep:
            out["rep"] = self.rep
        return out


@dataclass
class Versus:
    """Won revenue of a period against its target (attainment = won / target)."""

    start: date
    end: date
    won: float | None
    target: float | None
    attainment: float | None


@dataclass
class Forecast:
    """The quarter's outlook: won so far plus the point forecast of the open deals.

    ``low``/``high`` hold a forecast range (P10/P90) once :func:`forecast_range` provides
    one; until then the report shows the point forecast and says so.
    """

    start: date
    end: date
    won: float | None
    open_forecast: float | None
    target: float | None
    low: float | None = None
    high: float | None = None

    @property
    def point(self) -> float | None:
        if self.won is None and self.open_forecast is None:
            return None
        return (self.won or 0.0) + (self.open_forecast or 0.0)

    @property
    def has_range(self) -> bool:
        return self.low is not None and self.high is not None


@dataclass
class Change:
    """One KPI at this month (end) against last month (end)."""

    kpi: str
    name_en: str
    name_nl: str
    unit: str
    higher_is_better: bool | None
    before: float
    after: float

    @property
    def relative(self) -> float:
        return (self.after - self.before) / abs(self.before)


@dataclass
class Section:
    key: str
    window: str  # month | qtd
    data: PageData
    figures: list[Figure]


@dataclass
class Report:
    """Everything a report shows, language-neutral (the renderer picks en or nl)."""

    month: date  # first day of the month
    start: date
    end: date
    as_of: date
    partial: bool  # the data stops before the month's last day
    has_data: bool
    data_first: date | None
    data_last: date | None
    scope: dict[str, str] = field(default_factory=dict)  # team/rep id → display name
    currency: str = "EUR"  # the reporting currency every amount is in
    cards: list[Card] = field(default_factory=list)
    top_won: Table | None = None  # the month's largest won deals (D1's table)
    won_month: Versus | None = None
    won_qtd: Versus | None = None
    won_fytd: Versus | None = None
    forecast: Forecast | None = None
    changes: list[Change] = field(default_factory=list)
    alerts: list[AlertData] = field(default_factory=list)
    alert_total: int = 0
    trends: list[Figure] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    stage_order: list[str] = field(default_factory=list)  # stage names in pipeline order
    kpis: list[str] = field(default_factory=list)  # ids of the KPIs shown, for the appendix


def parse_month(text: str) -> date:
    """``2026-11`` → the first day of that month (a UserError for anything else)."""
    try:
        year, month = (int(x) for x in text.split("-"))
        return date(year, month, 1)
    except ValueError:
        raise UserError(
            f"month {text!r} is not a month", hint="use YYYY-MM, e.g. 2026-11"
        ) from None


def month_end(first: date) -> date:
    return timecal.next_period(first, Grain.month) - timedelta(days=1)


def forecast_range(
    service: Service, filters: Filters, start: date, end: date
) -> tuple[float, float] | None:
    """The P10/P90 range of revenue still to be won from ``filters.as_of`` to ``end`` (the
    quarter's last day), from the forecast page's method (``salespulse.forecast``: Monte
    Carlo over win probability and timing). None when the data cannot support a range (no
    stage history) or the rest of the quarter is not a whole forecast period."""
    from salespulse.forecast import run as forecast_run
    from salespulse.forecast.page import DEFAULT_METHOD
    from salespulse.semantic.query import context

    as_of = filters.as_of or service.data_day()
    if as_of >= end:
        return None
    rep = getattr(filters, "rep", None)
    by, group = (
        ("rep", rep) if rep else ("team", filters.team) if filters.team else ("total", "all")
    )
    ctx = context(service.store, service.settings, as_of)
    try:
        fc = forecast_run.compute(ctx, methods=(DEFAULT_METHOD,), by=(by,) if by != "total" else ())
    finally:
        ctx.close()
    if not fc.available or fc.draws == 0 or fc.summary.empty:
        return None
    rows = fc.summary[
        (fc.summary["method"] == DEFAULT_METHOD)
        & (fc.summary["grain"] == "quarter")
        & (fc.summary["period_end"] == end)
        & (fc.summary["by"] == by)
        & ((fc.summary["group"] == group) | (by == "total"))
    ]
    if rows.empty or rows["p10"].isna().all():
        return None
    return float(rows["p10"].iloc[0]), float(rows["p90"].iloc[0])


def build(
    service: Service,
    month: date,
    *,
    team: str | None = None,
    rep: str | None = None,
    progress: Progress | None = None,
) -> Report:
    """The report for ``month`` (its first day), for the company, one team or one rep."""
    step = progress or (lambda s, d, t: None)
    settings = service.settings
    data_day = service.data_day()
    first, last = month, month_end(month)
    end = min(last, data_day) if first <= data_day else last
    scope = _scope(service, team, rep)
    base = ReportFilters(team=team, rep=rep)

    def window(start: date, stop: date) -> ReportFilters:
        return ReportFilters(
            period=Period.custom, start=start, end=stop, as_of=stop, team=team, rep=rep
        )

    ranges = _data_range(service)
    report = Report(
        month=first,
        start=first,
        end=end,
        as_of=end,
        partial=end < last,
        has_data=False,
        data_first=ranges[0],
        data_last=ranges[1],
        scope=scope,
        currency=settings.reporting_currency,
    )
    month_f = window(first, end)
    total = 7 + len(SECTIONS) + len(CHANGE_PAGES)
    done = 0

    def tick(label: str) -> None:
        """One step done (``label`` says which; the bar shows one line for the report)."""
        nonlocal done
        done += 1
        step("building the report", done, total)

    report.has_data = first <= data_day and _has_data(service, month_f)
    tick("checking data")
    if not report.has_data:
        step("building the report", total, total)
        return report

    home = service.page("home", month_f)
    report.cards = home.cards
    report.top_won = next((t for t in home.tables if t.id == "top_won"), None)
    tick("summary")
    q_start = timecal.period_start(end, Grain.quarter, settings)
    fy_start = timecal.period_start(end, Grain.year, settings)
    report.won_month = _versus(service, month_f, base, first, end)
    report.won_qtd = _versus(service, window(q_start, end), base, q_start, end)
    report.won_fytd = _versus(service, window(fy_start, end), base, fy_start, end)
    report.forecast = _forecast(service, base, end)
    tick("targets and forecast")

    before_end = first - timedelta(days=1)
    before_f = window(timecal.period_start(before_end, Grain.month, settings), before_end)
    now_cards: dict[str, Card] = {}
    for name in CHANGE_PAGES:
        for c in service.page(name, month_f).cards:
            now_cards.setdefault(c.id, c)
        tick(f"this month: {name}")
    report.changes = biggest_changes(now_cards, _cards(service, before_f, list(now_cards)))
    tick("last month")

    alerts = service.alerts(month_f).alerts
    shown = [a for a in alerts if a.available and a.count > 0]
    shown.sort(key=lambda a: (SEVERITY_ORDER.get(a.severity, 9), -a.count))
    report.alerts = shown[:TOP_ALERTS]
    report.alert_total = sum(a.count for a in shown)
    tick("alerts")

    report.trends = _trends(service, window(_twelve_months_back(first), end))
    tick("trends")

    windows = {"month": month_f, "qtd": window(q_start, end)}
    names = _names(service)
    for key, page, win in SECTIONS:
        data = service.page(page, windows[win]).model_copy(deep=True)
        _label(data, names)
        figs = [f for f in data.figures if f.id not in SKIP_FIGURES]
        report.sections.append(Section(key, win, data, figs))
        tick(f"section: {key}")
    stages = service.store.table("stages").execute()
    stages = stages.sort_values(["pipeline_id", "stage_order"])
    report.stage_order = list(dict.fromkeys(stages["name"].astype(str)))
    report.kpis = kpis_used(report)
    tick("definitions")
    return report


# -- pieces ------------------------------------------------------------------------------
def _scope(service: Service, team: str | None, rep: str | None) -> dict[str, str]:
    """Display names of the team / rep the report is for (a UserError if unknown)."""
    out: dict[str, str] = {}
    for dim, value, table, key in (
        ("team", team, "teams", "team_id"),
        ("rep", rep, "reps", "rep_id"),
    ):
        if not value:
            continue
        t = service.store.table(table)
        rows = t.filter(t[key] == value).select("name").execute()
        if rows.empty:
            known = t.select(key).execute()[key].head(8).tolist()
            raise UserError(f"unknown {dim} {value!r}", hint=f"known {dim}s: {', '.join(known)}")
        out[dim] = str(rows["name"].iloc[0])
    return out


def _data_range(service: Service) -> tuple[date | None, date | None]:
    """First and last day with recorded events (leads, deals, stage moves, activities)."""
    ranges = date_ranges(service.store)
    lo, hi = [], []
    for name in ("leads", "deals", "deal_stage_history", "activities"):
        a, b = ranges[name]
        if a is not None and not pd.isna(a):
            lo.append(pd.Timestamp(a).date())
            hi.append(pd.Timestamp(b).date())
    if not lo:
        return None, None
    return min(lo), min(max(hi), service.data_day())


def _has_data(service: Service, filters: Filters) -> bool:
    """Whether anything happened in the window (leads, deals, stage moves, activities)."""
    r = service.runner(filters)
    try:
        for kpi in PRESENCE_KPIS:
            layer = r.layer(kpi)
            if any((row.get("value") or 0) > 0 for row in layer.rows):
                return True
        return False
    finally:
        r.close()


def _target_by(filters: ReportFilters) -> str:
    """Targets are per rep, per team or company-wide: break down by the filtered level."""
    return "rep" if filters.rep else "team" if filters.team else ""


def _row_for(layer: Layer, filters: ReportFilters) -> dict[str, Any]:
    if not layer.rows:
        return {}
    by = _target_by(filters)
    if not by:
        return layer.rows[0]
    want = filters.rep if by == "rep" else filters.team
    for row in layer.rows:
        if row.get(by) == want:
            return row
    return {}


def _versus(
    service: Service, filters: ReportFilters, base: ReportFilters, start: date, end: date
) -> Versus:
    r = service.runner(filters)
    try:
        row = _row_for(r.layer("won_revenue", _target_by(base)), base)
    finally:
        r.close()
    return Versus(start, end, row.get("value"), row.get("target"), row.get("attainment"))


def _forecast(service: Service, base: ReportFilters, as_of: date) -> Forecast:
    """The quarter around ``as_of`` (the next one when ``as_of`` is its last day): won so far
    + the forecast KPI of the deals open at ``as_of`` with an expected close in the rest of
    the quarter (overdue close dates count on ``as_of``, as the KPI defines)."""
    s = service.settings
    q_start = timecal.period_start(as_of, Grain.quarter, s)
    q_end = timecal.next_period(q_start, Grain.quarter) - timedelta(days=1)
    if as_of >= q_end:
        q_start, q_end = (
            q_end + timedelta(days=1),
            timecal.next_period(q_end + timedelta(days=1), Grain.quarter) - timedelta(days=1),
        )
    f = ReportFilters(
        period=Period.custom,
        start=q_start,
        end=q_end,
        as_of=as_of,
        team=base.team,
        rep=base.rep,
    )
    r = service.runner(f)
    try:
        by = _target_by(base)
        won_row = (
            _row_for(r.layer("won_revenue", by, start=q_start, end=as_of), base)
            if q_start <= as_of
            else {}
        )
        target_row = _row_for(r.layer("won_revenue", by, start=q_start, end=q_end), base)
        open_row = _row_for(r.layer("forecast", by, start=as_of, end=q_end), base)
    finally:
        r.close()
    fc = Forecast(
        q_start,
        q_end,
        won_row.get("value") if q_start <= as_of else 0.0,
        open_row.get("value"),
        target_row.get("target"),
    )
    rest = forecast_range(service, f, q_start, q_end)
    if rest:
        won = fc.won or 0.0
        fc.low, fc.high = won + rest[0], won + rest[1]
    return fc


def _cards(service: Service, filters: Filters, kpi_ids: list[str]) -> dict[str, Card]:
    """The pages' cards of ``kpi_ids`` for another window (the same card function)."""
    r = service.page_runner(filters)
    try:
        return {k: card(r, k) for k in kpi_ids}
    finally:
        r.close()


def biggest_changes(now: dict[str, Card], before: dict[str, Card]) -> list[Change]:
    """The ``TOP_CHANGES`` cards that moved most (relative change), both values known and
    last month's value not zero."""
    out = []
    for kpi_id, new in now.items():
        old = before.get(kpi_id)
        if old is None or new.value is None or old.value is None or old.value == 0:
            continue
        if new.value == old.value:
            continue
        layer = new.layer
        out.append(
            Change(
                kpi_id,
                layer.name_en,
                layer.name_nl,
                layer.unit,
                layer.higher_is_better,
                float(old.value),
                float(new.value),
            )
        )
    out.sort(key=lambda c: abs(c.relative), reverse=True)
    return out[:TOP_CHANGES]


def _names(service: Service) -> dict[str, dict[str, str]]:
    """Display names of reps and teams (for results that carry only the id)."""
    out: dict[str, dict[str, str]] = {}
    for dim, table in (("rep", "reps"), ("team", "teams")):
        df = service.store.table(table).select(f"{dim}_id", "name").execute()
        out[dim] = dict(zip(df[f"{dim}_id"], df["name"], strict=True))
    return out


def _label(data: PageData, names: dict[str, dict[str, str]]) -> None:
    """Fill in ``rep_name``/``team_name`` where a row has only the id (presentation)."""
    rows = [row for f in data.figures for x in f.layers for row in x.rows]
    rows += [row for t in data.tables for row in t.rows]
    for row in rows:
        for dim, known in names.items():
            if row.get(dim) is not None and not row.get(f"{dim}_name"):
                row[f"{dim}_name"] = known.get(str(row[dim]), str(row[dim]))


def _twelve_months_back(first: date) -> date:
    """The first day of the month eleven months before ``first`` (twelve months in all)."""
    y, m = divmod(first.year * 12 + first.month - 1 - 11, 12)
    return date(y, m + 1, 1)


def _trends(service: Service, filters: Filters) -> list[Figure]:
    """Monthly series over the last twelve months (the semantic layer, per month)."""
    r = service.runner(filters)
    try:
        return [
            figure("trend_won", "bar", [r.layer("won_revenue", "month")], x="period"),
            figure(
                "trend_activity",
                "stacked",
                [r.layer("activities", "month,activity_type")],
                x="period",
                series="activity_type",
            ),
        ]
    finally:
        r.close()


def kpis_used(report: Report) -> list[str]:
    """The ids of every KPI the report shows (catalogue entries), in order of appearance."""
    ids: list[str] = ["won_revenue", "forecast"]
    ids += [c.id for c in report.cards]
    ids += [c.kpi for c in report.changes]
    ids += [a.kpi for a in report.alerts]
    for fig in report.trends:
        ids += [x.kpi for x in fig.layers]
    for s in report.sections:
        ids += [c.id for c in s.data.cards]
        for fig in s.figures:
            ids += [x.kpi for x in fig.layers]
        for t in s.data.tables:
            ids += [c.id for c in t.columns if c.unit not in ("", "date")]
    seen: dict[str, object] = {}
    for kpi_id in ids:
        if kpi_id in seen:
            continue
        try:
            seen[kpi_id] = get_kpi(kpi_id)
        except UserError:  # a table column that is not a KPI (e.g. an amount)
            continue
    return list(seen)
