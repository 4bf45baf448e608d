"""Request dependencies as ``Annotated`` aliases: the service, the language, the filters."""

from __future__ import annotations

import time
from datetime import date
from typing import Annotated

import anyio.from_thread
from fastapi import Depends, Header, Query, Request

from salespulse import i18n
from salespulse.errors import UserError
from salespulse.semantic.kpi import Attr
from salespulse.services.cache import client_gone, request_started
from salespulse.services.filters import DRILL_DIMS, Filters, Period
from salespulse.services.service import Service
from salespulse.web.auth import PrincipalDep


async def get_service(request: Request, principal: PrincipalDep) -> Service:
    """The service as the logged-in principal may see it (401 without a login); also
    tells the page cache how to notice this client leaving."""

    def gone() -> bool:  # called from the request's worker thread while it waits
        return bool(anyio.from_thread.run(request.is_disconnected))

    client_gone.set(gone)
    request_started.set(time.monotonic())
    return request.app.state.service.scoped(principal)


def get_public_service(request: Request) -> Service:
    """The service for routes anyone may call (liveness): no records through it."""
    return request.app.state.service


def get_lang(
    lang: Annotated[
        str | None, Query(pattern="^(en|nl)$", description="Language: en or nl.")
    ] = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> str:
    return i18n.pick_lang(lang, accept_language)


Dim = Annotated[str | None, Query(max_length=200)]
#: Dates the filters accept (a sales history outside them is a typo, and 9999-12-31 would
#: overflow the calendar arithmetic).
DATE_MIN, DATE_MAX = date(1900, 1, 1), date(2199, 12, 31)


def get_filters(
    request: Request,
    period: Annotated[Period, Query(description="Period preset.")] = Period.fytd,
    start: Annotated[date | None, Query(description="First day (custom period).")] = None,
    end: Annotated[date | None, Query(description="Last day (custom period).")] = None,
    as_of: Annotated[date | None, Query(description="As-of date; default: last data day.")] = None,
    rep: Dim = None,
    team: Dim = None,
    region: Dim = None,
    product: Dim = None,
    channel: Dim = None,
) -> Filters:
    for name, day in (("start", start), ("end", end), ("as_of", as_of)):
        if day is not None and not DATE_MIN <= day <= DATE_MAX:
            raise UserError(
                f"{name}={day.isoformat()} is out of range",
                hint=f"give a date from {DATE_MIN.isoformat()} to {DATE_MAX.isoformat()}",
            )
    return Filters(
        period=period,
        start=start,
        end=end,
        as_of=as_of,
        rep=rep or None,
        team=team or None,
        region=region or None,
        product=product or None,
        channel=channel or None,
        drill=drill_values(request),
    )


def drill_values(request: Request) -> tuple[tuple[str, str], ...]:
    """Breakdown values pinned by a drill-down link (``?stage=proposal``; see DRILL_DIMS)."""
    q = request.query_params
    pinned = [(d, v) for d in DRILL_DIMS if (v := q.get(d, "")[:200].strip())]
    attrs = [k for k in q if Attr.parse(k) is not None and len(k) <= 80][:5]  # custom attributes
    return tuple(pinned + [(k, v) for k in attrs if (v := q.get(k, "")[:200].strip())])


ServiceDep = Annotated[Service, Depends(get_service)]
PublicServiceDep = Annotated[Service, Depends(get_public_service)]
LangDep = Annotated[str, Depends(get_lang)]
FiltersDep = Annotated[Filters, Depends(get_filters)]
