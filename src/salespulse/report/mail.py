"""Mail over SMTP: the monthly report to its recipients, the weekly alert digest per person.

SMTP settings (host, port, ``starttls``/``tls``/``none``, user, sender) are in
``settings.toml``; the password is read from the environment variable named by
``smtp_password_env`` (default ``SALESPULSE_SMTP_PASSWORD``), never from a file.

Recipients are e-mail addresses or roles resolved from the reps table (``reps.email``):

* ``managers`` — the team's manager (``teams.manager_rep_id``); for a company report every
  team manager;
* ``reps`` — the active reps (no ``left_on`` before the as-of date) of the team or company;
* ``rep`` — the rep a ``--rep`` report is about.
"""

from __future__ import annotations

import os
import smtplib
import ssl
from dataclasses import dataclass, field
from datetime import date
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from pathlib import Path

import pandas as pd

from salespulse.errors import UserError
from salespulse.settings import Settings
from salespulse.warehouse.store import Store

ROLES = ("managers", "reps", "rep")


@dataclass
class Mail:
    """One message: plain text, optionally an HTML alternative and attachments."""

    to: list[str]
    subject: str
    text: str
    html: str | None = None
    attachments: list[Path] = field(default_factory=list)

    def message(self, sender: str) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = ", ".join(self.to)
        msg["Subject"] = self.subject
        msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
        msg.set_content(self.text)
        if self.html:
            msg.add_alternative(self.html, subtype="html")
        for path in self.attachments:
            kind = ("application", "pdf") if path.suffix == ".pdf" else ("text", "html")
            data = path.read_bytes()
            if kind[0] == "text":
                msg.add_attachment(
                    data.decode("utf-8"), subtype=kind[1], filename=path.name, charset="utf-8"
                )
            else:
                msg.add_attachment(data, maintype=kind[0], subtype=kind[1], filename=path.name)
        return msg


def _active_reps(store: Store, as_of: date) -> pd.DataFrame:
    reps = store.table("reps").execute()
    left = pd.to_datetime(reps["left_on"]).dt.date
    hired = pd.to_datetime(reps["hired_on"]).dt.date
    active = (left.isna() | (left >= as_of)) & (hired.isna() | (hired <= as_of))
    return reps[active.fillna(False)]


def team_managers(store: Store, team: str | None = None) -> pd.DataFrame:
    """``team_id``, ``team_name``, ``rep_id``, ``name``, ``email`` of each team's manager."""
    teams = store.table("teams").execute()
    reps = store.table("reps").execute()[["rep_id", "name", "email"]]
    if team:
        teams = teams[teams["team_id"] == team]
    out = teams.rename(columns={"name": "team_name"}).merge(
        reps, left_on="manager_rep_id", right_on="rep_id"
    )
    return out[["team_id", "team_name", "rep_id", "name", "email"]]


def recipients(
    store: Store,
    entries: tuple[str, ...],
    as_of: date,
    team: str | None = None,
    rep: str | None = None,
) -> list[str]:
    """The addresses ``entries`` stand for (addresses and roles, see the module docstring),
    without duplicates, in order."""
    out: list[str] = []
    for entry in entries:
        if "@" in entry:
            out.append(entry)
        elif entry == "managers":
            out += team_managers(store, team)["email"].dropna().tolist()
        elif entry == "reps":
            reps = _active_reps(store, as_of)
            if team:
                reps = reps[reps["team_id"] == team]
            out += reps["email"].dropna().tolist()
        elif entry == "rep":
            if rep:
                reps = store.table("reps").execute()
                out += reps.loc[reps["rep_id"] == rep, "email"].dropna().tolist()
        else:
            raise UserError(
                f"unknown recipient {entry!r} in settings.toml",
                hint=f"use e-mail addresses or the roles {', '.join(ROLES)}",
            )
    return list(dict.fromkeys(a.strip() for a in out if a and a.strip()))


def send(settings: Settings, mails: list[Mail]) -> int:
    """Send ``mails`` over one SMTP connection; returns how many were sent."""
    if not mails:
        return 0
    if not settings.smtp_host:
        raise UserError(
            "no SMTP server configured",
            hint="set smtp_host (and smtp_port, smtp_security, smtp_user) in settings.toml",
        )
    password = os.environ.get(settings.smtp_password_env, "")
    if settings.smtp_user and not password:
        raise UserError(
            f"smtp_user is set but ${settings.smtp_password_env} is empty",
            hint=f"export {settings.smtp_password_env}=… before sending mail",
        )
    host, port = settings.smtp_host, settings.smtp_port
    try:
        if settings.smtp_security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                host, port, timeout=30, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(host, port, timeout=30)
        with smtp:
            if settings.smtp_security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_user:
                smtp.login(settings.smtp_user, password)
            for m in mails:
                smtp.send_message(m.message(settings.mail_from))
    except (OSError, smtplib.SMTPException) as exc:
        raise UserError(
            f"could not send mail via {host}:{port}: {exc}",
            hint="check smtp_host, smtp_port and smtp_security in settings.toml",
        ) from None
    return len(mails)


def display(name: str, address: str) -> str:
    return formataddr((name, address))
