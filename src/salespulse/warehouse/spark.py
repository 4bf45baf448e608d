"""Spark: the KPI catalogue on a Spark session, over a Parquet snapshot of the store.

A *snapshot* is a folder with one Parquet folder per table (``<folder>/<table>/*.parquet``),
written from the DuckDB file or PostgreSQL database that imports and syncs write to
(:func:`export`, ``salespulse spark export``). ``spark:<folder>`` opens it as a read-only
:class:`SparkStore`: every table becomes a temporary view of a Spark session and the
semantic layer compiles the same Ibis expressions for Spark (Ibis's ``pyspark`` backend).

Location: ``spark:/data/snapshot`` (or ``spark:///data/snapshot``, or any URI Spark reads,
``spark:hdfs://nn/salespulse``, ``spark:s3a://bucket/salespulse``), with optional query
parameters: ``master`` (default ``$SALESPULSE_SPARK_MASTER``, else ``local[*]``) and any
``spark.*`` configuration, e.g.
``spark:/data/snapshot?master=local[2]&spark.sql.shuffle.partitions=4``.

What is read-only: everything. A snapshot is a copy as of one data version (its
``data_version`` table travels with it); imports, syncs, ``generate``, settings, forecast
snapshots, users and models are written to the source database, then exported again.
Accounts, sessions and tokens of the web app are not exported (they are not data and they
hold password hashes); the web server does not run on Spark.

Timestamps are naive UTC everywhere in the model: the session's time zone is UTC.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import pyarrow as pa
import pyarrow.dataset as pads

from salespulse.errors import UserError
from salespulse.warehouse.schema import SCHEMA_VERSION, SYSTEM_TABLES, TABLES
from salespulse.warehouse.store import Store

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SCHEME = "spark:"

#: System tables that are not exported: the web app's accounts and secrets, the live
#: sync's cursors, and DuckDB's derived tables (Spark uses the window path).
NOT_EXPORTED = frozenset(
    {"users", "sessions", "api_tokens", "audit_log", "sync_state", "stage_visits", "derived_state"}
)

#: The tables a snapshot holds, in export order.
EXPORTED: tuple[str, ...] = (
    *(t.name for t in TABLES),
    *(t.name for t in SYSTEM_TABLES if t.name not in NOT_EXPORTED),
    "schema_migrations",
)

#: Settings for a session this module starts in local mode (a cluster's own defaults win
#: for anything not given here or in the location).
LOCAL_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "8",
    "spark.driver.memory": "2g",
}

#: Rows per Parquet file in a snapshot (a cluster reads the files in parallel).
ROWS_PER_FILE = 1_000_000


def is_spark(location: str) -> bool:
    return location.startswith(SCHEME)


@dataclass(frozen=True)
class Location:
    """A parsed ``spark:`` location: the snapshot folder, the master, extra configuration."""

    folder: str
    master: str
    conf: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, location: str) -> Location:
        rest = location[len(SCHEME) :]
        rest, _, query = rest.partition("?")
        if rest.startswith("//"):  # spark:///data/x → /data/x
            rest = rest[2:]
        if not rest:
            raise UserError(
                f"{location}: no snapshot folder",
                hint="write one with `salespulse spark export FOLDER`, then use --db spark:FOLDER",
            )
        params = dict(parse_qsl(query, keep_blank_values=True))
        master = params.pop("master", "") or os.environ.get("SALESPULSE_SPARK_MASTER", "")
        unknown = sorted(k for k in params if not k.startswith("spark."))
        if unknown:
            raise UserError(
                f"{location}: unknown parameter(s) {', '.join(unknown)}",
                hint="use master=… and spark.* configuration keys",
            )
        return cls(rest, master or "local[*]", params)

    @property
    def local_folder(self) -> Path | None:
        """The folder on this machine, or None for a URI only Spark reads (hdfs://, s3a://)."""
        if "://" in self.folder and not self.folder.startswith("file://"):
            return None
        return Path(self.folder.removeprefix("file://")).expanduser()


# -- the session ------------------------------------------------------------------------
def session(loc: Location) -> SparkSession:
    """A new Spark session (own temporary views and SQL settings) on the process's Spark
    context, which is started with ``loc.master`` the first time.

    Raises :class:`UserError` when PySpark is not installed or Spark cannot start (no Java).
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise UserError(
            "the Spark engine is not installed",
            hint="pip install 'salespulse[spark]' (needs Java 17)",
        ) from None
    base = SparkSession.getActiveSession()
    if base is None:
        local = loc.master.startswith("local")
        if local:
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = SparkSession.builder.appName("salespulse").master(loc.master)
        conf = {**(LOCAL_CONF if local else {}), **loc.conf}
        if local and "spark.sql.warehouse.dir" not in conf:
            scratch = Path(tempfile.mkdtemp(prefix="salespulse-spark-"))
            atexit.register(shutil.rmtree, scratch, ignore_errors=True)
            conf["spark.sql.warehouse.dir"] = str(scratch / "warehouse")
            if "spark.driver.extraJavaOptions" not in conf:  # a quiet start (no banner)
                log4j = scratch / "log4j2.properties"
                log4j.write_text(_LOG4J)
                conf["spark.driver.extraJavaOptions"] = f"-Dlog4j2.configurationFile={log4j}"
        for k, v in conf.items():
            builder = builder.config(k, v)
        try:
            base = builder.getOrCreate()
        except Exception as exc:  # the JVM did not start: Java missing, bad master
            raise UserError(
                f"cannot start Spark (master {loc.master}): {_first_line(exc)}",
                hint="Spark needs Java 17 (java on PATH or JAVA_HOME) and a reachable master",
            ) from exc
        # Spark's own log: only what stops it (errors reach the caller as exceptions)
        base.sparkContext.setLogLevel(loc.conf.get("spark.log.level", "FATAL"))
    s = base.newSession()
    for k, v in loc.conf.items():
        if not k.startswith(("spark.driver.", "spark.executor.", "spark.ui.", "spark.master")):
            s.conf.set(k, v)
    return s


#: Spark's log in local mode: errors only, on stderr (``spark.log.level`` changes it later).
_LOG4J = """rootLogger.level = error
rootLogger.appenderRef.stderr.ref = stderr
appender.console.type = Console
appender.console.name = stderr
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n
"""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# -- the store --------------------------------------------------------------------------
@dataclass
class SparkStore(Store):
    """A read-only store over a snapshot on a Spark session (see the module docstring)."""

    views: tuple[str, ...] = ()

    def transaction(self) -> AbstractContextManager[None]:
        return _refuse(self.location)

    def load(self, name: str, data: Any, *, replace: bool = False) -> int:
        with _refuse(self.location):
            return 0

    def close(self) -> None:
        """Drop this store's views; the Spark context lives as long as the process."""
        session = self.con._session
        for v in self.views:
            session.catalog.dropTempView(v)


@contextmanager
def _refuse(location: str) -> Iterator[None]:
    raise UserError(
        f"{location} is a read-only Spark snapshot",
        hint="write to the DuckDB or PostgreSQL database it came from, then run "
        "`salespulse spark export` again",
    )
    yield  # pragma: no cover


def open_store(location: str) -> SparkStore:
    """Open snapshot ``location`` (``spark:…``) on a Spark session."""
    import ibis

    loc = Location.parse(location)
    local = loc.local_folder
    if local is not None and not (local / "schema_migrations").is_dir():
        raise UserError(
            f"no salespulse snapshot at {local}",
            hint="write one with `salespulse spark export FOLDER`",
        )
    s = session(loc)
    con = ibis.pyspark.connect(s)
    root = loc.folder.rstrip("/")
    views = []
    for name in EXPORTED:
        if local is not None and not (local / name).is_dir():
            continue  # a snapshot written by an older salespulse: the table comes later
        try:
            s.read.parquet(f"{root}/{name}").createOrReplaceTempView(name)
        except Exception as exc:
            raise UserError(f"cannot read {root}/{name}: {_first_line(exc)}") from exc
        views.append(name)
    store = SparkStore(con, location, read_only=True, views=tuple(views))
    version = store.schema_version()
    if version != SCHEMA_VERSION:
        store.close()
        raise UserError(
            f"the snapshot at {loc.folder} has schema version {version}; this salespulse "
            f"reads version {SCHEMA_VERSION}",
            hint="export it again with this salespulse (`salespulse spark export`)",
        )
    return store


# -- export -----------------------------------------------------------------------------
def export(
    store: Store,
    folder: str | Path,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, int]:
    """Write a snapshot of ``store`` to ``folder`` (replacing one that is there) and return
    the rows per table.

    Written beside the target first and swapped in when complete, so a reader never sees
    half a snapshot of one version. Reads the store in one turn (one data version).
    """
    target = Path(folder).expanduser()
    is_snapshot = (target / "schema_migrations").is_dir()
    if target.exists() and not is_snapshot and (not target.is_dir() or any(target.iterdir())):
        raise UserError(
            f"{target} exists and is not a salespulse snapshot",
            hint="give an empty or new folder",
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    work = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.tmp"
    counts: dict[str, int] = {}
    try:
        with store.reading():
            present = set(store.con.list_tables())
            names = [n for n in EXPORTED if n in present]
            for i, name in enumerate(names):
                if progress:
                    progress("export", i, len(names))
                data = store.con.table(name).to_pyarrow()
                _write(data, work / name)
                counts[name] = data.num_rows
            if progress:
                progress("export", len(names), len(names))
        old = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.old"
        if target.exists():
            target.rename(old)
        work.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return counts


def _write(data: pa.Table, folder: Path) -> None:
    """One table as Parquet files in ``folder`` (an empty table still gets its schema)."""
    folder.mkdir(parents=True)
    pads.write_dataset(
        data,
        folder,
        format="parquet",
        basename_template="part-{i}.parquet",
        max_rows_per_file=ROWS_PER_FILE,
        max_rows_per_group=min(ROWS_PER_FILE, 256 * 1024),
        existing_data_behavior="overwrite_or_ignore",
    )
    if not any(folder.iterdir()):
        import pyarrow.parquet as pq

        pq.write_table(data, folder / "part-0.parquet")
