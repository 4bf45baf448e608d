"""The JSON API (``/api/…``): the same page data the HTML pages render, every KPI, records."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response

from salespulse.escape import to_csv
from salespulse.semantic.catalogue import get_kpi
from salespulse.services import pages
from salespulse.services.models import AlertsPage, FilterOptions, KpiInfo, Layer, PageData
from salespulse.services.runner import rows_of
from salespulse.services.service import RECORDS_MAX
from salespulse.web import rendered
from salespulse.web.deps import FiltersDep, ServiceDep

router = APIRouter(prefix="/api", tags=["api"])

By = Annotated[
    str,
    Query(
        max_length=100,
        description="Breakdowns, comma-separated: a period grain (day, week, month, quarter, "
        "year) and/or dimensions the KPI allows (rep, team, region, channel, product, stage, …).",
    ),
]


def _page_endpoint(name: str) -> None:
    doc = (pages.PAGES[name].__doc__ or "").strip()

    def endpoint(request: Request, service: ServiceDep, filters: FiltersDep) -> Response:
        return rendered.data(request, service, lambda: service.page(name, filters))

    endpoint.__name__ = f"page_{name}"
    router.add_api_route(
        f"/pages/{name}",
        endpoint,
        methods=["GET"],
        response_model=PageData,
        summary=f"Data of the {name} page",
        description=doc or f"Every figure, card and table of the {name} page.",
    )


for _name in pages.PAGES:
    _page_endpoint(_name)


@router.get("/pages/alerts", response_model=AlertsPage, summary="Alerts with their records")
def page_alerts(request: Request, service: ServiceDep, filters: FiltersDep) -> Response:
    return rendered.data(request, service, lambda: service.alerts(filters))


@router.get("/filters", response_model=FilterOptions, summary="Values for the global filters")
def filter_options(service: ServiceDep) -> FilterOptions:
    return service.options()


@router.get("/kpis", response_model=list[KpiInfo], summary="The KPI catalogue")
def kpi_list(service: ServiceDep) -> list[KpiInfo]:
    return service.kpis()


@router.get("/kpis/{kpi_id}", response_model=Layer, summary="One KPI by period and breakdown")
def kpi_result(kpi_id: str, service: ServiceDep, filters: FiltersDep, by: By = "") -> Layer:
    return service.kpi(kpi_id, by, filters)


@router.get(
    "/kpis/{kpi_id}/csv",
    summary="One KPI as CSV",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
def kpi_csv(kpi_id: str, service: ServiceDep, filters: FiltersDep, by: By = "") -> Response:
    layer = service.kpi(kpi_id, by, filters)
    import pandas as pd

    return _csv(pd.DataFrame(layer.rows), f"{layer.kpi}.csv")


@router.get("/kpis/{kpi_id}/records", summary="The records behind a KPI (drill-down)")
def kpi_records(
    kpi_id: str,
    service: ServiceDep,
    filters: FiltersDep,
    limit: Annotated[int, Query(ge=1, le=RECORDS_MAX)] = 200,
) -> dict[str, Any]:
    kpi = get_kpi(kpi_id)
    frame = service.records(kpi.id, filters, RECORDS_MAX).head(limit)
    return {"kpi": kpi.id, "columns": [str(c) for c in frame.columns], "rows": rows_of(frame)}


@router.get(
    "/kpis/{kpi_id}/records/csv",
    summary="The records behind a KPI as CSV",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
def kpi_records_csv(kpi_id: str, service: ServiceDep, filters: FiltersDep) -> Response:
    kpi = get_kpi(kpi_id)
    return _csv(service.records(kpi.id, filters, RECORDS_MAX), f"{kpi.id}-records.csv")


@router.get("/kpis/{kpi_id}/explain", summary="How a KPI is computed (definition and SQL)")
def kpi_explain(
    kpi_id: str, service: ServiceDep, filters: FiltersDep, by: By = ""
) -> dict[str, str]:
    kpi = get_kpi(kpi_id)
    return {
        "kpi": kpi.id,
        "definition": kpi.definition,
        "explain": service.explain(kpi.id, by, filters),
    }


# The app answers GET /api/health before FastAPI's routing (web/security.py, ``Health``)
# with this same body; the route stays for the OpenAPI schema (and an app without that layer).
@router.get("/health", summary="Liveness and data version")
async def health(request: Request) -> dict[str, str]:
    """Answers at once: never waits for the database, a lock or KPI work."""
    return {"status": "ok", "data_version": request.app.state.service.cache.peek_version()}


def _csv(frame: Any, filename: str) -> Response:
    return Response(
        to_csv(frame),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
