"""The Scoring page (``/scoring``), My day (``/my-day``) and their JSON (``/api/scoring``,
``/api/my-day``). Behind the login like every page; records follow the access rule (a rep
sees only their own deals and leads)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from salespulse import serialize
from salespulse.analytics.priorities import resolve_rep
from salespulse.errors import UserError
from salespulse.escape import json_for_html
from salespulse.scoring import page as spage
from salespulse.semantic.query import context
from salespulse.services import access
from salespulse.services.service import Service
from salespulse.web import views
from salespulse.web.deps import LangDep, ServiceDep

api = APIRouter(prefix="/api", tags=["scoring"])
pages = APIRouter(include_in_schema=False)

AsOf = Annotated[date | None, Query(description="As-of date; default: last data day.")]
Rep = Annotated[str | None, Query(max_length=200, description="Rep id or name.")]


def _day(service: ServiceDep, d: date | None) -> date:
    d = d or service.data_day()
    if not 1900 <= d.year <= 2199:
        raise UserError(f"as-of date {d} is out of range", hint="use a date from 1900 to 2199")
    return d


def _scoring(service: ServiceDep, d: date, lang: str) -> dict[str, Any]:
    data = service.computed(("scoring.page", d, lang), _scoring_data, d, lang)
    out = dict(data)
    for key in ("deals", "leads"):
        f = data[key]
        if f is not None:
            shown = access.records(service.principal, f, service.reps())
            out[key] = serialize.rows(pd.DataFrame(shown))
    return out


def _rep(service: ServiceDep, rep: str | None) -> str | None:
    """A rep sees their own day; others pick a rep (default: none)."""
    p = service.principal
    if p is not None and p.role == access.REP:
        return p.rep_id
    if not rep:
        return None
    day = service.data_day()
    return service.computed(("scoring.rep", rep, day), _resolve_rep, rep, day)


def _my_day(service: ServiceDep, rep: str | None, d: date, lang: str) -> list[dict[str, Any]]:
    rid = _rep(service, rep)
    if rid is None:
        return []
    rows = service.computed(("scoring.day", rid, d, lang), _day_data, rid, d, lang)
    return access.record_rows(service.principal, rows, service.reps())


@api.get("/scoring", summary="Model cards, and open deals and leads with scores and reasons")
def scoring_json(service: ServiceDep, lang: LangDep, as_of: AsOf = None) -> dict[str, Any]:
    out: dict[str, Any] = serialize.jsonable(_scoring(service, _day(service, as_of), lang))
    return out


@api.get("/my-day", summary="A rep's day: deals that can close first, then leads")
def my_day_json(
    service: ServiceDep, lang: LangDep, rep: Rep = None, as_of: AsOf = None
) -> list[dict[str, Any]]:
    return _my_day(service, rep, _day(service, as_of), lang)


@pages.get("/scoring", response_class=HTMLResponse)
def scoring_view(
    request: Request, service: ServiceDep, lang: LangDep, as_of: AsOf = None
) -> HTMLResponse:
    data = _scoring(service, _day(service, as_of), lang)
    t = views._fmt(lang)["t"]
    labels = {
        "perfect": t("score.perfect"),
        "observed": t("score.observed"),
        "predicted": t("score.predicted"),
    }
    charts = {
        target: json_for_html(spage.reliability_chart(card, labels))
        for target, card in data["cards"].items()
        if card
    }
    ctx = views._ctx(request, lang, "scoring", sc=data, charts=charts)
    return views.templates.TemplateResponse(request, "scoring.html", ctx)


@pages.get("/my-day", response_class=HTMLResponse)
def my_day_view(
    request: Request, service: ServiceDep, lang: LangDep, rep: Rep = None, as_of: AsOf = None
) -> HTMLResponse:
    d = _day(service, as_of)
    rows = _my_day(service, rep, d, lang)
    p = service.principal
    pick = p is None or p.role != access.REP
    reps = sorted(access.records(p, _rep_frame(service), service.reps())["rep_id"]) if pick else []
    ctx = views._ctx(request, lang, "myday", rows=rows, rep=rep or "", reps=reps, pick=pick)
    return views.templates.TemplateResponse(request, "myday.html", ctx)


def _rep_frame(service: ServiceDep) -> pd.DataFrame:
    reps = service.reps()
    return pd.DataFrame({"rep_id": list(reps), "team_id": [team for _, team in reps.values()]})


# -- computed once per data version (module-level: a worker process can be asked by name) --
def _scoring_data(service: Service, d: date, lang: str) -> dict[str, Any]:
    return spage.scoring_data(service.store, service.settings, d, lang)


def _resolve_rep(service: Service, rep: str, day: date) -> str:
    return resolve_rep(context(service.store, service.settings, day), rep)


def _day_data(service: Service, rid: str, d: date, lang: str) -> list[dict[str, Any]]:
    return spage.day_data(service.store, service.settings, rid, d, lang)
