"""Chart content in a real browser: a click on a bar opens its records; legends and axis
labels stay clear of each other on a desktop and on a phone (Debian's Chromium)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from playwright.sync_api import Page, expect

from tests.web.conftest import browser_page

pytestmark = [pytest.mark.xdist_group("web"), pytest.mark.slow]

#: Bounding boxes of each chart's legend and axis tick labels (page coordinates).
OVERLAPS_JS = """
() => {
  const box = (n) => {
    const r = n.getBoundingClientRect();
    return [r.left, r.top, r.right, r.bottom];
  };
  const hit = (a, b) =>
    a[0] < b[2] - 1 && b[0] < a[2] - 1 && a[1] < b[3] - 1 && b[1] < a[3] - 1;
  const out = [];
  document.querySelectorAll('.chart[data-rendered]').forEach((el) => {
    const legend = el.querySelector('g.legend .bg');
    const labels = el.querySelectorAll(
      'g.xtick text, g.ytick text, g.g-xtitle text, g.g-ytitle text');
    if (!legend) return;
    const lb = box(legend);
    labels.forEach((t) => {
      if (t.textContent && hit(lb, box(t))) out.push(el.dataset.chart + ': ' + t.textContent);
    });
  });
  return out;
}
"""


@pytest.fixture
def phone(chromium: Any, app: FastAPI, live_url: str) -> Iterator[Page]:
    pg = browser_page(
        chromium,
        app,
        live_url,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
    )
    yield pg
    pg.context.close()


def test_a_click_on_a_bar_opens_its_records(page: Page, live_url: str) -> None:
    page.goto(f"{live_url}/pipeline?lang=en")
    page.wait_for_selector("body[data-charts-ready]", timeout=120_000)
    chart = page.locator('[data-chart="pipeline_by_stage"]')
    bar = chart.locator("g.point path").first
    bar.scroll_into_view_if_needed()
    box = bar.bounding_box()
    assert box is not None
    # the rep of that bar: the y-axis label level with it
    mid = box["y"] + box["height"] / 2
    ticks = [
        (t.bounding_box(), t.text_content() or "") for t in chart.locator("g.ytick text").all()
    ]
    rep = min((abs(b["y"] + b["height"] / 2 - mid), text) for b, text in ticks if b)[1]
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_url("**/explorer?**", timeout=120_000)
    assert "kpi=open_pipeline" in page.url and "stage=" in page.url
    rows = page.locator("#records tbody tr")
    expect(rows.first).to_be_visible()
    headers = page.locator("#records thead th").all_inner_texts()
    reps = page.locator(f"#records tbody td:nth-child({headers.index('Rep') + 1})")
    assert set(reps.all_inner_texts()) == {rep}
    expect(page.locator("#drill")).to_contain_text("Stage")
    expect(page.locator("#f-rep option:checked")).to_have_text(rep)


@pytest.mark.parametrize("path", ["/pipeline", "/activity", "/stages", "/"])
def test_legends_clear_of_axis_labels_on_a_desktop(page: Page, live_url: str, path: str) -> None:
    page.goto(f"{live_url}{path}?lang=nl")
    page.wait_for_selector("body[data-charts-ready]", timeout=120_000)
    assert page.evaluate(OVERLAPS_JS) == []


@pytest.mark.parametrize("path", ["/pipeline", "/activity", "/stages", "/"])
def test_legends_clear_of_axis_labels_on_a_phone(phone: Page, live_url: str, path: str) -> None:
    phone.goto(f"{live_url}{path}?lang=nl")
    phone.wait_for_selector("body[data-charts-ready]", timeout=120_000)
    assert phone.evaluate(OVERLAPS_JS) == []
    # nothing wider than the screen but the (scrollable) tables
    wide = phone.evaluate(
        "() => Array.from(document.querySelectorAll('.chart .main-svg'))"
        ".filter(s => s.getBoundingClientRect().right > window.innerWidth + 1).length"
    )
    assert wide == 0
