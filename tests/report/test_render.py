"""Rendering without a database: a hand-made report with hostile names and known numbers."""

from __future__ import annotations

import re
from datetime import date

import pytest

from salespulse.report.build import Change, Forecast, Report, Section, Versus, biggest_changes
from salespulse.report.render import css_string, render_html
from salespulse.report.svg import render
from salespulse.services.models import Card, Column, Figure, Layer, PageData, Ref, Table

EVIL = '<script>alert("x")</script>'


def layer(kpi: str, unit: str, rows: list[dict[str, object]], **kw: object) -> Layer:
    return Layer(kpi=kpi, name_en=kpi.title(), name_nl=kpi.upper(), unit=unit, rows=rows, **kw)


def sample() -> Report:
    quota = layer(
        "quota_attainment",
        "ratio",
        [
            {"rep": "R1", "rep_name": EVIL, "value": 1.25},
            {"rep": "R2", "rep_name": "Anna de Vries", "value": 0.5},
            {"rep": "R3", "rep_name": "Bob", "value": None},
        ],
    )
    fig = Figure(
        id="quota_board",
        title_en="Quota attainment",
        title_nl="Quotarealisatie",
        chart="hbar",
        unit="ratio",
        x="rep_name",
        layers=[quota],
        refs=[Ref(value=1.0, label_en="Quota (100%)", label_nl="Quotum (100%)")],
    )
    table = Table(
        id="reps",
        title_en="Per rep",
        title_nl="Per verkoper",
        columns=[
            Column(id="rep_name", title_en="Rep", title_nl="Verkoper"),
            Column(id="won_revenue", title_en="Won", title_nl="Gewonnen", unit="EUR"),
        ],
        rows=[{"rep_name": EVIL, "won_revenue": 1234567.0}],
    )
    won = layer("won_revenue", "EUR", [{"value": 2_500_000.0, "target": 2e6}])
    data = PageData(
        page="leaderboards",
        window={"start": "2026-10-01", "end": "2026-11-30", "as_of": "2026-11-30"},
        filters={},
        data_version="x",
        cards=[Card(id="won_revenue", layer=won, value=2.5e6, target=2e6, attainment=1.25)],
        figures=[fig],
        tables=[table],
    )
    d = date(2026, 11, 30)
    return Report(
        month=date(2026, 11, 1),
        start=date(2026, 11, 1),
        end=d,
        as_of=d,
        partial=False,
        has_data=True,
        data_first=date(2024, 1, 1),
        data_last=d,
        scope={"team": EVIL},
        cards=data.cards,
        won_month=Versus(date(2026, 11, 1), d, 1e6, None, None),
        won_qtd=Versus(date(2026, 10, 1), d, 2.5e6, 2e6, 1.25),
        won_fytd=Versus(date(2026, 1, 1), d, 9e6, 1e7, 0.9),
        forecast=Forecast(date(2026, 10, 1), date(2026, 12, 31), 2.5e6, 1e6, 4e6),
        changes=[Change("win_rate", "Win rate", "Winratio", "ratio", True, 0.5, 0.4)],
        sections=[Section("leaderboards", "qtd", data, [fig])],
        kpis=["won_revenue", "quota_attainment"],
    )


def test_html_is_self_contained_and_hostile_text_inert() -> None:
    for lang in ("en", "nl"):
        html = render_html(sample(), lang)
        assert "<script" not in html and "&lt;script&gt;" in html
        assert "http://" not in html and "https://" not in html
        assert not re.search(r"\b(src|href)\s*=", html) and "<link" not in html
        assert "<svg" in html


def test_sentences_and_formats_follow_the_language() -> None:
    en, nl = render_html(sample(), "en"), render_html(sample(), "nl")
    assert "€2.5M of €2.0M target (125%)" in en
    assert "€ 2,5 mln van € 2,0 mln doel (125%)" in nl
    assert "Win rate fell 10.0 points, from 50.0% to 40.0%." in en
    assert "Winratio daalde 10,0 procentpunt, van 50,0% naar 40,0%." in nl
    assert "€3.5M expected for Oct–Dec 2026" in en and "range is not available yet" in en
    assert "88% of the €4.0M target" in en
    # the chart's caption: highest, lowest, the reference line, the rep without a value
    assert "lowest: Anna de Vries (50.0%)" in en
    assert "1 of 2 at or above the reference line (Quota (100%))" in en
    assert "1 more without a value" in en
    assert "€1,234,567" in en and "€ 1.234.567" in nl


def test_forecast_range_drops_in() -> None:
    r = sample()
    assert r.forecast is not None
    r.forecast.low, r.forecast.high = 3e6, 4.2e6
    html = render_html(r, "en")
    assert "(range €3.0M – €4.2M)" in html and "P10–P90" in html


def test_money_is_in_the_reports_currency() -> None:
    from dataclasses import replace

    usd = render_html(replace(sample(), currency="USD"), "en")
    assert "$2.5M of $2.0M target (125%)" in usd and "€" not in usd


def test_svg_escapes_and_sorts() -> None:
    svg, chart = render(sample().sections[0].figures[0], "en")
    assert svg is not None and "<script" not in svg
    assert chart.categories[0] == EVIL and chart.missing == 1  # sorted by value, None dropped


def test_css_string_cannot_break_out() -> None:
    s = css_string('a"; } </style><script>')
    assert '"' not in s[1:-1] and "<" not in s and "}" not in s


@pytest.mark.parametrize(
    ("before", "after", "kept"),
    [(10.0, 20.0, True), (0.0, 5.0, False), (None, 5.0, False), (5.0, 5.0, False)],
)
def test_biggest_changes_skip_what_cannot_be_compared(
    before: float | None, after: float, kept: bool
) -> None:
    lay = layer("won_deals", "count", [])
    now = {"won_deals": Card(id="won_deals", layer=lay, value=after)}
    old = {"won_deals": Card(id="won_deals", layer=lay, value=before)}
    assert bool(biggest_changes(now, old)) is kept


def test_caption_when_every_category_has_the_same_value() -> None:
    from salespulse.report.svg import reduce
    from salespulse.report.text import caption

    fig = sample().sections[0].figures[0]
    for row in fig.layers[0].rows:
        row["value"] = 0.0
    assert caption(reduce(fig, "en"), "en").startswith("All 3 at 0.0%.")
