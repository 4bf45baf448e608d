"""Hostile names in the data stay text: no script runs, no element is injected, CSV is inert.

Every name-like field of a demo company holds an attack (see ``hostile.py``); each page, the
explorer by every breakdown, the alerts and the CSV downloads are opened in Chromium.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from playwright.sync_api import Page

from salespulse.settings import Settings
from tests.web.conftest import add_users, browser_page, serving
from tests.web.hostile import PAYLOADS, make_hostile

pytestmark = [pytest.mark.xdist_group("web"), pytest.mark.slow]

FILTER = quote(f"{PAYLOADS[1]} channel1")
URLS = [
    "/",
    "/pipeline",
    "/activity",
    "/performance",
    "/stages",
    "/leaderboards",
    "/alerts",
    *(
        f"/explorer?kpi=won_revenue&by={by}"
        for by in ("rep", "team", "region", "product", "account", "industry", "channel")
    ),
    "/explorer?kpi=open_pipeline&by=stage",
    "/explorer?kpi=won_deals&grain=quarter&by=team",
    "/explorer?kpi=stage_transitions&by=from_stage,stage",
    f"/explorer?kpi=new_leads&by=channel&channel={FILTER}",
    f"/pipeline?channel={FILTER}&team={quote(PAYLOADS[0])}",
    f"/explorer?kpi={quote(PAYLOADS[0])}",
    f"/explorer?kpi=won_revenue&by={quote(PAYLOADS[1])}",
]

#: Elements and attributes an attack would leave in the document.
PROBE = """() => ({
  injected: [...document.querySelectorAll(
      'img, iframe, object, embed, svg[onload], [onerror], [onload], [onclick], '
      + 'a[href^="javascript"], svg a, svg b, svg i')].map(e => e.outerHTML.slice(0, 120)),
  scripts: [...document.scripts].filter(s => s.type !== 'application/json'
      && !(s.src && new URL(s.src).pathname.startsWith('/static/'))).map(s => s.outerHTML),
  text: document.body.innerText,
  svg: [...document.querySelectorAll('.main-svg text')].map(t => t.textContent).join('\\n'),
})"""


@pytest.fixture(scope="module")
def hostile_app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    from salespulse.web.app import create_app

    path = tmp_path_factory.mktemp("hostile") / "hostile.duckdb"
    make_hostile(path)
    app = create_app(path, Settings(), warm=False)
    app.state.test_tokens = add_users(app)
    return app


@pytest.fixture(scope="module")
def hostile_url(hostile_app: FastAPI) -> Iterator[str]:
    with serving(hostile_app) as url:
        yield url


@pytest.fixture
def page(chromium: Any, hostile_app: FastAPI, hostile_url: str) -> Iterator[Page]:
    """Logged in as the admin, who sees every record (and so every hostile name)."""
    pg = browser_page(chromium, hostile_app, hostile_url)
    yield pg
    pg.context.close()


def _open(page: Page, url: str) -> tuple[dict[str, Any], list[str]]:
    dialogs: list[str] = []

    def on_dialog(d: Any) -> None:
        dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", on_dialog)
    page.goto(url)
    page.wait_for_selector("body[data-charts-ready]", timeout=120_000)
    # hover every drawn bar/point once: hover labels render names too
    for el in page.locator(".chart .points path, .chart .heatmaplayer image").all()[:12]:
        el.hover(force=True)
    return page.evaluate(PROBE), dialogs


@pytest.mark.parametrize("path", URLS)
def test_no_script_runs_and_nothing_is_injected(page: Page, hostile_url: str, path: str) -> None:
    sep = "&" if "?" in path else "?"
    found, dialogs = _open(page, f"{hostile_url}{path}{sep}lang=en")
    assert not dialogs, dialogs
    assert not found["injected"], found["injected"]
    assert not found["scripts"], found["scripts"]


def test_names_are_shown_as_written(page: Page, hostile_url: str) -> None:
    """The payloads are displayed literally: in record tables and in chart labels."""
    found, _ = _open(page, f"{hostile_url}/explorer?kpi=won_revenue&by=team&lang=en")
    for p in PAYLOADS[:4]:  # the four teams
        assert p.strip() in found["svg"], p
    assert PAYLOADS[0] in found["text"]  # deal / rep names in the drill-down table
    found, _ = _open(page, f"{hostile_url}/leaderboards?lang=en")
    assert PAYLOADS[8] in found["text"]  # <b>…</b><a …> as text in the rep table
    assert PAYLOADS[1] in found["text"]


def _formula_cells(text: str) -> list[str]:
    bad = []
    for row in csv.reader(io.StringIO(text)):
        for cell in row:
            try:
                float(cell)
                continue
            except ValueError:
                pass
            if cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
                bad.append(cell)
    return bad


@pytest.mark.parametrize(
    "path",
    [
        "/api/kpis/won_revenue/records/csv",
        "/api/kpis/won_revenue/csv?by=rep",
        "/api/kpis/won_revenue/csv?by=account",
        "/api/kpis/open_pipeline/records/csv",
        "/api/kpis/unassigned_leads/records/csv",
        "/api/kpis/activities/records/csv",
    ],
)
def test_csv_downloads_are_inert(page: Page, hostile_url: str, path: str) -> None:
    r = page.request.get(f"{hostile_url}{path}")
    assert r.status == 200, r.text()
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"].startswith("attachment")
    text = r.text()
    assert not _formula_cells(text)
    assert any(p[0] in "=+-@\t" and "'" + p in text for p in PAYLOADS), text[:500]


def test_csv_download_in_the_browser(page: Page, hostile_url: str, tmp_path: Path) -> None:
    """The explorer's download link gives a file (not a page) whose cells are no formulas."""
    page.goto(f"{hostile_url}/explorer?kpi=won_revenue&by=rep&lang=en")
    page.wait_for_selector("body[data-charts-ready]", timeout=120_000)
    for link in ("#csv-result", "#csv-records"):
        with page.expect_download() as info:
            page.click(link)
        path = tmp_path / "x.csv"
        info.value.save_as(path)
        text = path.read_text(encoding="utf-8")
        assert text.count("\n") > 1
        assert not _formula_cells(text)
