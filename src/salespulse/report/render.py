"""The report as one self-contained HTML file (inline CSS, inline SVG charts, no links out).

The HTML is the report: it is mailed as is, opened offline, and printed to PDF by Chromium
(:mod:`salespulse.report.pdf`). Page size, margins and page numbers come from CSS ``@page``
rules (margin boxes), so the PDF needs no header/footer templates.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from salespulse import __version__, i18n
from salespulse.report import svg, text
from salespulse.report.build import Report, Section
from salespulse.semantic.catalogue import get_kpi
from salespulse.services.models import Card, Figure, Table

HERE = Path(__file__).parent
_env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
#: Rows shown of a section's table (the web page and its CSV hold them all).
TABLE_ROWS = 12
#: Largest won deals on the summary page.
TOP_DEALS = 5


def css_string(value: str) -> str:
    """``value`` as a quoted CSS string that cannot end the string or the style element."""
    out = "".join(c if c.isalnum() or c in " .,:;·-–()/" else f"\\{ord(c):x} " for c in value)
    return f'"{out}"'


def month_label(report: Report, lang: str) -> str:
    return i18n.period(report.month, "month", lang)


def title(report: Report, lang: str) -> str:
    """``Sales report Nov 2026 — Team Noord``."""
    head = i18n.t("report.title", lang, month=month_label(report, lang))
    names = [report.scope[k] for k in ("team", "rep") if k in report.scope]
    return head + (" — " + " · ".join(names) if names else "")


def _card(c: Card, lang: str) -> dict[str, Any]:
    layer = c.layer
    sub = ""
    if c.target is not None:
        sub = i18n.t(
            "card.target",
            lang,
            target=i18n.value(c.target, layer.unit, lang, True),
            attainment=i18n.percent(c.attainment, lang, 0),
        )
    elif not layer.available:
        sub = i18n.t("report.unavailable", lang)
    return {
        "name": layer.name_nl if lang == "nl" else layer.name_en,
        "value": i18n.value(c.value, layer.unit, lang, True),
        "sub": sub,
    }


def _figure(fig: Figure, lang: str, order: list[str] | None = None) -> dict[str, Any]:
    chart, reduced = svg.render(fig, lang, order)
    unavailable = [x.reason for x in fig.layers if not x.available and x.reason]
    note = fig.note_nl if lang == "nl" else fig.note_en
    if chart is None and unavailable:
        caption = i18n.t("report.cap.unavailable", lang, reason=unavailable[0])
    else:
        caption = text.caption(reduced, lang, note)
    return {
        "id": fig.id,
        "title": fig.title_nl if lang == "nl" else fig.title_en,
        "svg": chart,
        "wide": svg.is_wide(fig),
        "caption": caption,
        "unit": i18n.t(f"unit.{fig.unit}", lang),
    }


def _cell(v: Any, unit: str, lang: str) -> str:
    if unit == "date":
        return i18n.day(v, lang)
    if unit in ("", None):
        return "–" if v is None else str(v)
    return i18n.value(v, unit, lang)


def _table(tbl: Table, lang: str, n: int = 0) -> dict[str, Any]:
    n = n or TABLE_ROWS
    cols = tbl.columns
    rows = [[_cell(r.get(c.id), c.unit, lang) for c in cols] for r in tbl.rows[:n]]
    return {
        "id": tbl.id,
        "title": tbl.title_nl if lang == "nl" else tbl.title_en,
        "columns": [c.title_nl if lang == "nl" else c.title_en for c in cols],
        "numeric": [c.unit not in ("", "date") for c in cols],
        "rows": rows,
        "more": max(0, len(tbl.rows) - n),
        "reason": tbl.reason if not tbl.available else None,
    }


def _section(s: Section, report: Report, lang: str) -> dict[str, Any]:
    w = s.data.window
    return {
        "key": s.key,
        "title": i18n.t(f"nav.{s.data.page}", lang),
        "intro": i18n.t(f"intro.{s.data.page}", lang),
        "window": i18n.t(
            f"report.window.{s.window}",
            lang,
            start=i18n.day(w["start"], lang),
            end=i18n.day(w["end"], lang),
        ),
        "cards": [_card(c, lang) for c in s.data.cards],
        "figures": [_figure(f, lang, report.stage_order) for f in s.figures],
        "tables": [_table(t, lang) for t in s.data.tables if t.rows or not t.available],
    }


def _alert(a: Any, lang: str) -> dict[str, Any]:
    return {
        "title": a.title_nl if lang == "nl" else a.title_en,
        "count": i18n.number(a.count, lang),
        "severity": a.severity,
        "severity_label": i18n.t(f"report.severity.{a.severity}", lang),
    }


def _definitions(report: Report, lang: str) -> list[dict[str, str]]:
    out = []
    for kpi_id in report.kpis:
        k = get_kpi(kpi_id)
        out.append(
            {
                "name": k.name_nl if lang == "nl" else k.name_en,
                "other": k.name_en if lang == "nl" else k.name_nl,
                "id": k.id,
                "source": k.source or "",
                "unit": i18n.t(f"unit.{k.unit}", lang),
                "definition": k.definition,
            }
        )
    return out


def context(report: Report, lang: str) -> dict[str, Any]:
    """Everything the template shows, formatted in ``lang`` (en or nl)."""
    if lang not in i18n.LANGS:
        lang = "en"
    t = lambda key, **kw: i18n.t(key, lang, **kw)  # noqa: E731
    ctx: dict[str, Any] = {
        "lang": lang,
        "t": t,
        "title": title(report, lang),
        "month": month_label(report, lang),
        "as_of": i18n.day(report.as_of, lang),
        "has_data": report.has_data,
        "partial": report.partial,
        "css": Markup((HERE / "templates" / "report.css").read_text(encoding="utf-8")),
        "page_css": Markup(
            "@page { @bottom-left { content: "
            + css_string(t("report.footer", month=month_label(report, lang), version=__version__))
            + "; } }"
        ),
    }
    if not report.has_data:
        if report.data_first and report.data_last:
            ctx["no_data"] = t(
                "report.no_data_range",
                month=month_label(report, lang),
                first=i18n.day(report.data_first, lang),
                last=i18n.day(report.data_last, lang),
            )
        else:
            ctx["no_data"] = t("report.no_data_empty", month=month_label(report, lang))
        return ctx
    before = i18n.period(report.month - timedelta(days=1), "month", lang)
    ctx.update(
        summary_cards=[_card(c, lang) for c in report.cards],
        won=[
            (t("report.won.month"), text.versus(report.won_month, lang)),
            (t("report.won.qtd"), text.versus(report.won_qtd, lang)),
            (t("report.won.fytd"), text.versus(report.won_fytd, lang)),
        ],
        forecast_title=t(
            "report.forecast_title",
            quarter=i18n.period(report.forecast.start, "quarter", lang) if report.forecast else "",
        ),
        forecast=text.forecast(report.forecast, lang),
        forecast_note=(
            t("report.forecast_note_range")
            if report.forecast and report.forecast.has_range
            else t("report.forecast_note_point")
        ),
        changes_title=t("report.changes_title", before=before),
        changes=[text.change(c, lang) for c in report.changes],
        alerts=[_alert(a, lang) for a in report.alerts],
        alert_total=i18n.number(report.alert_total, lang),
        trends=[_figure(f, lang) for f in report.trends],
        top_won=_table(report.top_won, lang, TOP_DEALS) if report.top_won else None,
        sections=[_section(s, report, lang) for s in report.sections],
        definitions=_definitions(report, lang),
    )
    return ctx


def render_html(report: Report, lang: str = "en") -> str:
    """The report as one self-contained HTML page; money in the report's currency."""
    with i18n.reporting_currency(report.currency):
        return _env.get_template("report.html").render(**context(report, lang))
