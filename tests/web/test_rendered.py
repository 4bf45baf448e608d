"""Responses rendered once per data version (web/rendered.py): each user still gets their own
name and CSRF token, each scope its own records, and the JSON is the page data."""

from __future__ import annotations

import html

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from salespulse.services.filters import Filters, Period
from salespulse.web import rendered
from salespulse.web.auth import COOKIE
from tests.web.conftest import USERS, make_client

PAGE = "/pipeline?period=last_q&lang=en"


def _session(app: FastAPI, username: str) -> tuple[TestClient, str]:
    """A browser-like client with a session of ``username``; returns it and its CSRF token."""
    users = app.state.users
    secret, csrf = users.start_session(users.get(username))
    c = make_client(app, None)
    c.cookies.set(COOKIE, secret)
    return c, csrf


@pytest.mark.slow
def test_each_user_gets_their_own_name_and_csrf_token_from_the_kept_page(app: FastAPI) -> None:
    users = app.state.users
    if users.get("second.admin") is None:
        users.add("second.admin", "second-admin-password", "admin", None, ())
    one, csrf_one = _session(app, USERS["admin"][0])
    two, csrf_two = _session(app, "second.admin")
    first, second = one.get(PAGE), two.get(PAGE)
    assert first.status_code == second.status_code == 200
    kept = [
        v
        for v in app.state.service.cache._entries.values()
        if isinstance(v, bytes) and rendered.USER_MARK.encode() in v
    ]
    assert kept  # the page is kept rendered, with the marks in it
    for response, csrf, name in ((first, csrf_one, "admin"), (second, csrf_two, "second.admin")):
        text = response.text
        assert f'name="csrf" value="{csrf}"' in text
        assert f'id="user">{html.escape(name)} ·' in text
        assert rendered.USER_MARK not in text and rendered.CSRF_MARK not in text
    assert csrf_one not in second.text and csrf_two not in first.text
    # the same page otherwise
    same = first.text.replace(csrf_one, "T").replace('id="user">admin ·', 'id="user">U ·')
    other = second.text.replace(csrf_two, "T").replace('id="user">second.admin ·', 'id="user">U ·')
    assert same == other


@pytest.mark.slow
def test_a_rep_after_the_admin_gets_their_own_deal_tables(app: FastAPI) -> None:
    url = "/?period=last_fy&lang=en"
    admin, rep = make_client(app, "admin"), make_client(app, "rep")
    admin_page, rep_page = admin.get(url).text, rep.get(url).text  # the admin's is kept first

    admin_json = admin.get("/api/pages/home?period=last_fy").json()
    rep_json = rep.get("/api/pages/home?period=last_fy").json()
    everyone = {
        r["rep_name"] for t in admin_json["tables"] if t["key"] == "deal_id" for r in t["rows"]
    }
    theirs = {r["rep_name"] for t in rep_json["tables"] if t["key"] == "deal_id" for r in t["rows"]}
    assert len(everyone) > 1 and len(theirs) <= 1
    others = everyone - theirs
    deal_tables = [t["id"] for t in admin_json["tables"] if t["key"] == "deal_id"]

    def shown(page: str) -> str:  # the HTML of the page's deal tables
        return "".join(
            page.split(f'id="table-{tid}"', 1)[1].split("</section>", 1)[0] for tid in deal_tables
        )

    assert any(html.escape(n) in shown(admin_page) for n in others)
    assert not any(html.escape(n) in shown(rep_page) for n in others)


@pytest.mark.slow
def test_kept_json_is_the_page_data(app: FastAPI, client: TestClient) -> None:
    for _ in range(2):  # made, then kept
        got = client.get("/api/pages/stages?period=qtd")
        assert got.status_code == 200 and got.headers["content-type"] == "application/json"
    service = app.state.service
    want = service.page("stages", Filters(period=Period.qtd)).model_dump(mode="json")
    assert got.json() == want
