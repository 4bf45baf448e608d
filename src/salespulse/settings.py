"""Product settings: fiscal year, time zone, business hours, SLAs, thresholds.

Read from ``settings.toml`` in the workspace when it exists, and from the database itself
(``salespulse settings set``; an import mapping's ``[settings]``), which wins for that
database; every field has a default that suits a Dutch B2B team. Unknown names and wrong
types are errors (a typo must not be silently ignored). Environment variables do not
override single settings (one place is easier to reason about).
"""

from __future__ import annotations

import difflib
import json
import tomllib
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa

from salespulse.errors import UserError

if TYPE_CHECKING:
    from salespulse.warehouse.store import Store

#: The system table holding a database's own settings.
DATA_SETTINGS = "data_settings"


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
    slow_response_min_sla_share: float = _s(
        0.8,
        "A rep whose share of SQLs answered within the SLA (last 90 days) is below this "
        "is flagged as a slow responder (as is one whose mean is above the red line).",
    )
    stale_days_default: int = _s(
        60, "Stale-deal threshold in days where a stage's history is too thin for a p90."
    )
    stale_p90_factor: float = _s(
        1.25,
        "An open deal is stale after this many times the p90 of past visits of its stage "
        "(for its product): 1.0 would also flag the slowest tenth of normal deals.",
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
    lead_dormant_days: int = _s(
        120,
        "A lead that is not closed and has had no activity for this many days leaves the "
        "pipeline (S5 conversion rate): it is dormant, not a lead still being worked.",
    )
    reporting_currency: str = _s(
        "EUR", "Reporting currency; other currencies are converted with currency_rates."
    )
    lead_score_rules: str = _s(
        "", "Path of a lead-score rules file (TOML); empty = the built-in rules."
    )
    lead_score_horizon_days: int = _s(
        180,
        "The lead model's horizon: the likelihood that a lead becomes a won deal within "
        "this many days (salespulse score).",
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
    duckdb_threads: int = _s(
        0,
        "DuckDB worker threads; 0 = one per CPU core this process may use; each of "
        "`serve`'s N worker processes gets this / N, at least 1 (machine setting: "
        "settings.toml only, see warehouse/tuning.py).",
    )
    duckdb_memory_limit: str = _s(
        "",
        'DuckDB memory limit, e.g. "4GB"; empty = 60 % of physical memory (beyond it DuckDB '
        "spills to the temporary directory); each of `serve`'s N worker processes gets "
        "this / (N + 1). Machine setting: settings.toml only.",
    )
    duckdb_temp_directory: str = _s(
        "",
        "Where DuckDB spills; empty = `<database file>.tmp` beside the file "
        "(`<workspace>/tmp` in memory). Machine setting: settings.toml only.",
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
        if self.duckdb_threads < 0:
            raise UserError(f"duckdb_threads must be 0 or more, not {self.duckdb_threads}")
        if self.smtp_security not in ("starttls", "tls", "none"):
            raise UserError(
                f"smtp_security must be starttls, tls or none, not {self.smtp_security!r}"
            )

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def _validated(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """``raw`` setting values checked against the fields: names and types."""
    known = {f.name: f for f in fields(Settings)}
    values = dict(raw)
    for key in raw:
        if key not in known:
            close = difflib.get_close_matches(key, list(known), n=1)
            raise UserError(
                f"{where}: unknown setting {key!r}",
                hint=f"did you mean {close[0]!r}?" if close else "see docs/settings.md",
            )
    for key, value in raw.items():  # TOML arrays → the tuples of list settings
        default = known[key].default
        if isinstance(default, tuple) and isinstance(value, list):
            item = type(default[0]) if default else str
            if not all(isinstance(x, item) and not isinstance(x, bool) for x in value):
                raise UserError(
                    f"{where}: setting {key} must be a list of {item.__name__}s, not {value!r}",
                    hint="see docs/settings.md",
                )
            values[key] = tuple(value)
    for key, value in values.items():
        expected = type(known[key].default)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            values[key] = float(value)
        elif not isinstance(values[key], expected) or isinstance(value, bool) != (expected is bool):
            raise UserError(
                f"{where}: setting {key} must be a {expected.__name__}, not {value!r}",
                hint="see docs/settings.md",
            )
    return values


def load_settings(path: Path | None = None, store: Store | None = None) -> Settings:
    """Settings from ``path`` (default: ``<workspace>/settings.toml``), then — with a
    ``store`` — the settings stored in that database (``salespulse settings set``, or an
    import mapping's ``[settings]``), which win: a database's reporting currency, fiscal
    year and time zone belong to its data, so two databases in one workspace can differ."""
    from salespulse.warehouse.store import workspace

    path = path or workspace() / "settings.toml"
    values: dict[str, Any] = {}
    if path.exists():
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise UserError(f"{path}: not valid TOML: {exc}") from exc
        values = _validated(raw, str(path))
    if store is not None:
        values.update(_validated(stored_settings(store), f"database {store.location}"))
    return Settings(**values)


def stored_settings(store: Store) -> dict[str, Any]:
    """The settings stored in the database (name → value)."""
    with store.reading():  # (a served file is opened per read)
        if DATA_SETTINGS not in store.con.list_tables():
            return {}
        f = store.con.table(DATA_SETTINGS).select("name", "value").execute()
    return {str(n): json.loads(v) for n, v in zip(f["name"], f["value"], strict=True)}


def store_setting(store: Store, name: str, value: Any | None) -> Settings:
    """Store (or, with ``value`` None, remove) one setting in the database; returns the
    settings that now apply. A wrong name or type is a UserError and changes nothing."""
    from salespulse.warehouse.tuning import ENGINE_SETTINGS

    if name in ENGINE_SETTINGS:
        raise UserError(
            f"{name} belongs to the machine, not to the data: it cannot be stored in a database",
            hint="put it in settings.toml in the workspace",
        )
    current = stored_settings(store)
    if value is None:
        if name not in current:
            raise UserError(f"setting {name!r} is not stored in this database")
        current.pop(name)
    else:
        current[name] = value
    with store.transaction():
        write_settings(store, current)
    return load_settings(store=store)


def check_settings(values: dict[str, Any], where: str) -> dict[str, Any]:
    """``values`` validated: known names, right types, and valid together."""
    checked = _validated(values, where)
    Settings(**checked)
    return checked


def write_settings(store: Store, values: dict[str, Any]) -> None:
    """Replace the database's stored settings with ``values`` (validated first). Call it
    inside the caller's transaction (an import stores its mapping's settings with its
    data)."""
    from salespulse.warehouse.engine import insert_arrow

    check_settings(values, "settings")
    now = datetime.now(UTC).replace(tzinfo=None)
    plain = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
    rows = pa.table(
        {
            "name": pa.array(list(plain), pa.string()),
            "value": pa.array([json.dumps(v) for v in plain.values()], pa.string()),
            "updated_at": pa.array([now] * len(plain), pa.timestamp("us")),
        }
    )
    store.con.raw_sql(f'DELETE FROM "{DATA_SETTINGS}"')
    if rows.num_rows:
        insert_arrow(store.con, DATA_SETTINGS, rows)


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
