"""Headers, errors and hostile parameters: every route, no 500, no engine text in a response."""

from __future__ import annotations

import shutil
from contextlib import closing
from pathlib import Path
from typing import Any

import duckdb
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from salespulse.services.filters import FILTER_DIMS
from salespulse.services.public import HIDDEN
from salespulse.settings import Settings
from salespulse.web.security import HEADERS
from tests.web.conftest import add_users, app_routes, make_client

pytestmark = pytest.mark.xdist_group("web")

#: Values no parameter may turn into a server error (dates past the calendar, NUL bytes).
CONTROL = ["\x00", "a\x00b", "2026-01-01\x00", "x\x1f"]
HOSTILE = ["9999-12-31", "0001-01-01", *CONTROL]
#: Text that only an engine error or a traceback writes.
LEAKS = (
    "Traceback",
    "Parser Error",
    "Binder Error",
    "Catalog Error",
    "SELECT ",
    "duckdb",
    "object has no attribute",
    "could not be computed:",
)


def _params(dep: Dependant, kind: str) -> set[str]:
    """Names of a route's ``query`` or ``path`` parameters, its dependencies' included."""
    own = {p.alias for p in getattr(dep, f"{kind}_params")}
    return own.union(*(_params(d, kind) for d in dep.dependencies))


def _get_routes(app: FastAPI) -> list[tuple[str, APIRoute]]:
    return [(p, r) for p, r in app_routes(app) if "GET" in r.methods]


def _path(path: str, route: APIRoute, value: str = "won_revenue") -> str:
    for name in _params(route.dependant, "path"):
        path = path.replace("{" + name + "}", value)
    return path


def _cases(app: FastAPI) -> list[tuple[str, dict[str, str]]]:
    out: list[tuple[str, dict[str, str]]] = []
    for path, route in _get_routes(app):
        for name in sorted(_params(route.dependant, "query")):
            # a well-formed filter value is a (slow) real query: only refused values here
            values = CONTROL if name in FILTER_DIMS else HOSTILE
            out += [(_path(path, route), {name: v}) for v in values]
        if _params(route.dependant, "path"):
            out += [(_path(path, route, v), {}) for v in ("won%00", "%00", "x%1F")]
    return out


@pytest.mark.slow
def test_every_route_and_parameter_refuses_hostile_values(client: TestClient, app: FastAPI) -> None:
    cases = _cases(app)
    assert len(cases) > 100  # every route's every parameter
    problems = []
    for path, params in cases:
        r = client.get(path, params=params)
        if r.status_code >= 500 or any(x in r.text for x in LEAKS):
            problems.append((path, params, r.status_code, r.text[:200]))
    assert not problems, problems


@pytest.mark.parametrize(
    ("url", "status", "text"),
    [
        ("/api/pages/home?as_of=9999-12-31", 400, "as_of=9999-12-31 is out of range"),
        ("/pipeline?as_of=9999-12-31", 400, "as_of=9999-12-31 is out of range"),
        ("/explorer?kpi=won_revenue&by=rep&as_of=9999-12-31", 400, "out of range"),
        ("/api/kpis/won_revenue?team=a%00b", 400, "control character"),
        ("/pipeline?team=%00", 400, "control character"),
        ("/api/kpis/won_revenue?start=1899-12-31", 400, "start=1899-12-31 is out of range"),
    ],
)
def test_clear_4xx(client: TestClient, url: str, status: int, text: str) -> None:
    r = client.get(url)
    assert r.status_code == status
    assert text in r.text


def test_security_headers_on_every_response(client: TestClient) -> None:
    """One middleware sets them: pages, JSON, CSV, static files, docs, errors alike."""
    paths = ["/", "/api/health", "/api/kpis", "/api/kpis/won_deals/csv", "/static/app.js"]
    paths += ["/static/plotly/plotly.min.js", "/docs", "/openapi.json", "/nope", "/?team=%00"]
    paths += ["/api/kpis/nope", "/api/pages/home?as_of=9999-12-31", "/api/kpis?lang=xx"]
    for path in paths:
        r = client.get(path)
        for name, value in HEADERS.items():
            assert r.headers.get(name) == value, (path, name)
    csp = HEADERS["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp.split("style-src")[0]
    assert "frame-ancestors 'none'" in csp


def test_templates_have_no_inline_script() -> None:
    import re

    from salespulse.web import security, views

    folder = Path(views.__file__).parent / "templates"
    for f in folder.glob("*.html"):
        for tag in re.findall(r"<script[^>]*>", f.read_text()):
            assert "src=" in tag or 'type="application/json"' in tag, (f.name, tag)
        assert not re.search(r"<[^>]+\son\w+=", f.read_text()), f.name  # no onclick= etc.
    for tag in re.findall(r"<script[^>]*>", security.DOCS_HTML):
        assert "src=" in tag


@pytest.fixture(scope="module")
def broken_app(demo_db: str, tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    """A database whose stages lost a column: KPIs fail inside Ibis and the engine."""
    from salespulse.web.app import create_app

    path = tmp_path_factory.mktemp("broken") / "broken.duckdb"
    shutil.copy(demo_db, path)
    con = duckdb.connect(str(path))
    con.execute("ALTER TABLE deals RENAME COLUMN amount TO amount_gone")
    con.execute("ALTER TABLE deals ADD COLUMN amount DOUBLE")  # same schema, other data
    con.execute("ALTER TABLE deals DROP COLUMN amount_gone")
    con.execute("ALTER TABLE stages DROP COLUMN stage_order")
    con.close()
    app = create_app(path, Settings(), warm=False)
    app.state.test_tokens = add_users(app)
    return app


def _reasons(data: Any) -> list[str]:
    if isinstance(data, dict):
        out = [data["reason"]] if isinstance(data.get("reason"), str) else []
        return out + [r for v in data.values() for r in _reasons(v)]
    if isinstance(data, list):
        return [r for v in data for r in _reasons(v)]
    return []


@pytest.mark.slow
def test_engine_errors_stay_in_the_server_log(
    broken_app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    with make_client(broken_app) as c:
        reasons = []
        for path in (
            "/api/pages/pipeline",
            "/api/pages/stages",
            "/api/kpis/stage_entries?by=stage",
        ):
            r = c.get(path)
            assert r.status_code == 200, r.text
            assert not any(x in r.text for x in LEAKS), r.text[:500]
            reasons += _reasons(r.json())
        page = c.get("/stages")
        assert not any(x in page.text for x in LEAKS)
    assert HIDDEN in reasons
    assert "failure hidden from the client" in caplog.text  # the details: in the log


def test_outer_layers_answer_health_before_the_app_and_head_every_response() -> None:
    """web/security.py's layers around a stand-in app: health never reaches it, a header
    the app set is kept, and the server's own 500 page has the headers too."""
    from starlette.middleware.errors import ServerErrorMiddleware
    from starlette.responses import PlainTextResponse
    from starlette.types import Receive, Scope, Send

    from salespulse.web.security import outermost

    reached: list[tuple[str, str]] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        reached.append((scope["method"], scope["path"]))
        if scope["path"] == "/boom":
            raise RuntimeError("boom")
        framing = {"X-Frame-Options": "SAMEORIGIN"}
        await PlainTextResponse("page", headers=framing)(scope, receive, send)

    stack = outermost(ServerErrorMiddleware(inner), lambda: "v7")
    c = TestClient(stack, raise_server_exceptions=False)  # no lifespan: the stand-in has none
    with closing(c):
        health = c.get("/api/health")
        refused = c.get("/api/health?x=%00")
        assert not reached  # neither went past the outer layers
        posted = c.post("/api/health")
        page = c.get("/page")
        boom = c.get("/boom")
    assert health.status_code == 200
    assert health.content == b'{"status":"ok","data_version":"v7"}'  # FastAPI's JSON bytes
    assert health.headers["content-type"] == "application/json"
    assert refused.status_code == 400 and "control character" in refused.json()["detail"]
    assert reached == [("POST", "/api/health"), ("GET", "/page"), ("GET", "/boom")]
    assert posted.text == "page" and boom.status_code == 500
    for r in (health, refused, posted, page, boom):
        for name, value in HEADERS.items():
            own = name == "X-Frame-Options" and (r is posted or r is page)
            expected = "SAMEORIGIN" if own else value  # the app's own header is kept
            assert r.headers.get_list(name) == [expected], (r.request.url, name)


def test_health_is_the_routes_body_and_documented(client: TestClient, app: FastAPI) -> None:
    from salespulse.web import api

    assert client.get("/api/health").json() == {
        "status": "ok",
        "data_version": app.state.service.cache.peek_version(),
    }
    route = next(r for p, r in app_routes(app) if p == "/api/health")
    assert route.endpoint.__name__ == api.health.__name__ and route.methods == {"GET"}
    assert "get" in client.get("/openapi.json").json()["paths"]["/api/health"]
