"""The reports page of the web app: months with data, downloads as HTML and PDF."""

from __future__ import annotations

import html
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from salespulse.settings import Settings

pytestmark = pytest.mark.xdist_group("report")


@pytest.fixture(scope="module")
def client(demo_db: str) -> Iterator[TestClient]:
    from salespulse.web.app import create_app
    from tests.web.conftest import add_users, make_client

    app = create_app(demo_db, Settings(), warm=False)
    app.state.test_tokens = add_users(app)
    with make_client(app, "admin") as c:
        yield c


@pytest.mark.slow
def test_reports_page_lists_the_months_with_data(client: TestClient, demo_db: str) -> None:
    from salespulse.warehouse.store import connect, date_ranges

    store = connect(demo_db, create=False)
    try:
        first = min(date_ranges(store)[t][0] for t in ("leads", "deals", "activities"))
    finally:
        store.close()
    before = (first.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    r = client.get("/reports?lang=nl")
    assert r.status_code == 200
    html = r.text
    assert "Maandrapporten" in html and 'data-nav="reports"' in html
    assert 'href="/reports/2026-11.pdf?lang=nl"' in html
    assert f'href="/reports/{first:%Y-%m}.html?lang=nl"' in html  # the data's first month
    assert f"/reports/{before}." not in html and "/reports/2026-12." not in html
    assert html.index("nov 2026") < html.index("okt 2026")  # newest first


@pytest.mark.slow
def test_download_html_and_pdf(client: TestClient) -> None:
    r = client.get("/reports/2020-01.html?lang=en")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert 'filename="salespulse-report-2020-01-en.html"' in r.headers["content-disposition"]
    assert "No data for this month" in r.text
    r = client.get("/reports/2020-01.pdf?lang=nl")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF")


def test_bad_month_and_format(client: TestClient) -> None:
    assert client.get("/reports/2026-13.pdf").status_code == 400
    assert client.get("/reports/2026-11.docx").status_code == 404


@pytest.mark.slow
def test_a_reps_report_holds_only_their_deals_whoever_asked_first(client: TestClient) -> None:
    """The report is built with the access rule applied, so it is cached per scope: the
    admin's (built first) must not be what a rep then downloads."""
    from tests.web.conftest import USERS, make_client

    page = client.get("/api/pages/home?start=2026-10-01&end=2026-10-31").json()
    top = next(t for t in page["tables"] if t["id"] == "top_won")["rows"]
    rep_name = client.get("/api/filters").json()["rep"]
    mine = next(o["label"] for o in rep_name if o["value"] == USERS["rep"][3])
    admin = client.get("/reports/2026-10.html?lang=en").text
    others = [n for r in top if r["rep_name"] != mine and (n := html.escape(r["name"])) in admin]
    assert len(others) >= 3, "the admin's report lists other reps' top won deals"
    with make_client(client.app, "rep") as rep:  # type: ignore[arg-type]
        theirs = rep.get("/reports/2026-10.html?lang=en")
    assert theirs.status_code == 200
    assert not any(name in theirs.text for name in others)
