"""The Forecast page (``/forecast``) and the forecast JSON API (``/api/forecast/…``)."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from salespulse.errors import UserError
from salespulse.forecast import backtest as bt
from salespulse.forecast import page as fpage
from salespulse.forecast.changes import compute as changes
from salespulse.forecast.run import KINDS, METHODS, compute
from salespulse.semantic import timecal
from salespulse.semantic.query import context
from salespulse.semantic.timecal import Grain
from salespulse.services.service import Service
from salespulse.web import views
from salespulse.web.deps import LangDep, ServiceDep

api = APIRouter(prefix="/api/forecast", tags=["forecast"])
pages = APIRouter(include_in_schema=False)

Method = Annotated[str, Query(max_length=40, description=f"One of: {', '.join(METHODS)}.")]
AsOf = Annotated[date | None, Query(description="As-of date; default: last data day.")]


def _day(service: ServiceDep, d: date | None, what: str = "as-of") -> date:
    """The date asked for (default: the last data day), within the years we can handle."""
    d = d or service.data_day()
    if not 1900 <= d.year <= 2199:
        raise UserError(f"{what} date {d} is out of range", hint="use a date from 1900 to 2199")
    return d


def _method(m: str) -> str:
    if m not in METHODS:
        raise UserError(f"unknown forecast method {m!r}", hint=f"choose from: {', '.join(METHODS)}")
    return m


@api.get("/show", summary="Forecast with P10/P50/P90 per month and quarter")
def show(
    service: ServiceDep,
    as_of: AsOf = None,
    method: Annotated[str | None, Query(max_length=40)] = None,
    by: Annotated[str, Query(max_length=20, description="total, rep, team or product")] = "total",
    draws: Annotated[int, Query(ge=0, le=20_000)] = 2_000,
) -> dict[str, Any]:
    if by not in ("total", *KINDS):
        raise UserError(f"cannot break the forecast down by {by!r}")
    d = _day(service, as_of)
    methods = (_method(method),) if method else METHODS
    kept = service.computed(("forecast.show", d, methods, draws), _show, d, methods, draws)
    return {**kept, "rows": [r for r in kept["rows"] if r["by"] == by]}  # the kept one unchanged


@api.get("/backtest", summary="Walk-forward backtest: WAPE, bias, coverage per method")
def backtest(service: ServiceDep, as_of: AsOf = None) -> dict[str, Any]:
    # a date after the data adds no history: the backtest as of the last data day
    d = min(_day(service, as_of), service.data_day())
    return service.computed(("forecast.backtest", d), _backtest, d)


@api.get("/changes", summary="Pipeline changes since a date (waterfall) and slip rates")
def pipeline_changes(
    service: ServiceDep, since: date | None = None, as_of: AsOf = None
) -> dict[str, Any]:
    d = _day(service, as_of)
    q = timecal.period_start(d, Grain.quarter, service.settings)
    start = _day(service, since, "since") if since else q
    if start > d:
        raise UserError(f"since {start} is after the as-of date {d}")
    end = timecal.next_period(q, Grain.quarter)
    return service.computed(("forecast.changes", start, d), _changes, start, d, end)


@api.get("/page", summary="Data of the Forecast page")
def page_data(
    service: ServiceDep, as_of: AsOf = None, method: Method = fpage.DEFAULT_METHOD
) -> dict[str, Any]:
    return _page(service, _day(service, as_of), _method(method))


def _page(service: ServiceDep, d: date, method: str) -> dict[str, Any]:
    """The page data, computed once per data version."""
    return service.computed(("forecast.page", d, method), _page_data, d, method)


@pages.get("/forecast", response_class=HTMLResponse)
def view(
    request: Request,
    service: ServiceDep,
    lang: LangDep,
    as_of: AsOf = None,
    method: Method = fpage.DEFAULT_METHOD,
) -> HTMLResponse:
    data = _page(service, _day(service, as_of), _method(method))
    t = views._fmt(lang)["t"]
    labels = {k: t(f"forecast.{k}") for k in ("won", "range", "expected", "target")}
    spec = json.dumps(fpage.fan_chart(data, labels), default=str)
    ctx = views._ctx(request, lang, "forecast", fc=data, spec=spec, methods=METHODS)
    return views.templates.TemplateResponse(request, "forecast.html", ctx)


# -- computed once per data version (module-level: a worker process can be asked by name) --
def _show(service: Service, d: date, methods: tuple[str, ...], draws: int) -> dict[str, Any]:
    ctx = context(service.store, service.settings, d)
    out: dict[str, Any] = compute(ctx, methods=methods, draws=draws).to_dict()
    return out


def _backtest(service: Service, d: date) -> dict[str, Any]:
    out: dict[str, Any] = bt.run(service.store, service.settings, d).to_dict()
    return out


def _changes(service: Service, start: date, d: date, end: date) -> dict[str, Any]:
    from datetime import timedelta

    out: dict[str, Any] = changes(
        context(service.store, service.settings, start),
        context(service.store, service.settings, d),
        end - timedelta(days=1),
    ).to_dict()
    return out


def _page_data(service: Service, d: date, method: str) -> dict[str, Any]:
    out: dict[str, Any] = fpage.data(service.store, service.settings, d, method)
    return out
