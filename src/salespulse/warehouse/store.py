"""The database that holds the canonical model: connect, create/migrate, load, inspect.

Everything engine-specific (how to connect, how to run a transaction) lives in this module;
the rest of the product sees an Ibis backend and canonical table names.

A *database* is given as a path to a DuckDB file (the embedded default) or as a URL
(``postgresql://user@host:port/db``, ``duckdb:///path``), or a read-only Parquet snapshot on
Spark (``spark:/folder``, :mod:`salespulse.warehouse.spark`). Without one, the workspace database
is used: ``$SALESPULSE_DB``, else ``$SALESPULSE_HOME/salespulse.duckdb``
(``SALESPULSE_HOME`` defaults to ``~/.salespulse``).

A DuckDB file is shared between processes as :mod:`salespulse.warehouse.access` describes:
``connect(db)`` opens it as the one writer, ``connect(db, create=False)`` read-only (many
readers may coexist; the web server uses :class:`salespulse.warehouse.shared.SharedStore`).
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ibis
import pandas as pd
import pyarrow as pa
from ibis.backends import BaseBackend

from salespulse.errors import UserError
from salespulse.warehouse import derived, migrations, tuning
from salespulse.warehouse.access import DEFAULT_WAIT, WriterIntent, open_duckdb
from salespulse.warehouse.engine import duckdb_backend, insert_arrow, transaction
from salespulse.warehouse.schema import SCHEMA_VERSION, TABLES, Table, table


def workspace() -> Path:
    """Folder that holds the default database and settings (``$SALESPULSE_HOME``)."""
    return Path(os.environ.get("SALESPULSE_HOME", Path.home() / ".salespulse")).expanduser()


def default_db() -> str:
    """The database used when no ``--db`` is given."""
    return os.environ.get("SALESPULSE_DB") or str(workspace() / "salespulse.duckdb")


def _is_url(db: str) -> bool:
    return "://" in db


@dataclass
class Store:
    """An open database holding the canonical model.

    ``con`` is the Ibis backend; KPI code reads ``store.table(name)``. ``read_only`` stores
    refuse writes (DuckDB enforces it). A writer store on a DuckDB file holds the file's
    writer lock until :meth:`close`.
    """

    con: BaseBackend
    location: str
    read_only: bool = False
    _intent: WriterIntent | None = field(default=None, repr=False)
    _depth: int = field(default=0, repr=False)
    _engine: threading.RLock = field(default_factory=threading.RLock, repr=False)

    #: How stale :meth:`data_version` may be, in seconds, when others can write without us
    #: noticing (PostgreSQL; a file shared through :class:`SharedStore` knows exactly).
    version_max_age: float = field(default=2.0, repr=False)
    #: The version of a DuckDB file opened read-only, read once (see :meth:`data_version`).
    _fixed_version: str | None = field(default=None, repr=False)

    @property
    def engine(self) -> str:
        return str(self.con.name)

    def seen_version(self) -> str | None:
        """The data version this store read last, without a lock or a query (None: it keeps
        none; ask :meth:`data_version`). For health checks, which must never wait."""
        return None

    # -- reading -----------------------------------------------------------------------
    def table(self, name: str) -> ibis.Table:
        table(name)  # raises for unknown names
        return self.con.table(name)

    def counts(self) -> dict[str, int]:
        """Row count per canonical table."""
        return {t.name: int(self.con.table(t.name).count().execute()) for t in TABLES}

    def schema_version(self) -> int:
        return migrations.current_version(self.con)

    def reading(self, wait: float | None = None) -> AbstractContextManager[None]:
        """Hold the store for one computation from this thread.

        A plain store has one Ibis backend, which is not safe to use from several threads at
        once: computations take turns. (:class:`SharedStore` gives each thread its own.)
        """
        return self._take_turn()

    @contextmanager
    def _take_turn(self) -> Iterator[None]:
        with self._engine:
            yield

    def data_version(self) -> str:
        """The data's version: a new value after every committed write (one tiny query).

        A DuckDB file opened read-only cannot change while it is open (no process may open
        it for writing then: :mod:`salespulse.warehouse.access`), so its version is read
        once (every KPI call asks for it)."""
        if self._fixed_version is not None:
            return self._fixed_version
        sql = f"SELECT max(version) FROM {VERSION_TABLE}"
        with self.reading():
            if self.engine == "duckdb":
                row = self.con.con.execute(sql).fetchone()
            elif self.engine != "postgres":  # engines without DB-API cursors (Spark)
                v = self.con.table(VERSION_TABLE).version.max().execute()
                row = (None if v is None or pd.isna(v) else v,)
            else:
                cur = self.con.raw_sql(sql)
                try:
                    row = cur.fetchone()
                finally:
                    cur.close()
        version = str(row[0]) if row and row[0] is not None else "initial"
        if self.read_only and self.engine == "duckdb" and self.location != ":memory:":
            self._fixed_version = version
        return version

    # -- writing -----------------------------------------------------------------------
    def transaction(self) -> AbstractContextManager[None]:
        """All-or-nothing: every write inside commits together or not at all.

        The outermost transaction gives the data a new version before it commits.
        """
        return self._transaction()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        if self._depth:  # nested: part of the outer transaction
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._depth = 1
        try:
            with transaction(self.con):
                yield
                self._bump_version()
        finally:
            self._depth = 0

    def _bump_version(self) -> None:
        now = utcnow().isoformat(sep=" ")
        version = str(uuid.uuid4())
        self.con.raw_sql(f"DELETE FROM {VERSION_TABLE}")
        self.con.raw_sql(f"INSERT INTO {VERSION_TABLE} VALUES ('{version}', TIMESTAMP '{now}')")
        derived.refresh(self.con, version)

    def load(self, name: str, data: pd.DataFrame | pa.Table, *, replace: bool = False) -> int:
        """Append (or with ``replace``, replace all) rows of canonical table ``name``.

        ``data`` must have the table's columns (missing nullable columns are filled with
        nulls; unknown columns are an error). Returns the number of rows written.
        """
        t = table(name)
        arrow = conform(t, data)
        with self.transaction():
            if replace:
                self.con.raw_sql(f'DELETE FROM "{name}"')
            if arrow.num_rows:
                insert_arrow(self.con, name, arrow)
        return int(arrow.num_rows)

    def load_all(
        self, frames: Mapping[str, pd.DataFrame | pa.Table], *, replace: bool = True
    ) -> dict[str, int]:
        """Load several tables in one transaction."""
        with self.transaction():
            return {name: self.load(name, data, replace=replace) for name, data in frames.items()}

    def close(self) -> None:
        try:
            self.con.disconnect()
        finally:
            if self._intent is not None:
                self._intent.release()
                self._intent = None


#: The system table that holds the data version (see :meth:`Store.data_version`).
VERSION_TABLE = "data_version"


def conform(t: Table, data: pd.DataFrame | pa.Table) -> pa.Table:
    """``data`` as an Arrow table with exactly ``t``'s columns, in order, with its types."""
    arrow = data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False)
    unknown = set(arrow.column_names) - set(t.column_names)
    if unknown:
        raise ValueError(f"{t.name}: unknown columns {sorted(unknown)}")
    target = t.ibis_schema().to_pyarrow()
    cols = []
    for f in target:
        if f.name in arrow.column_names:
            cols.append(arrow.column(f.name).cast(f.type))
        elif not t.column(f.name).nullable and arrow.num_rows:
            raise ValueError(f"{t.name}: required column {f.name!r} missing")
        else:
            cols.append(pa.nulls(arrow.num_rows, f.type))
    return pa.Table.from_arrays(cols, schema=pa.schema([f.with_nullable(True) for f in target]))


def connect(
    db: str | Path | None = None,
    *,
    create: bool = True,
    read_only: bool | None = None,
    wait: float = DEFAULT_WAIT,
) -> Store:
    """Open (and with ``create``, create or migrate) the database ``db``.

    ``read_only`` defaults to ``not create``: commands that only read open a DuckDB file
    read-only, so several can run at once and beside the web server. Opening waits up to
    ``wait`` seconds while another process writes the file.

    Raises :class:`UserError` when the database does not exist and ``create`` is false, when
    it was written by a newer salespulse, or (:class:`~salespulse.warehouse.access.DatabaseBusy`)
    when another process keeps it locked.
    """
    location = str(db) if db is not None else default_db()
    if location.startswith("spark:"):  # a read-only Parquet snapshot on Spark
        from salespulse.warehouse import spark

        return spark.open_store(location)
    ro = (not create) if read_only is None else read_only
    if _is_url(location) or location == ":memory:":
        try:
            con = ibis.connect(location) if _is_url(location) else duckdb_backend()
        except Exception as exc:  # connection failures are the user's to fix (URL, server)
            raise UserError(f"cannot open database {location}: {exc}") from exc
        if con.name == "duckdb" and location == ":memory:":
            tuning.apply(con.con, None)
        elif con.name == "postgres":
            tuning.apply_postgres(con.con)
        migrations.ensure_schema(con)
        return Store(con, location)
    path = Path(location).expanduser()
    if not path.exists():
        if not create:
            raise UserError(
                f"no database at {path}",
                hint="run `salespulse generate` or `salespulse import`, or pass --db",
            )
        path.parent.mkdir(parents=True, exist_ok=True)
    if ro:
        store = _open_file(path, location, read_only=True, wait=wait)
        version = store.schema_version()
        if version >= SCHEMA_VERSION:
            migrations.ensure_schema(store.con)  # raises for a newer schema
            return store
        store.close()  # an older schema: upgrade it as a writer, then read
        _open_file(path, location, read_only=False, wait=wait).close()
        return _open_file(path, location, read_only=True, wait=wait)
    return _open_file(path, location, read_only=False, wait=wait)


def _open_file(path: Path, location: str, *, read_only: bool, wait: float) -> Store:
    """A DuckDB file as a store; a writer takes the sidecar lock first and migrates."""
    intent = None if read_only else WriterIntent(path).acquire(wait)
    try:
        try:
            raw = open_duckdb(path, read_only=read_only, wait=wait)
        except UserError:
            raise
        except Exception as exc:  # not a database, no permission, ...
            raise UserError(f"cannot open database {location}: {exc}") from exc
        store = Store(duckdb_backend(raw), location, read_only, intent)
        if not read_only:
            migrations.ensure_schema(store.con)
    except BaseException:
        if intent is not None:
            intent.release()
        raise
    return store


def check_keys(store: Store) -> list[str]:
    """Problems with primary keys and references, as sentences (empty = all good)."""
    problems: list[str] = []
    for t in TABLES:
        tbl = store.con.table(t.name)
        dupes = (
            tbl.group_by(list(t.primary_key))
            .agg(n=ibis._.count())
            .filter(ibis._.n > 1)
            .count()
            .execute()
        )
        if dupes:
            problems.append(f"{t.name}: {dupes} duplicate key(s) on {', '.join(t.primary_key)}")
        for fk in t.foreign_keys:
            ref = store.con.table(fk.table).select(ref_key=fk.ref_column)
            orphans = (
                tbl.filter(tbl[fk.column].notnull())
                .anti_join(ref, tbl[fk.column] == ref.ref_key)
                .count()
                .execute()
            )
            if orphans:
                problems.append(
                    f"{t.name}.{fk.column}: {orphans} row(s) refer to an unknown "
                    f"{fk.table}.{fk.ref_column}"
                )
    return problems


def date_ranges(store: Store) -> dict[str, tuple[Any, Any]]:
    """First and last value of each table's main date column (for ``salespulse info``)."""
    main = {
        "leads": "created_at",
        "deals": "created_at",
        "deal_stage_history": "entered_at",
        "activities": "occurred_at",
        "contracts": "signed_on",
        "targets": "period_start",
        "accounts": "created_at",
        "reps": "hired_on",
        "currency_rates": "valid_from",
    }
    out: dict[str, tuple[Any, Any]] = {}
    for name, col in main.items():
        tbl = store.con.table(name)
        row = tbl.aggregate(lo=tbl[col].min(), hi=tbl[col].max()).execute()
        out[name] = (row["lo"].iloc[0], row["hi"].iloc[0])
    return out


def utcnow() -> datetime:
    """Now in UTC, as a naive timestamp (the model's convention)."""
    return datetime.now(UTC).replace(tzinfo=None)


__all__ = ["SCHEMA_VERSION", "Store", "check_keys", "connect", "default_db", "workspace"]
