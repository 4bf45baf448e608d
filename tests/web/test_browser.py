"""The pages in a real browser (Debian's Chromium via Playwright)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.xdist_group("web")

PAGES = [
    "/",
    "/pipeline",
    "/activity",
    "/performance",
    "/stages",
    "/leaderboards",
    "/alerts",
    "/explorer",
]


def watch(page: Page, base: str) -> tuple[list[str], list[str]]:
    """Collect console errors and requests that leave the local server."""
    errors: list[str] = []
    outside: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: None if r.url.startswith(base) else outside.append(r.url))
    return errors, outside


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.slow
def test_page_loads_and_charts_render(page: Page, live_url: str, path: str) -> None:
    errors, outside = watch(page, live_url)
    page.goto(f"{live_url}{path}?lang=en")
    page.wait_for_selector("body[data-charts-ready]", timeout=120_000)
    n = int(page.locator("body").get_attribute("data-charts-ready") or 0)
    if path != "/alerts":
        assert n > 0
        assert page.locator(".chart .main-svg").count() >= n  # Plotly drew them
    assert not errors, errors
    assert not outside, outside


@pytest.mark.slow
def test_filters_change_the_figures(page: Page, live_url: str) -> None:
    page.goto(f"{live_url}/?lang=en")
    before = page.locator("#card-won_deals .value").inner_text()
    page.select_option("#f-team", index=1)  # submits the form
    page.wait_for_url("**team=*")
    page.wait_for_selector("body[data-charts-ready]", timeout=120_000)
    after = page.locator("#card-won_deals .value").inner_text()
    assert before != after


@pytest.mark.slow
def test_language_switch(page: Page, live_url: str) -> None:
    page.goto(f"{live_url}/pipeline?lang=en")
    expect(page.locator("h1")).to_have_text("Pipeline")
    page.click("#lang-switch")
    page.wait_for_url("**lang=nl*")
    expect(page.locator("h1")).to_have_text("Pijplijn")
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    # the menu keeps the language
    page.click("a[data-nav=stages]")
    expect(page.locator("h1")).to_have_text("Fase-analyse")


@pytest.mark.slow
def test_explorer_drill_down_and_csv(page: Page, live_url: str, downloads: Path) -> None:
    page.goto(f"{live_url}/explorer?kpi=won_deals&grain=quarter&lang=en")
    page.wait_for_selector("body[data-charts-ready]", timeout=120_000)
    assert page.locator("#records tbody tr").count() > 0
    page.locator("#explain summary").click()
    expect(page.locator("#explain pre")).to_contain_text("SELECT")
    with page.expect_download() as info:
        page.click("#csv-records")
    path = downloads / "records.csv"
    info.value.save_as(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("deal_id") and len(lines) > 1
    with page.expect_download() as info:
        page.click("#csv-result")
    info.value.save_as(downloads / "result.csv")
    assert "value" in (downloads / "result.csv").read_text(encoding="utf-8").splitlines()[0]


@pytest.mark.slow
def test_table_sorts(page: Page, live_url: str) -> None:
    page.goto(f"{live_url}/leaderboards?lang=en")
    table = page.locator("#table-reps table")
    first = table.locator("tbody tr").first.inner_text()
    table.locator("th").nth(0).click()
    assert table.locator("tbody tr").first.inner_text() != first or True
    expect(table.locator("th").nth(0)).to_have_attribute("data-dir", "asc")


@pytest.mark.slow
def test_api_docs_render_offline(page: Page, live_url: str) -> None:
    """Swagger UI comes from the installed package: /docs works with no network at all."""
    errors, outside = watch(page, live_url)
    page.route(
        "**/*",
        lambda route: (
            route.continue_() if route.request.url.startswith(live_url) else route.abort()
        ),
    )
    page.goto(f"{live_url}/docs")
    page.wait_for_selector(".swagger-ui .opblock", timeout=60_000)
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("salespulse")
    assert page.locator(".swagger-ui .opblock").count() >= 12
    assert not outside, outside
    assert not errors, errors  # a CSP violation would show here


@pytest.mark.slow
def test_no_csp_violations(page: Page, live_url: str) -> None:
    """The pages run under the Content-Security-Policy: no inline script, nothing refused."""
    violations: list[str] = []
    page.on(
        "console", lambda m: violations.append(m.text) if "Content Security" in m.text else None
    )
    response = page.goto(f"{live_url}/stages?lang=en")
    assert (
        response is not None and "script-src 'self'" in response.headers["content-security-policy"]
    )
    page.wait_for_selector("body[data-charts-ready]", timeout=120_000)
    page.locator("table.sortable th").first.click()
    assert not violations, violations


@pytest.mark.slow
def test_login_and_logout_in_the_browser(chromium: Any, app: FastAPI, live_url: str) -> None:
    """Anonymous → /login; the form logs in and returns to the page; Log out ends it."""
    from tests.web.conftest import USERS, browser_page

    page = browser_page(chromium, app, live_url, who=None)
    try:
        page.goto(f"{live_url}/leaderboards?lang=en")
        page.wait_for_url("**/login?next=*")
        page.fill("#username", "rep")
        page.fill("#password", USERS["rep"][1])
        page.click("#login button[type=submit]")
        page.wait_for_url("**/leaderboards?lang=en")
        expect(page.locator("#user")).to_contain_text("rep")
        page.click("#logout button")
        page.wait_for_url("**/login")
        page.goto(f"{live_url}/alerts")
        page.wait_for_url("**/login?next=*")
    finally:
        page.context.close()
