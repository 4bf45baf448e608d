"""Product settings: fiscal year, time zone, business hours, SLAs, thresholds.

Read from ``settings.toml`` in the workspace when it exists; every field has a default that
suits a Dutch B2B team. Unknown names and wrong types are errors (a typo must not be silently
ignored). Environment variables do not override single settings (one file is easier to
reason about).
"""

from __future__ import annotations

import difflib
import json
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from salespulse.errors import UserError


def _s(default: Any, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class Settings:
    """Settings that change how KPIs are computed. Times are local to ``timezone``."""

    fiscal_year_start_month: int = _s(
        1, "First month of the fiscal year (1 = January); fiscal quarters follow it."
    )
    timezone: str = _s(
        "Europe/Amsterdam",
        "Time zone of the sales team: periods, business hours and as-of dates use it.",
    )
    business_day_start_hour: int = _s(8, "Business hours start (local hour, 0-23).")
    business_day_end_hour: int = _s(18, "Business hours end (local hour, 1-24).")
    business_days: tuple[int, ...] = _s((0, 1, 2, 3, 4), "Business days, Monday = 0 … Sunday = 6.")
    first_response_sla_hours: float = _s(
        10.0, "First-response SLA in business hours (default one business day)."
    )
    first_response_red_line_hours: float = _s(
        42.0,
        "The source's red line: an average first response above this many hours is "
        "unacceptable (shown on charts).",
    )
    stale_days_default: int = _s(
        60, "Stale-deal threshold in days where a stage's history is too thin for a p90."
    )
    stale_min_history: int = _s(
        20, "Completed visits a stage needs before its own p90 becomes its stale threshold."
    )
    not_updated_days: int = _s(
        30,
        "Open deals with no stage change or activity for this many days count as not "
        "updated (W6 hygiene).",
    )
    customer_window_days: int = _s(
        365,
        "A customer is an account with an active contract or a contract signed within "
        "this many days.",
    )
    reporting_currency: str = _s(
        "EUR", "Reporting currency; other currencies are converted with currency_rates."
    )
    lead_score_rules: str = _s(
        "", "Path of a lead-score rules file (TOML); empty = the built-in rules."
    )
    smtp_host: str = _s("", "SMTP server for `--mail` (report, alerts); empty = mail is off.")
    smtp_port: int = _s(587, "SMTP port (587 for STARTTLS, 465 for TLS, 25 for none).")
    smtp_security: str = _s("starttls", "SMTP connection security: starttls, tls or none.")
    smtp_user: str = _s("", "SMTP login name; empty = no login.")
    smtp_password_env: str = _s(
        "SALESPULSE_SMTP_PASSWORD",
        "Environment variable that holds the SMTP password (never put it in this file).",
    )
    mail_from: str = _s("salespulse@localhost", "Sender address of the mails.")
    report_recipients: tuple[str, ...] = _s(
        ("managers",),
        "Who gets `salespulse report --mail`: e-mail addresses and roles — `managers` (the "
        "team's manager; every team manager for a company report), `reps` (the team's or "
        "company's active reps), `rep` (the rep of a `--rep` report).",
    )
    alert_recipients: tuple[str, ...] = _s(
        ("reps", "managers"),
        "Who gets the weekly `salespulse alerts --mail` digest: `reps` (each active rep "
        "their own alerts), `managers` (each team manager the team's alerts), and e-mail "
        "addresses (the whole company's alerts).",
    )

    def __post_init__(self) -> None:
        if not 1 <= self.fiscal_year_start_month <= 12:
            raise UserError(
                f"fiscal_year_start_month must be 1-12, not {self.fiscal_year_start_month}"
            )
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise UserError(
                f"unknown time zone {self.timezone!r}",
                hint="use a tz database name such as Europe/Amsterdam",
            ) from None
        if not 0 <= self.business_day_start_hour < self.business_day_end_hour <= 24:
            raise UserError("business hours must satisfy 0 <= start < end <= 24")
        if self.smtp_security not in ("starttls", "tls", "none"):
            raise UserError(
                f"smtp_security must be starttls, tls or none, not {self.smtp_security!r}"
            )

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def load_settings(path: Path | None = None) -> Settings:
    """Settings from ``path`` (default: ``<workspace>/settings.toml``), else defaults."""
    from salespulse.warehouse.store import workspace

    path = path or workspace() / "settings.toml"
    if not path.exists():
        return Settings()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not valid TOML: {exc}") from exc
    known = {f.name: f for f in fields(Settings)}
    for key in raw:
        if key not in known:
            close = difflib.get_close_matches(key, list(known), n=1)
            raise UserError(
                f"{path}: unknown setting {key!r}",
                hint=f"did you mean {close[0]!r}?" if close else "see docs/settings.md",
            )
    values = dict(raw)
    for key, value in raw.items():  # TOML arrays → the tuples of list settings
        default = known[key].default
        if isinstance(default, tuple) and isinstance(value, list):
            item = type(default[0]) if default else str
            if not all(isinstance(x, item) and not isinstance(x, bool) for x in value):
                raise UserError(
                    f"{path}: setting {key} must be a list of {item.__name__}s, not {value!r}",
                    hint="see docs/settings.md",
                )
            values[key] = tuple(value)
    for key, value in values.items():
        expected = type(known[key].default)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            values[key] = float(value)
        elif not isinstance(values[key], expected) or isinstance(value, bool) != (expected is bool):
            raise UserError(
                f"{path}: setting {key} must be a {expected.__name__}, not {value!r}",
                hint="see docs/settings.md",
            )
    return Settings(**values)


def render_settings_doc() -> str:
    """``docs/settings.md``, generated from the fields above."""
    lines = [
        "# Settings",
        "",
        "<!-- Generated from src/salespulse/settings.py by `make docs`; do not edit. -->",
        "",
        "Put settings in `settings.toml` in the workspace (`~/.salespulse/`, or "
        "`$SALESPULSE_HOME`). Every setting is optional. Example:",
        "",
        "```toml",
        "fiscal_year_start_month = 4",
        "first_response_sla_hours = 4",
        'reporting_currency = "USD"',
        "```",
        "",
        "| setting | default | meaning |",
        "|---|---|---|",
    ]
    for f in fields(Settings):
        default = f.default
        shown = json.dumps(list(default) if isinstance(default, tuple) else default)
        lines.append(f"| `{f.name}` | `{shown}` | {f.metadata['doc']} |")
    return "\n".join(lines) + "\n"
