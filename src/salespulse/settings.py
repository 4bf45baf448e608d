"""Product settings: fiscal year, time zone, business hours, SLAs, thresholds.

Read from ``settings.toml`` in the workspace when it exists; every field has a default that
suits a Dutch B2B team. Environment variables do not override single settings (one file is
easier to reason about).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from salespulse.errors import UserError


@dataclass(frozen=True)
class Settings:
    """Settings that change how KPIs are computed. Times are local to ``timezone``."""

    #: First month of the fiscal year (1 = January).
    fiscal_year_start_month: int = 1
    #: Time zone of the sales team: periods, business hours and "as of" dates use it.
    timezone: str = "Europe/Amsterdam"
    #: Business hours (local, 24h clock) on business days (Monday=0 … Sunday=6).
    business_day_start_hour: int = 8
    business_day_end_hour: int = 18
    business_days: tuple[int, ...] = (0, 1, 2, 3, 4)
    #: First-response SLA in business hours (default: one business day).
    first_response_sla_hours: float = 10.0
    #: The source's red line: an average first response above this is unacceptable (hours).
    first_response_red_line_hours: float = 42.0
    #: Stale-deal fallback threshold (days) where a stage's history is too thin for a p90.
    stale_days_default: int = 60
    #: Minimum number of completed stage visits for a stage's own p90 threshold.
    stale_min_history: int = 20
    #: Deals not updated for this many days count as "not updated" (W6 hygiene).
    not_updated_days: int = 30
    #: A customer is an account with an active contract, or a purchase within this window.
    customer_window_days: int = 365
    #: Reporting currency; amounts in other currencies are converted with currency_rates.
    reporting_currency: str = "EUR"
    #: Lead-score rules file (TOML); empty = the built-in default rules.
    lead_score_rules: str = ""
    #: Extra settings not interpreted here (kept for forward compatibility).
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 1 <= self.fiscal_year_start_month <= 12:
            raise UserError(
                f"fiscal_year_start_month must be 1-12, not {self.fiscal_year_start_month}"
            )
        if not 0 <= self.business_day_start_hour < self.business_day_end_hour <= 24:
            raise UserError("business hours must satisfy 0 <= start < end <= 24")

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
    known = {f.name for f in fields(Settings)} - {"extra"}
    values = {k: v for k, v in raw.items() if k in known}
    if "business_days" in values:
        values["business_days"] = tuple(values["business_days"])
    try:
        return Settings(**values, extra={k: v for k, v in raw.items() if k not in known})
    except TypeError as exc:
        raise UserError(f"{path}: {exc}") from exc
