"""HTML pages: each renders the page data of its ``/api/pages/…`` twin (no KPI math here)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from salespulse import i18n
from salespulse.errors import UserError
from salespulse.escape import json_for_html, plotly_text
from salespulse.semantic.catalogue import all_kpis, get_kpi
from salespulse.semantic.kpi import Dim
from salespulse.services import pages
from salespulse.services.filters import FILTER_DIMS, Period
from salespulse.services.models import Figure, Layer
from salespulse.services.runner import rows_of
from salespulse.services.service import RECORDS_SHOWN
from salespulse.web import charts
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
    "explorer": "/explorer",
}
GRAINS = ("month", "quarter", "year", "week", "day")


def _fmt(lang: str) -> dict[str, Any]:
    return {
        "t": lambda key, **kw: i18n.t(key, lang, **kw),
        "value": lambda v, unit, compact=False: i18n.value(v, unit, lang, compact),
        "num": lambda v, d=0: i18n.number(v, lang, d),
        "day": lambda d: i18n.day(d, lang),
        "cell": lambda v, unit: _cell(v, unit, lang),
        "raw": lambda v: _raw(v, lang),
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


def _cell(v: Any, unit: str, lang: str) -> str:
    if unit == "date":
        return i18n.day(v, lang)
    if unit in ("", None):
        return "–" if v is None else str(v)
    return i18n.value(v, unit, lang)


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
        **_fmt(lang),
        **extra,
    }


def _figure_view(fig: Figure, lang: str) -> dict[str, Any]:
    unavailable = [x for x in fig.layers if not x.available]
    empty = all(not x.rows for x in fig.layers)
    ignored = sorted({d for x in fig.layers for d in x.ignored_filters})
    return {
        "fig": fig,
        "title": fig.title_nl if lang == "nl" else fig.title_en,
        "note": fig.note_nl if lang == "nl" else fig.note_en,
        "spec": json_for_html(plotly_text(charts.build(fig, lang))) if not empty else None,
        "reason": unavailable[0].reason if unavailable and empty else None,
        "empty": empty,
        "ignored": [i18n.t(f"dim.{d}", lang) for d in ignored],
        "unit": i18n.t(f"unit.{fig.unit}", lang),
        "query": fig.layers[0].query,
    }


def _render(request: Request, name: str, ctx: dict[str, Any], status: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(request, name, ctx, status_code=status)


def _dashboard(page: str) -> Callable[..., HTMLResponse]:
    def view(
        request: Request, service: ServiceDep, lang: LangDep, filters: FiltersDep
    ) -> HTMLResponse:
        data = service.page(page, filters)
        ctx = _ctx(
            request,
            lang,
            page,
            data=data,
            options=service.options(),
            figures=[_figure_view(f, lang) for f in data.figures],
        )
        return _render(request, "page.html", ctx)

    view.__name__ = f"view_{page}"
    return view


for _page in pages.PAGES:
    router.add_api_route(
        NAV[_page], _dashboard(_page), methods=["GET"], response_class=HTMLResponse
    )


@router.get("/alerts", response_class=HTMLResponse)
def view_alerts(
    request: Request, service: ServiceDep, lang: LangDep, filters: FiltersDep
) -> HTMLResponse:
    data = service.alerts(filters)
    ctx = _ctx(request, lang, "alerts", data=data, options=service.options(), shown=RECORDS_SHOWN)
    return _render(request, "alerts.html", ctx)


@router.get("/explorer", response_class=HTMLResponse)
def view_explorer(
    request: Request,
    service: ServiceDep,
    lang: LangDep,
    filters: FiltersDep,
    kpi: Annotated[str, Query(max_length=60)] = "won_revenue",
    grain: Annotated[str, Query(max_length=20)] = "month",
    by: Annotated[str, Query(max_length=40)] = "",
) -> HTMLResponse:
    error = None
    try:
        k = get_kpi(kpi)
    except UserError as exc:
        k, error = get_kpi("won_revenue"), exc.message
    if k.point_only or grain not in GRAINS:
        grain = ""
    if by not in {d.value for d in k.dims}:
        by = ""
    breakdown = ",".join(x for x in (grain, by) if x)
    layer: Layer | None = None
    records: dict[str, Any] | None = None
    explain = ""
    try:
        layer = service.kpi(k.id, breakdown, filters)
        explain = service.explain(k.id, breakdown, filters)
        if layer.available:
            frame = service.records(k.id, filters).head(RECORDS_SHOWN)
            records = {"columns": [str(c) for c in frame.columns], "rows": rows_of(frame)}
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
        figure = _figure_view(fig, lang)
    api_params = {
        "by": breakdown,
        **{
            k2: v
            for k2, v in request.query_params.items()
            if k2 in ("period", "start", "end", "as_of", *FILTER_DIMS)
        },
    }
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
        layer=layer,
        figure=figure,
        records=records,
        explain=explain,
        error=error,
        options=service.options(),
        api_query=urlencode({k2: v for k2, v in api_params.items() if v}),
        shown=RECORDS_SHOWN,
    )
    return _render(request, "explorer.html", ctx, 400 if error else 200)
