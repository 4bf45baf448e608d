"""A DuckDB file the web server reads while other processes import into it.

The server must never keep ``salespulse import`` out for long, and DuckDB allows no writer
while any reader has the file open (see :mod:`salespulse.warehouse.access`). So
:class:`SharedStore` opens the file **read-only**, lends every computation its own cursor
(DuckDB runs them in parallel; each cursor has its own temporary tables) and takes it back
afterwards for the next one — a KPI's compiled SQL (``semantic/sqlcache.py``) and
in-memory tables belong to the cursor it was built on, so a fresh cursor per computation
built every query again — and **closes the
file whenever a writer asks for it**: a writer's sidecar lock stops new computations from
starting; the last running one closes the connection. The next computation after the
writer is done reopens the file and sees the new data.

Because nobody can write while the server has the file open, the data version read when
the file was opened stays exact until it is closed: :meth:`SharedStore.data_version` costs
nothing in between, and one tiny query after a reopen.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path

import duckdb
from ibis.backends import BaseBackend

from salespulse.errors import UserError
from salespulse.warehouse import migrations
from salespulse.warehouse.access import DatabaseBusy, WriterProbe, open_duckdb
from salespulse.warehouse.engine import DuckDBBackend, duckdb_backend
from salespulse.warehouse.schema import SCHEMA_VERSION
from salespulse.warehouse.store import VERSION_TABLE, Store, connect

#: Idle cursors kept open (more computations at once than this open new ones).
MAX_IDLE = 8
#: A cursor that registered this many in-memory tables (each query shape built on it adds
#: a few: its periods, snapshot points, calendar) is closed rather than kept, which frees
#: them.
MAX_MEMTABLES = 2000


class SharedStore(Store):
    """A read-only DuckDB file, opened while there is work and closed when a writer waits.

    Use it only inside :meth:`reading` (``store.con`` is the calling thread's cursor).
    """

    def __init__(self, path: str | Path, *, wait: float = 5.0, poll: float = 0.05):
        location = str(path)
        connect(location, create=False).close()  # exists, current schema (migrates if old)
        self.location = location
        self.read_only = True
        self._intent = None
        self._depth = 0
        self._engine = threading.RLock()
        self.version_max_age = 0.0
        self._path = Path(location).expanduser()
        self._wait = wait
        self._probe = WriterProbe(self._path)
        self._cond = threading.Condition()
        self._raw: duckdb.DuckDBPyConnection | None = None
        #: Cursors of ``_raw`` no computation uses now (most recently returned last).
        self._idle: list[DuckDBBackend] = []
        self._users = 0
        self._version = "initial"
        self._local = threading.local()
        self._closed = False
        #: How often the file was opened (for tests and the benchmark).
        self.opens = 0
        self._watcher = threading.Thread(
            target=self._watch, args=(poll,), name="salespulse-db-watch", daemon=True
        )
        self._watcher.start()

    def __repr__(self) -> str:
        return f"SharedStore({self.location!r})"

    # -- the Store interface -----------------------------------------------------------
    @property
    def con(self) -> BaseBackend:
        con: BaseBackend | None = getattr(self._local, "con", None)
        if con is None:
            raise RuntimeError("SharedStore used outside `with store.reading():`")
        return con

    @con.setter
    def con(self, value: BaseBackend) -> None:
        raise AttributeError("a SharedStore's connection is managed by reading()")

    @property
    def engine(self) -> str:
        return "duckdb"

    def reading(self, wait: float | None = None) -> AbstractContextManager[None]:
        """Hold the file open for one computation; ``store.con`` is this thread's cursor.

        Waits up to ``wait`` seconds (default: the store's) while a writer has the file,
        then raises :class:`DatabaseBusy`. Re-entrant within a thread.
        """
        return self._reading(self._wait if wait is None else wait)

    @contextmanager
    def _reading(self, wait: float) -> Iterator[None]:
        if getattr(self._local, "con", None) is not None:
            yield
            return
        raw = self._acquire(wait)
        try:
            con = self._lend(raw)
            self._local.con = con
            try:
                yield
            finally:
                self._local.con = None
                self._give_back(raw, con)
        finally:
            self._release()

    def _lend(self, raw: duckdb.DuckDBPyConnection) -> DuckDBBackend:
        """An idle cursor of ``raw`` (its Ibis backend), or a new one."""
        with self._cond:
            if raw is self._raw and self._idle:
                return self._idle.pop()
        return duckdb_backend(raw.cursor())

    def _give_back(self, raw: duckdb.DuckDBPyConnection, con: DuckDBBackend) -> None:
        """Keep ``con`` for the next computation while ``raw`` is open (its compiled SQL and
        in-memory tables stay usable); close it once it holds too many in-memory tables."""
        with self._cond:
            if (
                raw is self._raw
                and len(self._idle) < MAX_IDLE
                and con.memtables_created < MAX_MEMTABLES
            ):
                self._idle.append(con)
                return
        con.con.close()

    def data_version(self) -> str:
        """Exact and free while the file stays open; after a write, reopens it to read it.

        While a writer holds the file, the last version seen (the committed data the cache
        holds is still consistent, only not yet updated).
        """
        with self._cond:
            if self._raw is not None or self._probe.writer():
                return self._version
            try:
                self._open()
            except DatabaseBusy:
                return self._version
            if self._users == 0 and self._probe.writer():
                self._close_raw()
            return self._version

    def seen_version(self) -> str:
        """The version read when the file was last opened — by whichever computation or
        version check opened it; exact while it stays open. No lock, no query: a plain
        attribute read (health checks)."""
        return self._version

    def writer_active(self) -> bool:
        """Whether another process holds or waits for the file's writer lock."""
        with self._cond:
            return self._probe.writer()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._close_raw()
            self._probe.close()
            self._cond.notify_all()

    # -- the connection's life ---------------------------------------------------------
    def _acquire(self, wait: float) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + wait
        with self._cond:
            while True:
                if self._closed:
                    raise UserError("the database was closed")
                if not self._probe.writer():
                    if self._raw is None:
                        with suppress(DatabaseBusy):
                            self._open()
                    if self._raw is not None:
                        self._users += 1
                        return self._raw
                elif self._raw is not None and self._users == 0:
                    self._close_raw()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise DatabaseBusy()
                self._cond.wait(min(0.05, remaining))

    def _release(self) -> None:
        with self._cond:
            self._users -= 1
            if self._users == 0 and self._probe.writer():
                self._close_raw()
            self._cond.notify_all()

    def _open(self) -> None:
        raw = open_duckdb(self._path, read_only=True, wait=0)
        try:
            version = migrations.current_version(duckdb_backend(raw))
            if version != SCHEMA_VERSION:  # a writer changed the schema under us
                raise UserError(
                    f"{self.location} has schema version {version}, this server {SCHEMA_VERSION}",
                    hint="restart `salespulse serve`",
                )
            row = raw.execute(f"SELECT max(version) FROM {VERSION_TABLE}").fetchone()
        except BaseException:
            raw.close()
            raise
        self._raw = raw
        self._version = str(row[0]) if row and row[0] is not None else "initial"
        self.opens += 1

    def _close_raw(self) -> None:
        while self._idle:
            self._idle.pop().con.close()
        if self._raw is not None:
            self._raw.close()
            self._raw = None

    def _watch(self, poll: float) -> None:
        """Close an idle connection as soon as a writer waits (no request needs to come)."""
        while not self._closed:
            with self._cond:
                if self._raw is not None and self._users == 0 and self._probe.writer():
                    self._close_raw()
                    self._cond.notify_all()
            time.sleep(poll)


def open_served(location: str | Path | None) -> Store:
    """The database to serve: a DuckDB file shared with importers, or a server (URL)."""
    from salespulse.warehouse.store import default_db

    where = str(location) if location is not None else default_db()
    if "://" in where:
        return connect(where, create=False)
    return SharedStore(where)
