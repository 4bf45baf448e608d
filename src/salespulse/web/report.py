"""The monthly reports: a list of months with data, each downloadable as PDF or HTML."""

from __future__ import annotations

import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from salespulse import i18n
from salespulse.report.build import Report, _data_range, build, parse_month
from salespulse.report.pdf import html_to_pdf
from salespulse.report.render import render_html
from salespulse.services import access
from salespulse.services.service import Service
from salespulse.web import views
from salespulse.web.deps import LangDep, ServiceDep

router = APIRouter(include_in_schema=False)
Team = Annotated[str | None, Query(max_length=200)]


def months(first: date | None, last: date | None) -> list[date]:
    """First days of the months from ``last`` back to ``first`` (newest first)."""
    if first is None or last is None:
        return []
    out, m = [], date(last.year, last.month, 1)
    while m >= date(first.year, first.month, 1):
        out.append(m)
        m = (m - timedelta(days=1)).replace(day=1)
    return out


@router.get("/reports", response_class=HTMLResponse)
def reports(request: Request, service: ServiceDep, lang: LangDep) -> HTMLResponse:
    first, last = service.cache.get("report_range", lambda: _data_range(service))
    rows = [
        {"month": m.strftime("%Y-%m"), "label": i18n.period(m, "month", lang)}
        for m in months(first, last)
    ]
    ctx = views._ctx(request, lang, "reports", months=rows)
    return views.templates.TemplateResponse(request, "reports.html", ctx)


@router.get("/reports/{month}.{fmt}")
def report_file(
    month: str, fmt: str, service: ServiceDep, lang: LangDep, team: Team = None
) -> Response:
    """The report for ``month`` (YYYY-MM) as ``pdf`` or ``html`` (built once per data version)."""
    if fmt not in ("pdf", "html"):
        return Response("not found", status_code=404)
    first = parse_month(month)
    # built with the access rule applied (its deal tables, alert records): one per scope
    scope = access.scope(service.principal)
    report = service.computed(
        ("report", first, team, scope), _report, first, team, service.principal
    )
    html = render_html(report, lang)
    name = f"salespulse-report-{month}-{lang}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt == "html":
        return Response(html, media_type="text/html; charset=utf-8", headers=headers)

    def pdf() -> bytes:
        with tempfile.TemporaryDirectory() as tmp:
            return html_to_pdf(html, Path(tmp) / name).read_bytes()

    data = service.cache.get(("report.pdf", first, team, scope, lang), pdf)
    return Response(data, media_type="application/pdf", headers=headers)


def _report(
    service: Service, first: date, team: str | None, who: access.Principal | None
) -> Report:
    return build(service.scoped(who), first, team=team)
