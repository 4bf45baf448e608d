"""Login, CSRF, throttling and the role matrix over every route of the app.

The matrix enumerates ``app.routes`` (included routers too), so a new route is covered
without touching this file: public routes answer everyone; every other route sends an
anonymous browser to /login (API: 401) and answers each role as the access rule says.
"""

from __future__ import annotations

import re
import time
from contextlib import closing
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from salespulse.auth import audit
from salespulse.auth.users import Throttle
from salespulse.web.auth import COOKIE
from tests.web.conftest import USERS, app_routes, make_client

pytestmark = pytest.mark.xdist_group("web")

#: Routes anyone may call.
PUBLIC = {"/login", "/docs", "/api/health", "/favicon.ico"}
#: Routes only an admin may call (none of the GET routes yet; keep the rule here).
ADMIN_ONLY: set[str] = set()
ROLES = ["rep", "manager", "boss", "admin"]
REP_ID, TEAM = USERS["rep"][3], USERS["manager"][4][0]
# Clients of the shared app are closed with ``closing``, not ``with TestClient(app)``: that
# would run the app's lifespan, whose end shuts the page cache down for every later test.


#: An example value per path parameter (any other parameter is a KPI id).
EXAMPLES = {"month": "2025-06", "fmt": "html"}


def _url(path: str, route: APIRoute) -> str:
    return re.sub(r"\{([^}]+)\}", lambda m: EXAMPLES.get(m[1], "won_deals"), path)


def _expected(path: str, who: str | None) -> int:
    if path in PUBLIC:
        return 200
    if who is None:
        return 401 if path.startswith("/api/") else 303
    if path in ADMIN_ONLY and who != "admin":
        return 403
    return 200


@pytest.fixture(scope="module")
def clients(app: FastAPI) -> dict[str | None, TestClient]:
    return {who: make_client(app, who) for who in [None, *ROLES]}


@pytest.mark.slow
def test_role_matrix_over_every_route(app: FastAPI, clients: dict[Any, TestClient]) -> None:
    routes = [(p, r) for p, r in app_routes(app) if "GET" in r.methods]
    assert len(routes) >= 20
    wrong = []
    for path, route in routes:
        for who in [None, *ROLES]:
            r = clients[who].get(_url(path, route))
            if r.status_code != _expected(path, who):
                wrong.append((path, who, r.status_code, r.text[:100]))
            if who is None and r.status_code == 303:
                assert r.headers["location"].startswith("/login?next=")
    assert not wrong, wrong


def test_state_changing_routes_need_a_login(app: FastAPI, clients: dict[Any, TestClient]) -> None:
    posts = [p for p, r in app_routes(app) if r.methods & {"POST", "PUT", "PATCH", "DELETE"}]
    assert "/logout" in posts
    for path in posts:
        if path == "/login":
            continue
        r = clients[None].post(path)
        assert r.status_code in (401, 403), (path, r.status_code)


def _rep_ids(rows: list[dict[str, Any]]) -> set[Any]:
    return {r.get("rep_id", r.get("owner_rep_id")) for r in rows}


@pytest.mark.parametrize("kpi", ["won_deals", "open_pipeline", "activities", "new_leads"])
@pytest.mark.slow
def test_a_rep_sees_only_their_records(clients: dict[Any, TestClient], kpi: str) -> None:
    everyone = clients["admin"].get(f"/api/kpis/{kpi}/records?limit=5000").json()["rows"]
    assert len(_rep_ids(everyone)) > 3
    mine = clients["rep"].get(f"/api/kpis/{kpi}/records?limit=5000").json()["rows"]
    assert mine and _rep_ids(mine) == {REP_ID}
    if len(everyone) < 5000:  # the admin's list is complete: the rep's rows are all there
        assert len(mine) == sum(1 for r in everyone if REP_ID in _rep_ids([r]))
    csv = clients["rep"].get(f"/api/kpis/{kpi}/records/csv").text.splitlines()
    col = csv[0].split(",").index("rep_id" if "rep_id" in csv[0].split(",") else "owner_rep_id")
    assert {line.split(",")[col] for line in csv[1:]} == {REP_ID}
    team = clients["manager"].get(f"/api/kpis/{kpi}/records?limit=5000").json()["rows"]
    assert team and {r["team_id"] for r in team if "team_id" in r} <= {TEAM}
    assert len(clients["boss"].get(f"/api/kpis/{kpi}/records?limit=5000").json()["rows"]) == len(
        everyone
    )


@pytest.mark.slow
def test_a_rep_sees_only_their_alerts_and_deal_tables(clients: dict[Any, TestClient]) -> None:
    alerts = clients["rep"].get("/api/pages/alerts").json()["alerts"]
    for a in alerts:
        assert _rep_ids(a["records"]) <= {REP_ID}, a["kind"]
        assert a["count"] == len(a["records"])
    assert sum(a["count"] for a in alerts) < sum(
        a["count"] for a in clients["admin"].get("/api/pages/alerts").json()["alerts"]
    )
    home = clients["rep"].get("/api/pages/home").json()
    deal_tables = [t for t in home["tables"] if t["key"] == "deal_id"]
    assert deal_tables
    names = {r["rep_name"] for t in deal_tables for r in t["rows"]}
    assert len(names) <= 1  # only their own name (or no deal of theirs)
    admin_home = clients["admin"].get("/api/pages/home").json()
    admin_names = {
        r["rep_name"] for t in admin_home["tables"] if t["key"] == "deal_id" for r in t["rows"]
    }
    assert len(admin_names) > 1
    # leaderboards (aggregates) stay visible to a rep
    board = clients["rep"].get("/api/pages/leaderboards").json()
    reps_table = next(t for t in board["tables"] if t["id"] == "reps")
    assert len(reps_table["rows"]) > 3


def test_a_rep_explorer_drill_down_is_theirs(clients: dict[Any, TestClient]) -> None:
    def rep_column(who: str) -> set[str]:
        html = clients[who].get("/explorer?kpi=won_deals&lang=en").text
        table = html.split('id="records"', 1)[1].split("</table>", 1)[0]
        heads = re.findall(r"<th[^>]*>([^<]*)</th>", table)
        col = heads.index("Rep")
        rows = re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>", 1)[1], re.S)
        return {re.findall(r"<td[^>]*>([^<]*)</td>", row)[col] for row in rows}

    mine, everyone = rep_column("rep"), rep_column("admin")
    assert len(mine) == 1 and len(everyone) > 3


# -- login, logout, CSRF, throttle --------------------------------------------------------
def _login(c: TestClient, user: str, password: str) -> Any:
    form = c.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token
    return c.post(
        "/login",
        data={"username": user, "password": password, "csrf": token[1], "next": "/alerts"},
    )


def test_login_logout_with_csrf(app: FastAPI) -> None:
    with closing(TestClient(app, follow_redirects=False)) as c:
        r = _login(c, "rep", USERS["rep"][1])
        assert r.status_code == 303 and r.headers["location"] == "/alerts"
        cookie = r.headers["set-cookie"]
        assert COOKIE in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
        page = c.get("/alerts?lang=en")
        assert page.status_code == 200 and 'id="user"' in page.text
        assert c.post("/logout").status_code == 403  # no CSRF token
        assert c.post("/logout", data={"csrf": "wrong"}).status_code == 403
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf
        assert c.post("/logout", data={"csrf": csrf[1]}).status_code == 303
        assert c.get("/alerts").status_code == 303  # the session is gone
    with closing(TestClient(app, follow_redirects=False)) as c:  # login without the form's token
        r = c.post("/login", data={"username": "rep", "password": USERS["rep"][1]})
        assert r.status_code == 403


def test_wrong_password_and_open_redirect(app: FastAPI) -> None:
    with closing(TestClient(app, follow_redirects=False)) as c:
        assert _login(c, "rep", "not-the-password").status_code == 401
        assert _login(c, "nobody", "whatever-password").status_code == 401
        form = c.get("/login?next=https://evil.example/")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token
        r = c.post(
            "/login",
            data={
                "username": "admin",
                "password": USERS["admin"][1],
                "csrf": token[1],
                "next": "//evil.example/",
            },
        )
        assert r.status_code == 303 and r.headers["location"] == "/"


@pytest.mark.slow
def test_login_is_rate_limited(app: FastAPI) -> None:
    users = app.state.users
    saved, users.throttle = users.throttle, Throttle(max_failures=5, lockout=1.5)
    try:
        with closing(TestClient(app, follow_redirects=False)) as c:
            for _ in range(5):
                assert _login(c, "boss", "wrong-password").status_code == 401
            r = _login(c, "boss", USERS["boss"][1])  # right, but locked out
            assert r.status_code == 429 and "too many failed logins" in r.text
            assert _login(c, "admin", USERS["admin"][1]).status_code == 303  # others: fine
            time.sleep(1.6)
            assert _login(c, "boss", USERS["boss"][1]).status_code == 303
    finally:
        users.throttle = saved
    events = [e["event"] for e in audit.entries(users.store, 50)]
    assert {"login.failure", "login.locked", "login.success"} <= set(events)


def test_revoked_token_is_refused(app: FastAPI) -> None:
    users = app.state.users
    token_id, token = users.create_token("rep", "to revoke")
    with closing(TestClient(app)) as c:
        c.headers["Authorization"] = f"Bearer {token}"
        assert c.get("/api/kpis").status_code == 200
        users.revoke_token(token_id)
        assert c.get("/api/kpis").status_code == 401
        c.headers["Authorization"] = "Bearer sp_made_up"
        assert c.get("/api/kpis").status_code == 401
