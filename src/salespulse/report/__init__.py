"""The monthly management report (HTML, PDF, e-mail) and the weekly alert digest.

* :mod:`.build` gathers the figures (page data and semantic-layer queries, no KPI math);
* :mod:`.render` writes one self-contained HTML file (:mod:`.svg` charts, :mod:`.text`
  sentences); :mod:`.pdf` prints it with headless Chromium;
* :mod:`.mail` sends over SMTP; :mod:`.digest` builds the weekly alert digests.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from salespulse import i18n
from salespulse.report.build import Progress, Report, build
from salespulse.report.mail import Mail, recipients
from salespulse.report.pdf import html_to_pdf
from salespulse.report.render import render_html, title
from salespulse.report.text import versus
from salespulse.services.service import Service
from salespulse.settings import Settings
from salespulse.warehouse.store import Store


def write_report(
    store: Store,
    settings: Settings,
    month: date,
    out: Path,
    lang: str = "en",
    *,
    team: str | None = None,
    rep: str | None = None,
    progress: Progress | None = None,
) -> tuple[Report, Path]:
    """Build the report for ``month`` and write it to ``out`` (``.pdf`` or ``.html``)."""
    service = Service(store, settings)
    with service.cache.patient():  # a batch job: no request deadline (slow engines, big data)
        report = build(service, month, team=team, rep=rep, progress=progress)
    html = render_html(report, lang)
    out = Path(out)
    if out.suffix.lower() == ".pdf":
        html_to_pdf(html, out)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(html, encoding="utf-8")
    return report, out


def report_mail(
    store: Store,
    settings: Settings,
    report: Report,
    attachment: Path,
    lang: str,
    *,
    team: str | None = None,
    rep: str | None = None,
) -> Mail:
    """The report as a mail to ``report_recipients`` (a UserError when nobody is found)."""
    from salespulse.errors import UserError

    to = recipients(store, settings.report_recipients, report.as_of, team=team, rep=rep)
    if not to:
        raise UserError(
            "nobody to mail the report to",
            hint="set report_recipients in settings.toml (addresses or managers/reps/rep)",
        )
    month = i18n.period(report.month, "month", lang)
    if report.has_data:
        summary = (
            i18n.t("report.won.month", lang)
            + ": "
            + versus(report.won_month, lang)
            + "\n"
            + i18n.t("report.won.qtd", lang)
            + ": "
            + versus(report.won_qtd, lang)
        )
    else:
        summary = i18n.t("report.no_data_title", lang)
    text = i18n.t(
        "mail.report_body",
        lang,
        month=month,
        as_of=i18n.day(report.as_of, lang),
        summary=summary,
    )
    subject = title(report, lang)
    return Mail(to=to, subject=subject, text=text, attachments=[attachment])


__all__ = ["Report", "build", "render_html", "report_mail", "write_report"]
