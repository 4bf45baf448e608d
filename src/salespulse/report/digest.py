"""The weekly alert digest: each rep their own alerts, each team manager the team's.

Alerts come from :func:`salespulse.analytics.alerts.list_alerts` filtered by rep or team,
sharing one materialized context; an alert whose KPI cannot be cut by rep (or team) — leads
without an owner belong to nobody — stays out of that person's digest. A person with
nothing open gets no mail; addresses in ``alert_recipients`` get the whole company's digest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from salespulse import i18n
from salespulse.analytics.alerts import Alert, list_alerts
from salespulse.report.mail import Mail, _active_reps, display, team_managers
from salespulse.semantic.catalogue import get_kpi
from salespulse.semantic.kpi import Dim
from salespulse.semantic.query import context
from salespulse.settings import Settings
from salespulse.warehouse.store import Store

#: Records listed per alert in the mail (the alerts page has them all).
RECORDS_IN_MAIL = 5
RECORD_COLUMNS = ("name", "lead_id", "deal_id", "stage_id", "amount_eur", "expected_close_on")


@dataclass
class Digest:
    to: str  # "Name <address>"
    name: str
    scope: str  # rep | team | all
    scope_name: str
    alerts: list[Alert]

    @property
    def total(self) -> int:
        return sum(a.count for a in self.alerts if a.available)


def digests(
    store: Store,
    settings: Settings,
    as_of: date,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[Digest]:
    """The digests to send as of ``as_of`` (only those with at least one open alert)."""
    step = progress or (lambda s, d, t: None)
    wanted = settings.alert_recipients
    jobs: list[tuple[str, str, str, str, dict[str, str]]] = []  # to, name, scope, label, where
    if "reps" in wanted:
        for r in _active_reps(store, as_of).to_dict(orient="records"):
            if isinstance(r["email"], str) and r["email"]:
                name = str(r["name"])
                to = display(name, r["email"])
                jobs.append((to, name, "rep", name, {"rep": str(r["rep_id"])}))
    if "managers" in wanted:
        for m in team_managers(store).to_dict(orient="records"):
            if isinstance(m["email"], str) and m["email"]:
                name = str(m["name"])
                to = display(name, m["email"])
                jobs.append((to, name, "team", str(m["team_name"]), {"team": str(m["team_id"])}))
    for entry in wanted:
        if "@" in entry:
            jobs.append((entry, entry.split("@")[0], "all", "", {}))
    out: list[Digest] = []
    ctx = context(store, settings, as_of, materialize=True)
    try:
        for i, (to, name, scope, label, where) in enumerate(jobs):
            found = [
                a
                for a in list_alerts(store, where=where, ctx=ctx)
                if a.available and all(Dim(k) in get_kpi(a.kpi).dims for k in where)
            ]
            step("alert digests", i + 1, len(jobs))
            d = Digest(to, name, scope, label, [a for a in found if a.count > 0])
            if d.total:
                out.append(d)
    finally:
        ctx.close()
    return out


def _record(row: dict[Any, Any], lang: str) -> str:
    parts = []
    for col in RECORD_COLUMNS:
        v = row.get(col)
        if v is None or v != v:  # missing or NaN
            continue
        if col == "amount_eur":
            parts.append(i18n.money(v, lang))
        elif col == "expected_close_on":
            parts.append(i18n.day(v, lang))
        else:
            parts.append(str(v))
    return " · ".join(parts)


def digest_mail(d: Digest, as_of: date, lang: str) -> Mail:
    """The digest as a plain-text mail in ``lang``."""
    t = lambda key, **kw: i18n.t(key, lang, **kw)  # noqa: E731
    scope = {
        "rep": t("mail.digest_scope_rep"),
        "team": t("mail.digest_scope_team", team=d.scope_name),
        "all": t("mail.digest_scope_all"),
    }[d.scope]
    lines = [t("mail.digest_intro", name=d.name, as_of=i18n.day(as_of, lang), scope=scope), ""]
    for a in d.alerts:
        title = a.title_nl if lang == "nl" else a.title_en
        lines.append(t("mail.digest_line", title=title, count=i18n.number(a.count, lang)))
        for row in a.records.head(RECORDS_IN_MAIL).to_dict(orient="records"):
            lines.append(t("mail.digest_record", record=_record(row, lang)))
    lines += ["", t("mail.digest_outro")]
    who = d.name if d.scope == "rep" else d.scope_name or d.name
    subject = t("mail.digest_subject", who=who, total=i18n.number(d.total, lang))
    return Mail(to=[d.to], subject=subject, text="\n".join(lines))
