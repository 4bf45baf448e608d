"""HTML pages: each renders the page data of its ``/api/pages/…`` twin (no KPI math here)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from salespulse import i18n
from salespulse.errors import UserError
from salespulse.escape import json_for_html, plotly_text
from salespulse.semantic.catalogue import all_kpis, get_kpi
from salespulse.semantic.kpi import Attr, Dim
from salespulse.semantic.timecal import Grain
from salespulse.services import pages
from salespulse.services.filters import DRILL_DIMS, FILTER_DIMS, Period
from salespulse.services.models import Column, Figure, Layer, Table
from salespulse.services.service import RECORDS_SHOWN
from salespulse.web import charts, rendered
from salespulse.web.deps import FiltersDep, LangDep, ServiceDep

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))

#: URL path of each page (home is ``/``), in menu order.
NAV = {
    "home": "/",
    "pipeline": "/pipeline",
    "activity": "/activity",
    "performance": "/performance",
    "stages": "/stages",
    "leaderboards": "/leaderboards",
    "alerts": "/alerts",
    "forecast": "/forecast",
    "explorer": "/explorer",
}
#: Grains the explorer offers, the usual ones first.
GRAINS = tuple(
    sorted((g.value for g in Grain), key=("month", "quarter", "year").__contains__, reverse=True)
)


def _fmt(lang: str, currency: str = "EUR") -> dict[str, Any]:
    return {
        "t": lambda key, **kw: i18n.t(key, lang, **kw),
        "value": lambda v, unit, compact=False: i18n.value(v, unit, lang, compact, currency),
        "num": lambda v, d=0: i18n.number(v, lang, d),
        "day": lambda d: i18n.day(d, lang),
        "cell": lambda v, unit, terms=None: _cell(v, unit, lang, currency, terms),
        "raw": lambda v: _raw(v, lang),
        "term": lambda vocabulary, v: i18n.term(vocabulary, v, lang),
        "dim_names": lambda dims: ", ".join(dim_label(d, lang) for d in dims),
        "dim_label": lambda d: dim_label(d, lang),
        "currency": currency,
    }


def _raw(v: Any, lang: str) -> str:
    """A record's field as text: numbers per language, timestamps as dates (with time)."""
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "✓" if v else "·"
    if isinstance(v, int | float):
        return i18n.number(v, lang, 0 if float(v).is_integer() else 2)
    if isinstance(v, str) and len(v) >= 10 and v[4:5] == "-" and v[7:8] == "-":
        return i18n.day(v[:10], lang) + (f" {v[11:16]}" if len(v) > 10 else "")
    return str(v)


def _cell(v: Any, unit: str, lang: str, currency: str = "EUR", terms: str | None = None) -> str:
    if terms:
        return i18n.term(terms, v, lang)
    if unit == "date":
        return i18n.day(v, lang)
    if unit == "flag":
        return "–" if v is None else ("✓" if v else "·")
    if unit in ("", None):
        return "–" if v is None else str(v)
    return i18n.value(v, unit, lang, currency=currency)


def _currency(request: Request) -> str:
    service = getattr(request.app.state, "service", None)
    return str(service.settings.reporting_currency) if service is not None else "EUR"


def _ctx(request: Request, lang: str, page: str, **extra: Any) -> dict[str, Any]:
    params = {k: v for k, v in request.query_params.items() if k != "lang" and v != ""}

    def url(path: str | None = None, **changes: Any) -> str:
        q = {**params, "lang": lang, **{k: v for k, v in changes.items() if v is not None}}
        return (path or request.url.path) + "?" + urlencode(q)

    def nav_url(path: str) -> str:
        keep = {
            k: v
            for k, v in params.items()
            if k in ("period", "start", "end", "as_of", *FILTER_DIMS)
        }
        return path + "?" + urlencode({**keep, "lang": lang})

    other = "nl" if lang == "en" else "en"
    return {
        "request": request,
        "lang": lang,
        "page": page,
        "nav": NAV,
        "nav_url": nav_url,
        "url": url,
        "switch_url": url(lang=other),
        "params": params,
        "periods": [p.value for p in Period],
        "filter_dims": FILTER_DIMS,
        **_fmt(lang, _currency(request)),
        **extra,
    }


def _figure_view(fig: Figure, lang: str, currency: str = "EUR") -> dict[str, Any]:
    unavailable = [x for x in fig.layers if not x.available]
    empty = all(not x.rows for x in fig.layers)
    ignored = sorted({d for x in fig.layers for d in x.ignored_filters})
    return {
        "fig": fig,
        "title": fig.title_nl if lang == "nl" else fig.title_en,
        "note": fig.note_nl if lang == "nl" else fig.note_en,
        "spec": json_for_html(plotly_text(charts.build(fig, lang, currency)))
        if not empty
        else None,
        "reason": unavailable[0].reason if unavailable and empty else None,
        "empty": empty,
        "ignored": [i18n.t(f"dim.{d}", lang) for d in ignored],
        "unit": currency if fig.unit == "EUR" else i18n.t(f"unit.{fig.unit}", lang),
        "query": fig.layers[0].query,
    }


def _render(request: Request, name: str, ctx: dict[str, Any], status: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(request, name, ctx, status_code=status)


def _dashboard(page: str) -> Callable[..., Response]:
    def view(request: Request, service: ServiceDep, lang: LangDep, filters: FiltersDep) -> Response:
        def render() -> HTMLResponse:
            data = service.page(page, filters)
            ctx = _ctx(
                request,
                lang,
                page,
                data=data,
                options=service.options(),
                figures=[_figure_view(f, lang, data.currency) for f in data.figures],
            )
            return _render(request, "page.html", ctx)

        return rendered.page(request, service, lang, render)

    view.__name__ = f"view_{page}"
    return view


for _page in pages.PAGES:
    router.add_api_route(
        NAV[_page], _dashboard(_page), methods=["GET"], response_class=HTMLResponse
    )


@router.get("/alerts", response_class=HTMLResponse)
def view_alerts(
    request: Request, service: ServiceDep, lang: LangDep, filters: FiltersDep
) -> Response:
    def render() -> HTMLResponse:
        data = service.alerts(filters)
        options = service.options()
        ctx = _ctx(request, lang, "alerts", data=data, options=options, shown=RECORDS_SHOWN)
        return _render(request, "alerts.html", ctx)

    return rendered.page(request, service, lang, render)


@router.get("/explorer", response_class=HTMLResponse)
def view_explorer(
    request: Request,
    service: ServiceDep,
    lang: LangDep,
    filters: FiltersDep,
    kpi: Annotated[str, Query(max_length=60)] = "won_revenue",
    grain: Annotated[str, Query(max_length=20)] = "month",
    by: Annotated[str, Query(max_length=80)] = "",
) -> Response:
    return rendered.page(
        request, service, lang, lambda: _explorer(request, service, lang, filters, kpi, grain, by)
    )


def _explorer(
    request: Request,
    service: ServiceDep,
    lang: str,
    filters: FiltersDep,
    kpi: str,
    grain: str,
    by: str,
) -> HTMLResponse:
    error = None
    try:
        k = get_kpi(kpi)
    except UserError as exc:
        k, error = get_kpi("won_revenue"), exc.message
    if k.point_only or grain not in GRAINS:
        grain = ""
    attributes = service.options().attributes if k.takes_attributes else []
    if by not in {d.value for d in k.dims} and by not in attributes:
        by = ""
    breakdown = ",".join(x for x in (grain, by) if x)
    drill = filters.drill
    layer: Layer | None = None
    records: Table | None = None
    try:
        layer = service.kpi(k.id, breakdown, filters)
        if layer.available:
            records = service.drill(k.id, filters, RECORDS_SHOWN)
    except UserError as exc:
        error = exc.message
    figure = None
    if layer is not None:
        x = (
            "period"
            if grain
            else (f"{by}_name" if by in ("rep", "team", "product", "stage") else by or None)
        )
        chart = "line" if grain and not by else ("stacked" if grain and by else "bar")
        series = None
        if grain and by:
            series, chart = (
                (f"{by}_name" if by in ("rep", "team", "product", "stage") else by),
                "line",
            )
        fig = Figure(
            id="explorer",
            title_en=k.name_en,
            title_nl=k.name_nl,
            chart=chart,  # type: ignore[arg-type]
            unit=layer.unit,
            x=x,
            series=series,
            layers=[layer],
        )
        figure = _figure_view(fig, lang, _currency(request))
    api_params = {
        "by": breakdown,
        **{
            k2: v
            for k2, v in request.query_params.items()
            if k2 in ("period", "start", "end", "as_of", *FILTER_DIMS)
        },
        **dict(drill),
    }
    api_query = urlencode({k2: v for k2, v in api_params.items() if v})
    ctx = _ctx(
        request,
        lang,
        "explorer",
        kpi=k,
        kpis=sorted(all_kpis(), key=lambda x: (x.name_nl if lang == "nl" else x.name_en).lower()),
        grain=grain,
        by=by,
        grains=GRAINS,
        dims=[d.value for d in Dim],
        attributes=attributes,
        layer=layer,
        figure=figure,
        records=records,
        error=error,
        options=service.options(),
        api_query=api_query,
        # the SQL is compiled when the reader opens "How is this computed?" (app.js)
        explain_url=f"/api/kpis/{k.id}/explain?{api_query}",
        shown=RECORDS_SHOWN,
        drill=[_pin(d, v, service, lang) for d, v in drill],
        result=_result_table(layer, grain, lang) if layer is not None else None,
        clear_drill="/explorer?"
        + urlencode(
            {
                k2: v
                for k2, v in request.query_params.items()
                if k2 not in DRILL_DIMS and Attr.parse(k2) is None
            }
        ),
    )
    return _render(request, "explorer.html", ctx, 400 if error else 200)


def _result_table(layer: Layer, grain: str, lang: str) -> Table:
    """The explorer's result rows with readable headers: names instead of ids, periods as
    labels, vocabulary values translated (presentation of the semantic layer's rows)."""
    known = {
        "value": ("explorer.value", layer.unit),
        "numerator": ("col.numerator", "count"),
        "denominator": ("col.denominator", "count"),
        "target": ("legend.target", layer.unit),
        "attainment": ("col.attainment", "ratio"),
        "rep_left_on": ("col.left", "date"),
    }
    keys = list(layer.rows[0]) if layer.rows else []
    columns: list[Column] = []
    for key in keys:
        if f"{key}_name" in keys:
            continue  # the id column of a named breakdown: its name is shown instead
        dim = key[: -len("_name")] if key.endswith("_name") else key
        if key in known:
            title, unit = known[key]
            en, nl = i18n.both(title)
            columns.append(Column(id=key, title_en=en, title_nl=nl, unit=unit))
        elif Attr.parse(key) is not None:  # a custom attribute: its name as mapped
            columns.append(Column(id=key, title_en=key, title_nl=key))
        elif dim == "period" or dim in {d.value for d in Dim}:
            en, nl = i18n.both(f"dim.{dim}")
            terms = dim if dim in ("channel", "lead_status", "activity_type") else None
            terms = "stage" if dim in ("stage", "from_stage") else terms
            columns.append(Column(id=key, title_en=en, title_nl=nl, terms=terms))
        else:  # a KPI's own output (e.g. CLV's factors)
            title = key.replace("_", " ").capitalize()
            columns.append(Column(id=key, title_en=title, title_nl=title, unit="number"))
    rows = [
        {**r, "period": i18n.period(r["period"], grain or None, lang)} if "period" in r else r
        for r in layer.rows
    ]
    return Table(id="result", title_en="", title_nl="", columns=columns, rows=rows)


def _pin(dim: str, value: str, service: Any, lang: str) -> dict[str, str]:
    """A drill-down value as the explorer shows it (``Stage: Proposal``)."""
    lookup = {"stage": "stages", "from_stage": "stages", "account": "accounts"}
    shown = value
    if dim in lookup:
        shown = str(service.names().get(lookup[dim], {}).get(value, value))
    if dim in ("stage", "from_stage", "channel", "lead_status", "activity_type"):
        vocabulary = "stage" if dim == "from_stage" else dim
        shown = ", ".join(i18n.term(vocabulary, x, lang) for x in shown.split(","))
    return {"dim": dim, "value": value, "label": dim_label(dim, lang), "shown": shown}


def dim_label(dim: str, lang: str) -> str:
    """A breakdown's name in ``lang``; a custom attribute is shown as mapped
    (``deal.contract_type``)."""
    return dim if Attr.parse(dim) is not None else i18n.t(f"dim.{dim}", lang)
