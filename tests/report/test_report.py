"""The monthly report: its figures against the KPI engine, PDF text, offline HTML, no-data."""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from salespulse import i18n
from salespulse.cli.app import main
from salespulse.report.build import Report, build, forecast_range, parse_month
from salespulse.report.pdf import html_to_pdf
from salespulse.report.render import render_html
from salespulse.semantic.catalogue import get_kpi
from salespulse.semantic.kpi import Kind
from salespulse.semantic.query import Query, run
from salespulse.services.filters import Filters, Period
from salespulse.services.service import Service
from salespulse.settings import Settings
from salespulse.warehouse.store import connect
from tests.report.conftest import EMPTY_MONTH, MONTH

pytestmark = pytest.mark.xdist_group("report")
OCT_END = date(2026, 10, 31)


def kpi(db: str, kpi_id: str, **q: Any) -> Any:
    """One value straight from the KPI engine (no page layer in between)."""
    store = connect(db, create=False)
    try:
        frame = run(store, Query.make(kpi_id, **q), Settings()).frame
    finally:
        store.close()
    return frame


def one(db: str, kpi_id: str, **q: Any) -> Any:
    return kpi(db, kpi_id, **q)["value"].iloc[0]


def pdf_text(path: Path) -> str:
    text = "\n".join(p.extract_text() or "" for p in PdfReader(path).pages)
    return re.sub(r"\s+", " ", text)


@pytest.fixture(scope="module")
def pdf_en(built: Report, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pdf") / "r.pdf"
    return html_to_pdf(render_html(built, "en"), out)


@pytest.mark.slow
def test_pdf_holds_the_kpi_engines_figures(demo_db: str, pdf_en: Path) -> None:
    text = pdf_text(pdf_en)
    month = {"start": MONTH, "end": OCT_END, "as_of": OCT_END}
    won = one(demo_db, "won_revenue", **month)
    deals = one(demo_db, "won_deals", **month)
    win_rate = one(demo_db, "win_rate", **month)
    leads = one(demo_db, "new_leads", **month)
    open_deals = one(demo_db, "open_deals", as_of=OCT_END)
    assert deals > 0 and leads > 0
    assert f"Won revenue {i18n.money(won, 'en', compact=True)}" in text
    assert f"Won deals {i18n.number(deals, 'en')}" in text
    assert f"Win rate {i18n.percent(win_rate, 'en')}" in text
    assert f"New leads {i18n.number(leads, 'en')}" in text
    assert f"Open deals {i18n.number(open_deals, 'en')}" in text
    # won vs target, quarter to date (Q4 starts in October)
    q = kpi(demo_db, "won_revenue", start=MONTH, end=OCT_END, as_of=OCT_END)
    target, attainment = q["target"].iloc[0], q["attainment"].iloc[0]
    assert (
        f"{i18n.money(won, 'en', True)} of {i18n.money(target, 'en', True)} target "
        f"({i18n.percent(attainment, 'en', 0)})" in text
    )
    # structure: summary first, every theme, the appendix, page numbers
    assert text.index("Summary") < text.index("Pipeline") < text.index("Appendix")
    for title in ("Team activity", "Stage analysis", "Leaderboards", "Business performance"):
        assert title in text
    pages = len(PdfReader(pdf_en).pages)
    assert pages >= 5
    assert f"1 / {pages}" in text and f"{pages} / {pages}" in text
    # the quarter's range: won so far + the forecast page's P10-P90 for the rest
    store = connect(demo_db, create=False)
    try:
        f = Filters(period=Period.custom, start=MONTH, end=date(2026, 12, 31), as_of=OCT_END)
        rest = forecast_range(Service(store, Settings()), f, MONTH, date(2026, 12, 31))
    finally:
        store.close()
    assert rest is not None and rest[0] < rest[1]
    low, high = (i18n.money(won + x, "en", compact=True) for x in rest)
    assert "Forecast for Oct–Dec 2026" in text and f"{low} – {high}" in text


@pytest.mark.slow
def test_cli_writes_a_team_pdf_in_dutch(demo_db: str, tmp_path: Path) -> None:
    out = tmp_path / "team.pdf"
    code = main(["report", "--month", "2026-10", "--team", "T01", "--lang", "nl",
                 "--out", str(out), "--db", demo_db])  # fmt: skip
    assert code == 0 and out.read_bytes().startswith(b"%PDF")
    text = pdf_text(out)
    month = {"start": MONTH, "end": OCT_END, "as_of": OCT_END}
    team = kpi(demo_db, "won_revenue", by="team", where={"team": "T01"}, **month)
    deals = one(demo_db, "won_deals", where={"team": "T01"}, **month)
    company = one(demo_db, "won_deals", **month)
    assert deals != company  # the team filter matters
    assert "Verkooprapport okt 2026 — Team Noord" in text
    assert f"Gewonnen deals {i18n.number(deals, 'nl')}" in text
    won, target = team["value"].iloc[0], team["target"].iloc[0]
    assert f"{i18n.money(won, 'nl', True)} van {i18n.money(target, 'nl', True)} doel" in text
    assert "Bijlage: definities" in text


@pytest.mark.slow
def test_html_is_self_contained(built: Report) -> None:
    for lang in ("en", "nl"):
        html = render_html(built, lang)
        assert "http://" not in html and "https://" not in html
        assert not re.search(r"""\b(src|href)\s*=""", html), "no file or network references"
        assert "<link" not in html and "url(" not in html and "@import" not in html
        assert html.count("<svg") >= 15


@pytest.mark.slow
def test_html_opens_in_chromium_without_network(
    built: Report, tmp_path: Path, chromium: Any
) -> None:
    path = tmp_path / "report.html"
    path.write_text(render_html(built, "nl"), encoding="utf-8")
    context = chromium.new_context(offline=True)
    page = context.new_page()
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
               else route.abort())  # fmt: skip
    page.goto(path.as_uri())
    assert requests == [path.as_uri()]
    assert not errors
    assert page.locator("svg").count() >= 15
    box = page.locator("#fig-pipeline-stuck svg").bounding_box()
    assert box and box["width"] > 200 and box["height"] > 60  # drawn, not an empty frame
    assert page.locator("h1").inner_text().startswith("Verkooprapport okt 2026")
    context.close()


@pytest.mark.slow
def test_month_without_data_says_so(demo_db: str, tmp_path: Path) -> None:
    store = connect(demo_db, create=False)
    try:
        report = build(Service(store, Settings()), EMPTY_MONTH)
    finally:
        store.close()
    assert not report.has_data
    for lang, phrase in (("en", "No data for this month"), ("nl", "Geen gegevens")):
        html = render_html(report, lang)
        assert phrase in html
        assert "€0" not in html and "€ 0" not in html and 'class="card"' not in html
    assert "The data covers" in render_html(report, "en")


@pytest.mark.slow
def test_cli_report_for_an_empty_month_and_bad_input(demo_db: str, tmp_path: Path) -> None:
    out = tmp_path / "empty.pdf"
    assert main(["report", "--month", "2020-01", "--out", str(out), "--db", demo_db]) == 0
    assert "No data for this month" in pdf_text(out)
    assert main(["report", "--month", "2026-13", "--out", str(out), "--db", demo_db]) == 2
    assert main(["report", "--month", "2026-10", "--out", "r.docx", "--db", demo_db]) == 2
    assert main(["report", "--month", "2026-10", "--team", "T99", "--out", str(out),
                 "--db", demo_db]) == 2  # fmt: skip


@pytest.mark.slow
def test_hostile_names_are_inert(built: Report) -> None:
    evil = '<script>alert("x")</script>'
    sec = built.sections[0]
    data = sec.data.model_copy(deep=True)
    data.figures[0].layers[0].rows[0]["rep_name"] = evil
    data.tables[0].rows[0]["rep_name"] = evil
    report = replace(
        built,
        scope={"team": evil},
        sections=[replace(sec, data=data, figures=data.figures), *built.sections[1:]],
    )
    html = render_html(report, "en")
    assert "<script" not in html
    assert "&lt;script&gt;" in html


@pytest.mark.slow
def test_captions_are_written_from_the_numbers(built: Report) -> None:
    """The caption names the highest category of the chart with its value."""
    sec = next(s for s in built.sections if s.key == "performance")
    fig = next(f for f in sec.figures if f.id == "won_by_product")
    rows = [r for r in fig.layers[0].rows if r["value"] is not None]
    top = max(rows, key=lambda r: r["value"])
    html = render_html(built, "en")
    caption = html.split('id="fig-performance-won_by_product"')[1].split("</figure>")[0]
    assert f"Highest: {top['product_name']} ({i18n.money(top['value'], 'en', True)})" in caption
    nl = render_html(built, "nl").split('id="fig-performance-won_by_product"')[1]
    assert f"Hoogste: {top['product_name']} ({i18n.money(top['value'], 'nl', True)})" in nl


@pytest.mark.slow
def test_biggest_changes_compare_with_last_month(demo_db: str, built: Report) -> None:
    assert len(built.changes) == 3
    sept = {"start": date(2026, 9, 1), "end": date(2026, 9, 30), "as_of": date(2026, 9, 30)}
    for ch in built.changes:
        snapshot = get_kpi(ch.kpi).kind is Kind.snapshot
        got = kpi(demo_db, ch.kpi, **({"as_of": sept["as_of"]} if snapshot else sept))
        assert ch.before == pytest.approx(got["value"].iloc[0])
    rel = [abs(c.relative) for c in built.changes]
    assert rel == sorted(rel, reverse=True)


def test_parse_month() -> None:
    assert parse_month("2026-11") == date(2026, 11, 1)
    for bad in ("2026-13", "11-2026x", "nov"):
        with pytest.raises(Exception, match="not a month"):
            parse_month(bad)


@pytest.mark.slow
def test_pdftotext_reads_the_pdf_too(pdf_en: Path) -> None:
    """poppler-utils (scripts/system-deps.sh) extracts the same text; pdftoppm renders it."""
    out = subprocess.run(["pdftotext", str(pdf_en), "-"], capture_output=True, text=True)
    assert out.returncode == 0 and "Sales report Oct 2026" in out.stdout
