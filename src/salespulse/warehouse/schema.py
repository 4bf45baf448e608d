"""The canonical CRM model: one definition from which tables, docs and checks derive.

Conventions (they hold for every table):

* ``*_id`` columns are text identifiers as the source CRM gives them (HubSpot numbers,
  Salesforce 18-character ids, generator ids like ``D000123``).
* ``*_at`` columns are timestamps in **UTC** without a time-zone tag; ``*_on`` columns are
  calendar dates (no time). Business-hour logic converts UTC to the team's time zone.
* Money is stored in the record's own ``currency`` (ISO 4217); ``currency_rates`` converts it
  to the reporting currency (EUR unless configured otherwise).
* Probabilities are fractions in [0, 1], not percentages.
* A deal is *closed* when ``closed_at`` is set; then ``outcome`` is ``won`` or ``lost``.
  Reopening a deal clears ``closed_at``; the stage history keeps what happened.

Keys are declared here and checked by :func:`salespulse.warehouse.store.check_keys` and by the
import; they are not database constraints, because analytical engines (DuckDB, Spark) load
tens of millions of rows much faster without index maintenance.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import ibis
import ibis.expr.schema as sch

#: Bumped whenever the tables below change; see ``migrations.py``.
SCHEMA_VERSION = 12

#: Dtypes allowed in the model, as Ibis type names, and the SQL type they become.
SQL_TYPES: dict[str, str] = {
    "string": "VARCHAR",
    "int64": "BIGINT",
    "float64": "DOUBLE PRECISION",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
}

USER_ROLES = ("admin", "manager", "rep")
ACTIVITY_TYPES = ("call", "email", "meeting", "task", "note")
ACTIVITY_DIRECTIONS = ("outbound", "inbound")
ACTIVITY_OUTCOMES = ("connected", "no_answer", "voicemail", "replied", "held", "no_show")
DEAL_OUTCOMES = ("won", "lost")
TARGET_GRAINS = ("month", "quarter", "year")
BILLING_PERIODS = ("month", "quarter", "year")
#: Months per billing period.
BILLING_MONTHS = {"month": 1, "quarter": 3, "year": 12}


@dataclass(frozen=True)
class Column:
    """One column: its name, Ibis dtype, whether it may be empty, and what it means."""

    name: str
    dtype: str
    description: str
    nullable: bool = True
    allowed: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.dtype not in SQL_TYPES:
            raise ValueError(f"{self.name}: unsupported dtype {self.dtype!r}")


@dataclass(frozen=True)
class ForeignKey:
    """``column`` refers to ``table.ref_column``; null means "no reference"."""

    column: str
    table: str
    ref_column: str


@dataclass(frozen=True)
class Table:
    """One canonical table: columns, primary key, references and a description."""

    name: str
    description: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    foreign_keys: tuple[ForeignKey, ...] = field(default_factory=tuple)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")

    def ibis_schema(self) -> sch.Schema:
        """The table as an Ibis schema (non-nullable columns marked ``!``)."""
        return ibis.schema({c.name: ("" if c.nullable else "!") + c.dtype for c in self.columns})

    def create_sql(self, quote: str = '"') -> str:
        """``CREATE TABLE`` for SQL engines (DuckDB, PostgreSQL): types and NOT NULL."""
        cols = ",\n  ".join(
            f"{quote}{c.name}{quote} {SQL_TYPES[c.dtype]}{'' if c.nullable else ' NOT NULL'}"
            for c in self.columns
        )
        return f"CREATE TABLE IF NOT EXISTS {quote}{self.name}{quote} (\n  {cols}\n)"


def C(
    name: str,
    dtype: str,
    description: str,
    *,
    required: bool = False,
    allowed: tuple[str, ...] = (),
) -> Column:
    """Short constructor used in the table list below."""
    return Column(name, dtype, description, nullable=not required, allowed=allowed)


FK = ForeignKey

TABLES: tuple[Table, ...] = (
    Table(
        "teams",
        "Sales teams. A team usually covers one region (rayon).",
        (
            C("team_id", "string", "Identifier of the team.", required=True),
            C("name", "string", "Team name as shown in reports.", required=True),
            C("region", "string", "Region (rayon/territory) the team covers."),
            C("manager_rep_id", "string", "The rep who manages the team."),
        ),
        ("team_id",),
        (FK("manager_rep_id", "reps", "rep_id"),),
    ),
    Table(
        "reps",
        "Sales reps (CRM users who own leads and deals), current and former.",
        (
            C("rep_id", "string", "Identifier of the rep (CRM user/owner id).", required=True),
            C("name", "string", "Full name.", required=True),
            C("email", "string", "E-mail address."),
            C("team_id", "string", "Team the rep belongs to."),
            C("region", "string", "Region (rayon) the rep covers; defaults to the team's."),
            C("manager_rep_id", "string", "The rep's manager."),
            C("hired_on", "date", "First working day; start of the ramp-up period."),
            C("left_on", "date", "Last working day; empty while employed."),
        ),
        ("rep_id",),
        (FK("team_id", "teams", "team_id"), FK("manager_rep_id", "reps", "rep_id")),
    ),
    Table(
        "accounts",
        "Companies: prospects and customers. A customer is an account with an active contract.",
        (
            C("account_id", "string", "Identifier of the account.", required=True),
            C("name", "string", "Company name.", required=True),
            C("industry", "string", "Industry (sector) of the company."),
            C("region", "string", "Region (rayon) the company is in."),
            C("country", "string", "Country (ISO 3166 alpha-2 or name as exported)."),
            C("employees", "int64", "Number of employees (company size)."),
            C("annual_revenue", "float64", "Annual revenue of the company, in EUR."),
            C("owner_rep_id", "string", "Rep who owns the account relationship."),
            C("created_at", "timestamp", "When the account was created in the CRM (UTC)."),
        ),
        ("account_id",),
        (FK("owner_rep_id", "reps", "rep_id"),),
    ),
    Table(
        "products",
        "What is sold: products or product lines, each with its own typical sales cycle.",
        (
            C("product_id", "string", "Identifier of the product.", required=True),
            C("name", "string", "Product name.", required=True),
            C("product_line", "string", "Product line or series (e.g. machines, parts)."),
            C("list_price", "float64", "List price in EUR, if known."),
        ),
        ("product_id",),
    ),
    Table(
        "pipelines",
        "Sales pipelines (processes); each has its own ordered stages.",
        (
            C("pipeline_id", "string", "Identifier of the pipeline.", required=True),
            C("name", "string", "Pipeline name.", required=True),
        ),
        ("pipeline_id",),
    ),
    Table(
        "stages",
        "Deal stages per pipeline, in order, with default win probability and closed/won flags.",
        (
            C(
                "stage_id",
                "string",
                "Identifier of the stage (unique over pipelines).",
                required=True,
            ),
            C("pipeline_id", "string", "Pipeline the stage belongs to.", required=True),
            C("name", "string", "Stage name as the CRM shows it.", required=True),
            C(
                "stage_order",
                "int64",
                "Position in the pipeline, 1 = first; closed stages last.",
                required=True,
            ),
            C(
                "probability",
                "float64",
                "Configured chance (0-1) that a deal in this stage is won.",
            ),
            C(
                "is_closed",
                "boolean",
                "True for the closed-won and closed-lost stages.",
                required=True,
            ),
            C("is_won", "boolean", "True for the closed-won stage.", required=True),
            C(
                "is_required",
                "boolean",
                "True if every deal should pass this stage (skipping it is a hygiene issue).",
            ),
        ),
        ("stage_id",),
        (FK("pipeline_id", "pipelines", "pipeline_id"),),
    ),
    Table(
        "leads",
        "Leads (contacts with a possible need) and their lifecycle up to sales-qualified (SQL).",
        (
            C("lead_id", "string", "Identifier of the lead/contact.", required=True),
            C("name", "string", "Contact name."),
            C("company", "string", "Company name as entered on the lead."),
            C("account_id", "string", "Account the lead belongs to, once known."),
            C(
                "channel",
                "string",
                "Inbound channel (lead source), e.g. trade_fair, web_form, phone, email, "
                "referral, outbound.",
            ),
            C(
                "referring_account_id",
                "string",
                "Existing customer that referred this lead (channel referral).",
            ),
            C("owner_rep_id", "string", "Rep who owns the lead; empty = unassigned."),
            C("job_title", "string", "Job title of the contact."),
            C("industry", "string", "Industry as entered on the lead."),
            C("employees", "int64", "Company size as entered on the lead."),
            C("created_at", "timestamp", "When the lead entered the CRM (UTC).", required=True),
            C("assigned_at", "timestamp", "When the current owner was assigned (UTC)."),
            C("mql_at", "timestamp", "When the lead became marketing-qualified (UTC)."),
            C("sql_at", "timestamp", "When the lead became sales-qualified (UTC)."),
            C("disqualified_at", "timestamp", "When the lead was disqualified (UTC)."),
            C("disqualified_reason", "string", "Why the lead was disqualified."),
        ),
        ("lead_id",),
        (
            FK("account_id", "accounts", "account_id"),
            FK("referring_account_id", "accounts", "account_id"),
            FK("owner_rep_id", "reps", "rep_id"),
        ),
    ),
    Table(
        "deals",
        "Deals (opportunities). Current values as of the last load; the stage path over time is "
        "in deal_stage_history.",
        (
            C("deal_id", "string", "Identifier of the deal.", required=True),
            C("name", "string", "Deal name."),
            C("account_id", "string", "Account the deal is with."),
            C("lead_id", "string", "Lead the deal came from (for channel and funnel KPIs)."),
            C("owner_rep_id", "string", "Rep who owns the deal."),
            C("pipeline_id", "string", "Pipeline the deal runs in.", required=True),
            C("stage_id", "string", "Current stage (as of the last load)."),
            C("product_id", "string", "Main product of the deal."),
            C("amount", "float64", "Deal value in `currency`; empty = not filled in."),
            C("currency", "string", "ISO currency of `amount` (EUR, USD, …)."),
            C("created_at", "timestamp", "When the deal was created (UTC).", required=True),
            C("expected_close_on", "date", "Close date the rep expects."),
            C("closed_at", "timestamp", "When the deal was closed (UTC); empty = open."),
            C(
                "outcome",
                "string",
                "won or lost once closed; empty while open.",
                allowed=DEAL_OUTCOMES,
            ),
            C("lost_reason", "string", "Why a lost deal was lost."),
            C("updated_at", "timestamp", "Last time anything on the deal changed (UTC)."),
        ),
        ("deal_id",),
        (
            FK("account_id", "accounts", "account_id"),
            FK("lead_id", "leads", "lead_id"),
            FK("owner_rep_id", "reps", "rep_id"),
            FK("pipeline_id", "pipelines", "pipeline_id"),
            FK("stage_id", "stages", "stage_id"),
            FK("product_id", "products", "product_id"),
        ),
    ),
    Table(
        "deal_stage_history",
        "One row per time a deal entered a stage (re-entries allowed). A deal is in a stage "
        "from entered_at until its next row's entered_at.",
        (
            C("deal_id", "string", "The deal.", required=True),
            C("stage_id", "string", "The stage it entered.", required=True),
            C("entered_at", "timestamp", "When it entered the stage (UTC).", required=True),
            C("changed_by_rep_id", "string", "Who moved it, if known."),
        ),
        ("deal_id", "entered_at", "stage_id"),
        (
            FK("deal_id", "deals", "deal_id"),
            FK("stage_id", "stages", "stage_id"),
            FK("changed_by_rep_id", "reps", "rep_id"),
        ),
    ),
    Table(
        "deal_field_history",
        "One row per change of a deal's amount, expected close date or probability: the "
        "values right after the change (Salesforce OpportunityHistory, HubSpot property "
        "history). Empty = not known at that time. Feeds pipeline changes and slip rates.",
        (
            C("deal_id", "string", "The deal.", required=True),
            C("changed_at", "timestamp", "When the change was made (UTC).", required=True),
            C("amount", "float64", "The deal's amount after the change, in `currency`."),
            C("currency", "string", "ISO currency of `amount`."),
            C("expected_close_on", "date", "The expected close date after the change."),
            C("probability", "float64", "The CRM's win probability after the change (0-1)."),
            C("changed_by_rep_id", "string", "Who made the change, if known."),
        ),
        ("deal_id", "changed_at"),
        (
            FK("deal_id", "deals", "deal_id"),
            FK("changed_by_rep_id", "reps", "rep_id"),
        ),
    ),
    Table(
        "activities",
        "Logged sales activity: calls, e-mails, meetings, tasks and notes.",
        (
            C("activity_id", "string", "Identifier of the activity.", required=True),
            C(
                "activity_type",
                "string",
                "call, email, meeting, task or note.",
                required=True,
                allowed=ACTIVITY_TYPES,
            ),
            C(
                "direction",
                "string",
                "outbound (by the rep) or inbound (by the prospect).",
                allowed=ACTIVITY_DIRECTIONS,
            ),
            C(
                "outcome",
                "string",
                "connected / no_answer / voicemail (calls), replied (e-mails), held / no_show "
                "(meetings).",
                allowed=ACTIVITY_OUTCOMES,
            ),
            C("rep_id", "string", "Rep who did or logged it."),
            C("lead_id", "string", "Lead it concerns."),
            C("deal_id", "string", "Deal it concerns."),
            C("account_id", "string", "Account it concerns."),
            C(
                "occurred_at",
                "timestamp",
                "When it happened or was logged (UTC); for tasks: when created.",
                required=True,
            ),
            C("due_at", "timestamp", "Tasks: when it is due (UTC)."),
            C("completed_at", "timestamp", "Tasks: when it was done (UTC); empty = not done."),
            C("subject", "string", "Subject line or short description."),
        ),
        ("activity_id",),
        (
            FK("rep_id", "reps", "rep_id"),
            FK("lead_id", "leads", "lead_id"),
            FK("deal_id", "deals", "deal_id"),
            FK("account_id", "accounts", "account_id"),
        ),
    ),
    Table(
        "contracts",
        "Signed contracts or orders: what customers bought, for how long. Basis of ACV, CLV and "
        "customer retention.",
        (
            C("contract_id", "string", "Identifier of the contract/order.", required=True),
            C("account_id", "string", "Customer account.", required=True),
            C("deal_id", "string", "Deal that led to it."),
            C("product_id", "string", "Product sold."),
            C("signed_on", "date", "Date signed (orders: order date).", required=True),
            C("start_on", "date", "First day of the term.", required=True),
            C("end_on", "date", "Last day of the term; empty = open-ended."),
            C(
                "value",
                "float64",
                "Total contract value over the whole term, in `currency`.",
                required=True,
            ),
            C("currency", "string", "ISO currency of `value`."),
            C(
                "billing_period",
                "string",
                "Subscriptions: how often the recurring charge is billed (month, quarter or "
                "year); empty = a one-off order or contract.",
                allowed=BILLING_PERIODS,
            ),
            C(
                "recurring_amount",
                "float64",
                "Subscriptions: the charge per billing period, in `currency`.",
            ),
        ),
        ("contract_id",),
        (
            FK("account_id", "accounts", "account_id"),
            FK("deal_id", "deals", "deal_id"),
            FK("product_id", "products", "product_id"),
        ),
    ),
    Table(
        "targets",
        "Targets (quotas) for a KPI per period, per rep, per team or for the whole company.",
        (
            C("target_id", "string", "Identifier of the target.", required=True),
            C("kpi_id", "string", "KPI the target is for (e.g. won_revenue, W1).", required=True),
            C(
                "period_grain",
                "string",
                "month, quarter or year.",
                required=True,
                allowed=TARGET_GRAINS,
            ),
            C("period_start", "date", "First day of the period.", required=True),
            C("rep_id", "string", "Rep the target is for (empty for team/company targets)."),
            C("team_id", "string", "Team the target is for (empty for rep/company targets)."),
            C("value", "float64", "Target value in the KPI's unit.", required=True),
        ),
        ("target_id",),
        (FK("rep_id", "reps", "rep_id"), FK("team_id", "teams", "team_id")),
    ),
    Table(
        "currency_rates",
        "Exchange rates to the reporting currency, valid from a date until the next rate.",
        (
            C("currency", "string", "ISO currency converted from.", required=True),
            C("valid_from", "date", "First day the rate applies.", required=True),
            C(
                "rate",
                "float64",
                "Reporting-currency units per one unit of `currency`.",
                required=True,
            ),
        ),
        ("currency", "valid_from"),
    ),
    Table(
        "custom_attributes",
        "Extra fields of accounts, leads and deals that the canonical model has no column for "
        "(lead type, landing page, contract type, …), one row per record and attribute, the "
        "value as text as exported.",
        (
            C(
                "record_table",
                "string",
                "Table of the record: accounts, leads or deals.",
                required=True,
                allowed=("accounts", "leads", "deals"),
            ),
            C(
                "record_id",
                "string",
                "The record's id (account_id, lead_id or deal_id).",
                required=True,
            ),
            C("name", "string", "Attribute name, as named in the mapping.", required=True),
            C("value", "string", "The value as text; empty = not filled in."),
        ),
        ("record_table", "record_id", "name"),
    ),
)

#: Tables salespulse keeps about itself (not CRM data): the import log. Not counted as
#: canonical tables (``TABLES``), created by the same migrations.
SYSTEM_TABLES: tuple[Table, ...] = (
    Table(
        "data_settings",
        "Settings that belong to the data (reporting currency, fiscal-year start, time zone, "
        "...): one row per setting, the value as JSON. They override settings.toml.",
        (
            C("name", "string", "Setting name (see docs/settings.md).", required=True),
            C("value", "string", "The value, JSON-encoded.", required=True),
            C("updated_at", "timestamp", "When it was set (UTC).", required=True),
        ),
        ("name",),
    ),
    Table(
        "import_log",
        "One row per completed `salespulse import`: when, which mapping, how many rows.",
        (
            C("import_id", "string", "Identifier of the import (a UUID).", required=True),
            C("started_at", "timestamp", "When the import started (UTC).", required=True),
            C("finished_at", "timestamp", "When it was committed (UTC).", required=True),
            C("mapping_file", "string", "Path of the mapping file used.", required=True),
            C("mapping_sha256", "string", "SHA-256 of the mapping file."),
            C("inserted", "int64", "Rows inserted over all tables.", required=True),
            C("updated", "int64", "Rows whose values changed.", required=True),
            C("unchanged", "int64", "Rows already stored with the same values.", required=True),
            C("rejected", "int64", "Source rows skipped because of problems.", required=True),
            C("details", "string", "Counts per table, as JSON."),
        ),
        ("import_id",),
    ),
    Table(
        "import_files",
        "The files each import read, with their SHA-256 hashes.",
        (
            C("import_id", "string", "The import.", required=True),
            C("source", "string", "Source name in the mapping file.", required=True),
            C("table_name", "string", "Canonical table the file filled.", required=True),
            C("path", "string", "Path of the file as read.", required=True),
            C("sha256", "string", "SHA-256 of the file's bytes.", required=True),
            C("bytes", "int64", "File size in bytes."),
            C("rows", "int64", "Data rows read from the file."),
        ),
        ("import_id", "source", "path"),
        (FK("import_id", "import_log", "import_id"),),
    ),
    Table(
        "sync_state",
        "Where each live CRM sync (`salespulse sync`) stands: one cursor per source and "
        "object, stored in the same transaction as the data it covers.",
        (
            C("source", "string", "The CRM: hubspot or salesforce.", required=True),
            C("object", "string", "The API object (deals, Opportunity, ...).", required=True),
            C(
                "cursor",
                "string",
                "Last modification time already loaded (ISO 8601, UTC).",
                required=True,
            ),
            C("updated_at", "timestamp", "When the cursor was stored (UTC).", required=True),
        ),
        ("source", "object"),
    ),
    Table(
        "data_version",
        "At most one row: a new random version in the same transaction as every write "
        "(import, generate, `Store.load`). The web app's page cache is keyed on it.",
        (
            C("version", "string", "A random identifier (UUID), new each write.", required=True),
            C("updated_at", "timestamp", "When the data last changed (UTC).", required=True),
        ),
        ("version",),
    ),
    Table(
        "stage_visits",
        "Derived from deal_stage_history and stages (rebuilt by every write that changes "
        "them, see warehouse/derived.py): each history row with a known stage, with the "
        "deal's next entry, its visit number and the previous row's stage.",
        (
            C("deal_id", "string", "The deal.", required=True),
            C("stage_id", "string", "The stage it entered.", required=True),
            C("entered_at", "timestamp", "When it entered the stage (UTC).", required=True),
            C("changed_by_rep_id", "string", "Who moved it, if known."),
            C("next_entered_at", "timestamp", "The deal's next entry (UTC); null if last."),
            C("visit", "int64", "1 for the deal's first history row, 2 for its second, …."),
            C("prev_stage_id", "string", "The previous row's stage; null on the first."),
            C("prev_stage_order", "int64", "That stage's stage_order."),
        ),
        ("deal_id", "entered_at", "stage_id"),
    ),
    Table(
        "derived_state",
        "Which data version each derived table was last brought up to date for.",
        (
            C("name", "string", "The derived table.", required=True),
            C("data_version", "string", "The data_version it matches.", required=True),
            C("fingerprint", "string", "Row count and hash of its sources.", required=True),
        ),
        ("name",),
    ),
    Table(
        "users",
        "People who may log in to the web app, with their role (see docs/security.md).",
        (
            C("user_id", "string", "Identifier of the user (random).", required=True),
            C("username", "string", "Login name (unique, lower case).", required=True),
            C("password_hash", "string", "argon2id hash of the password.", required=True),
            C("role", "string", "admin, manager or rep.", required=True, allowed=USER_ROLES),
            C("rep_id", "string", "The rep this user is (role rep: sees only their records)."),
            C("team_ids", "string", "Teams a manager manages, comma-separated (empty: all)."),
            C("created_at", "timestamp", "When the user was added (UTC).", required=True),
            C("updated_at", "timestamp", "Last change of role or password (UTC).", required=True),
        ),
        ("user_id",),
    ),
    Table(
        "sessions",
        "Web sessions after a login; the cookie holds a secret whose SHA-256 is stored here.",
        (
            C("session_hash", "string", "SHA-256 (hex) of the session secret.", required=True),
            C("user_id", "string", "Who logged in.", required=True),
            C(
                "csrf_token",
                "string",
                "Token every form post of the session must carry.",
                required=True,
            ),
            C("created_at", "timestamp", "Login time (UTC).", required=True),
            C("expires_at", "timestamp", "When the session ends (UTC).", required=True),
        ),
        ("session_hash",),
        (FK("user_id", "users", "user_id"),),
    ),
    Table(
        "api_tokens",
        "Bearer tokens for the HTTP API, per user; only the SHA-256 of each token is stored.",
        (
            C(
                "token_id",
                "string",
                "Identifier of the token (shown by `users token list`).",
                required=True,
            ),
            C("user_id", "string", "Owner; the token acts with the owner's role.", required=True),
            C("name", "string", "What the token is for."),
            C("token_hash", "string", "SHA-256 (hex) of the token.", required=True),
            C("created_at", "timestamp", "When it was created (UTC).", required=True),
            C("revoked_at", "timestamp", "When it was revoked (UTC); empty while valid."),
        ),
        ("token_id",),
        (FK("user_id", "users", "user_id"),),
    ),
    Table(
        "audit_log",
        "Security-relevant events: logins, logouts, user and token changes, imports, settings.",
        (
            C("event_id", "string", "Identifier of the event (random).", required=True),
            C("at", "timestamp", "When it happened (UTC).", required=True),
            C(
                "event",
                "string",
                "What happened, e.g. login.failure, user.add, import.",
                required=True,
            ),
            C("actor", "string", "Who did it (username; empty: the command line)."),
            C("subject", "string", "What it was done to (a username, a token id, a file)."),
            C("ip", "string", "Client address (web requests)."),
            C("detail", "string", "More, as JSON."),
        ),
        ("event_id",),
    ),
)

#: Tables the forecast keeps (``salespulse forecast snapshot``, categories, adjustments).
FORECAST_TABLES: tuple[Table, ...] = (
    Table(
        "forecast_snapshots",
        "The forecast as of a date, per method, period and group (total, rep, team, product): "
        "expected won revenue and its P10/P50/P90 range. Taken by `salespulse forecast "
        "snapshot`; past ones are reconstructed from history.",
        (
            C("as_of", "date", "The day the forecast is as of (known at its end).", required=True),
            C("method", "string", "Forecast method (docs/forecast.md).", required=True),
            C("grain", "string", "month or quarter.", required=True),
            C("period_start", "date", "First day of the period.", required=True),
            C("period_end", "date", "Last day of the period.", required=True),
            C("breakdown", "string", "total, rep, team or product.", required=True),
            C(
                "group_id",
                "string",
                "The rep, team or product id ('all' for total).",
                required=True,
            ),
            C("expected", "float64", "Expected won revenue (reporting currency).", required=True),
            C("p10", "float64", "10th percentile; empty = no range."),
            C("p50", "float64", "Median."),
            C("p90", "float64", "90th percentile."),
            C("taken_at", "timestamp", "When the snapshot was stored (UTC).", required=True),
        ),
        ("as_of", "method", "grain", "period_start", "breakdown", "group_id"),
    ),
    Table(
        "forecast_snapshot_deals",
        "Per open deal and method, what a forecast snapshot assumed.",
        (
            C("as_of", "date", "The snapshot's as-of date.", required=True),
            C("method", "string", "Forecast method.", required=True),
            C("deal_id", "string", "The deal.", required=True),
            C("rep_id", "string", "Its owner then."),
            C("stage_id", "string", "Its stage then."),
            C("amount_eur", "float64", "Its amount then, in the reporting currency."),
            C("expected_close_on", "date", "Its expected close date then."),
            C("p_win", "float64", "Win probability.", required=True),
            C("p_in_horizon", "float64", "Probability of being won within the horizon."),
            C("expected_in_horizon", "float64", "Amount × that probability."),
            C("category", "string", "commit, best_case, pipeline or omitted (by the rule)."),
        ),
        ("as_of", "method", "deal_id"),
    ),
    Table(
        "forecast_overrides",
        "Forecast categories set by hand per deal, and a manager's adjusted forecast per rep "
        "and period — each with who set it and when. The latest row per key counts.",
        (
            C(
                "kind",
                "string",
                "category (per deal) or adjustment (per rep and period).",
                required=True,
            ),
            C("deal_id", "string", "The deal (categories)."),
            C("rep_id", "string", "The rep (adjustments)."),
            C("period_start", "date", "First day of the period (adjustments)."),
            C("category", "string", "commit, best_case, pipeline or omitted (categories)."),
            C("amount", "float64", "The adjusted forecast (adjustments)."),
            C("set_by", "string", "Who set it (rep or manager id, or a name).", required=True),
            C("set_at", "timestamp", "When (UTC).", required=True),
            C("note", "string", "Why."),
        ),
        ("kind", "set_at", "set_by"),
    ),
    Table(
        "forecast_calibrations",
        "How much wider than simulated a method's P10–P90 range has to be, learned by "
        "`salespulse forecast backtest --save` from the periods over by its as-of date; "
        "forecasts as of that date or later apply the latest one (docs/forecast.md).",
        (
            C("method", "string", "Forecast method.", required=True),
            C("horizon", "string", "month or quarter.", required=True),
            C("as_of", "date", "The backtest's as-of date.", required=True),
            C("scale", "float64", "Half-width factor (1 = as simulated).", required=True),
            C("n_periods", "int64", "Periods it was learned from.", required=True),
            C("computed_at", "timestamp", "When it was stored (UTC).", required=True),
            C(
                "coverage",
                "float64",
                "Share of the backtest's scored periods whose actual fell inside the "
                "calibrated range (its track record; 0.8 is right).",
            ),
            C("coverage_n", "int64", "Scored periods behind `coverage`."),
        ),
        ("method", "horizon", "as_of"),
    ),
)

#: Versioned scoring models (``salespulse score train``), newest per target in use.
SCORING_TABLES: tuple[Table, ...] = (
    Table(
        "score_models",
        "Trained likelihood-to-close (deal_won) and lead (lead_won) models, one row per "
        "training run; the newest per target scores. The model is JSON (no pickle).",
        (
            C("model_id", "string", "Identifier of the run (random).", required=True),
            C("target", "string", "deal_won or lead_won.", required=True),
            C("trained_at", "timestamp", "When it was trained (UTC).", required=True),
            C("data_version", "string", "The data version it was trained on.", required=True),
            C("chosen", "string", "The model in use: lightgbm, logistic, naive_bayes, stage."),
            C("verdict", "string", "signal beyond stage, or no signal beyond stage."),
            C("features", "string", "Features used (JSON list).", required=True),
            C("metrics", "string", "The evaluation (JSON, as `score evaluate`).", required=True),
            C("model_blob", "string", "The chosen model and its calibration (JSON)."),
            C("stage_blob", "string", "The stage baseline and its calibration (JSON)."),
        ),
        ("model_id",),
    ),
)

SYSTEM_TABLES = (*SYSTEM_TABLES, *FORECAST_TABLES, *SCORING_TABLES)

TABLES_BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}


def table(name: str) -> Table:
    """The canonical table called ``name``."""
    try:
        return TABLES_BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; known: {', '.join(TABLES_BY_NAME)}") from None


def iter_columns() -> Iterator[tuple[Table, Column]]:
    for t in TABLES:
        for c in t.columns:
            yield t, c
