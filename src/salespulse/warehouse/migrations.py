"""Schema versions and migrations.

A new database gets the current tables from :mod:`schema` and is stamped with
``SCHEMA_VERSION``. An older database is brought up to date by running, in order, each
migration whose version is above its own. Each step runs in its own transaction and is
recorded in ``schema_migrations`` (version, description, applied_at UTC).

To change the model: edit ``schema.TABLES``, bump ``SCHEMA_VERSION`` and append a
:class:`Migration` for that version that changes an existing database the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from ibis.backends import BaseBackend

from salespulse.errors import UserError
from salespulse.warehouse.engine import transaction
from salespulse.warehouse.schema import SCHEMA_VERSION, SYSTEM_TABLES, TABLES

META_TABLE = "schema_migrations"


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[BaseBackend], None]


def _create_canonical_tables(con: BaseBackend) -> None:
    for t in TABLES:
        con.raw_sql(t.create_sql())


def _create_system_tables(con: BaseBackend) -> None:
    for t in SYSTEM_TABLES:
        con.raw_sql(t.create_sql())


def _create(*names: str) -> Callable[[BaseBackend], None]:
    """A migration step that creates the named tables (canonical or system)."""

    def apply(con: BaseBackend) -> None:
        for t in (*TABLES, *SYSTEM_TABLES):
            if t.name in names:
                con.raw_sql(t.create_sql())

    return apply


def _create_tables(con: BaseBackend) -> None:
    """Every table of the current version (a new database)."""
    _create_canonical_tables(con)
    _create_system_tables(con)


def _attributes_and_subscriptions(con: BaseBackend) -> None:
    """v4: the custom_attributes table; contracts.billing_period and recurring_amount."""
    _create("custom_attributes")(con)
    con.raw_sql("ALTER TABLE contracts ADD COLUMN IF NOT EXISTS billing_period VARCHAR")
    con.raw_sql("ALTER TABLE contracts ADD COLUMN IF NOT EXISTS recurring_amount DOUBLE PRECISION")


def _stage_visits(con: BaseBackend) -> None:
    """v10: the derived stage_visits table (and derived_state), built for the current data."""
    from salespulse.warehouse import derived

    _create("stage_visits", "derived_state")(con)
    if derived.supported(con) and "data_version" in con.list_tables():
        row = con.con.execute("SELECT max(version) FROM data_version").fetchone()
        if row and row[0] is not None:
            derived.refresh(con, str(row[0]))


def _calibration_record(con: BaseBackend) -> None:
    """v12: forecast_calibrations.coverage and coverage_n (the calibrated range's record)."""
    for col, kind in (("coverage", "DOUBLE PRECISION"), ("coverage_n", "BIGINT")):
        con.raw_sql(f"ALTER TABLE forecast_calibrations ADD COLUMN IF NOT EXISTS {col} {kind}")


#: Version 1 is the first published model; later versions append here.
MIGRATIONS: list[Migration] = [
    Migration(1, "create the canonical CRM tables", _create_canonical_tables),
    Migration(2, "add the import log", _create("import_log", "import_files")),
    Migration(
        3,
        "add deal field history and data settings",
        _create("deal_field_history", "data_settings"),
    ),
    Migration(4, "add custom attributes and contract subscriptions", _attributes_and_subscriptions),
    Migration(5, "add the live-sync cursors", _create("sync_state")),
    Migration(
        6,
        "add forecast snapshots and overrides",
        _create("forecast_snapshots", "forecast_snapshot_deals", "forecast_overrides"),
    ),
    Migration(7, "add the data version", _create("data_version")),
    Migration(
        8,
        "add users, sessions, API tokens and the audit log",
        _create("users", "sessions", "api_tokens", "audit_log"),
    ),
    Migration(9, "add forecast range calibrations", _create("forecast_calibrations")),
    Migration(10, "add the derived stage visits", _stage_visits),
    Migration(11, "add the versioned scoring models", _create("score_models")),
    Migration(12, "add the track record to forecast calibrations", _calibration_record),
]


def current_version(con: BaseBackend) -> int:
    """The schema version of the database (0 = empty, no salespulse tables)."""
    if META_TABLE not in con.list_tables():
        return 0
    v = con.table(META_TABLE).version.max().execute()
    return int(v) if v is not None else 0


def _record(con: BaseBackend, version: int, description: str) -> None:
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    desc = description.replace("'", "''")
    con.raw_sql(f"INSERT INTO {META_TABLE} VALUES ({version}, '{desc}', TIMESTAMP '{now}')")


def ensure_schema(
    con: BaseBackend, migrations: list[Migration] | None = None, target: int = SCHEMA_VERSION
) -> list[int]:
    """Create or upgrade the model in ``con``; returns the versions applied."""
    steps = MIGRATIONS if migrations is None else migrations
    version = current_version(con)
    if version > target:
        raise UserError(
            f"this database has schema version {version}, newer than this salespulse "
            f"understands ({target})",
            hint="upgrade salespulse (pip install -U salespulse)",
        )
    if version == target:
        return []
    applied: list[int] = []
    if version == 0:

        def create() -> None:
            con.raw_sql(
                f"CREATE TABLE IF NOT EXISTS {META_TABLE} (version BIGINT NOT NULL, "
                "description VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
            )
            _create_tables(con)
            _record(con, target, f"created at schema version {target}")

        with transaction(con):
            create()
        return [target]
    for m in sorted(steps, key=lambda m: m.version):
        if version < m.version <= target:

            def step(m: Migration = m) -> None:
                m.apply(con)
                _record(con, m.version, m.description)

            with transaction(con):
                step()
            applied.append(m.version)
    return applied
