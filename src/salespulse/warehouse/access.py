"""Sharing one DuckDB file between processes: one writer at a time, readers step aside.

DuckDB locks the database file itself: it is open either in **one** read-write process or
in any number of read-only processes, never both (verified with duckdb 1.5 on Linux; a
second opener gets "Could not set lock on file ..."; within one process a read-only and a
read-write connection to the same file cannot coexist either).

So salespulse coordinates through a small sidecar file, ``<database>.lock``:

* A **writer** (``import``, ``generate``, ``demo``) takes an exclusive ``flock`` on the
  sidecar for as long as its store is open, then opens the database read-write, retrying
  while readers still have it open.
* A **reader** (the web server, ``info``, ``kpi show``, ``salespulse.open()``) opens the
  database read-only. The server checks the sidecar before every computation and, when a
  writer is waiting, starts no new work, lets running work finish and closes its
  connection so the writer gets in (writers are preferred; readers cannot starve them).

``flock`` locks vanish with the process that held them, so a killed writer leaves nothing
to clean up. A lock that is not released in time becomes :class:`DatabaseBusy`: one line,
never DuckDB's own text.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from pathlib import Path

import duckdb

from salespulse.errors import UserError
from salespulse.warehouse import tuning

#: What a user sees when another salespulse process holds the database.
BUSY_MESSAGE = "the database is being updated by another salespulse process; try again in a moment"

#: What a writer sees when readers (a notebook, a long `kpi show`) keep the file open.
IN_USE_MESSAGE = "the database is open in another process; try again when that has finished"

#: How long CLI commands and the Python API wait for another process (seconds).
DEFAULT_WAIT = float(os.environ.get("SALESPULSE_LOCK_WAIT", "60"))


class Busy(Exception):
    """The server cannot answer now; the request may be retried (HTTP 503).

    Not a :class:`UserError`: nothing the user asked for is wrong, and a page that shows
    user errors inline must not show this one as its content. ``retry_after`` is a
    suggestion in seconds (the HTTP ``Retry-After`` header).
    """

    def __init__(self, message: str, hint: str | None = None, retry_after: int = 2) -> None:
        super().__init__(message)
        self.message, self.hint, self.retry_after = message, hint, retry_after

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class DatabaseBusy(UserError):
    """Another process holds the database longer than we were willing to wait.

    A :class:`UserError` (one line at the CLI, exit 2); the server answers it as
    :class:`Busy`.
    """

    retry_after = 2

    def __init__(self, hint: str | None = None, message: str = BUSY_MESSAGE) -> None:
        super().__init__(message, hint)


def is_lock_error(exc: BaseException) -> bool:
    """Whether ``exc`` is DuckDB refusing a file another connection holds."""
    text = str(exc)
    return (
        "Could not set lock on file" in text
        or "Conflicting lock" in text
        or "different configuration than existing connections" in text
    )


def lock_path(db: str | Path) -> Path:
    path = Path(db).expanduser()
    return path.with_name(path.name + ".lock")


def _open_sidecar(db: str | Path) -> int | None:
    try:
        return os.open(lock_path(db), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:  # a read-only folder: nobody can write there, nothing to coordinate
        return None


class WriterIntent:
    """The exclusive sidecar lock a writer holds while its store is open."""

    def __init__(self, db: str | Path):
        self.db = str(db)
        self._fd: int | None = None

    def acquire(self, wait: float = DEFAULT_WAIT) -> WriterIntent:
        fd = _open_sidecar(self.db)
        if fd is None:
            return self
        deadline = time.monotonic() + wait
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._fd = fd
                return self
            except BlockingIOError:
                pass
            if time.monotonic() >= deadline:
                os.close(fd)
                raise DatabaseBusy(hint=f"another salespulse process is writing {self.db}")
            if not told:
                _tell(f"waiting for another salespulse process writing {self.db} ...")
                told = True
            time.sleep(0.02)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class WriterProbe:
    """Tells a reader, cheaply (one ``flock`` call), whether a writer holds or wants the file."""

    def __init__(self, db: str | Path):
        self._fd = _open_sidecar(db)

    def writer(self) -> bool:
        if self._fd is None:
            return False
        try:
            fcntl.flock(self._fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        return False

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def open_duckdb(
    path: str | Path, *, read_only: bool, wait: float = DEFAULT_WAIT
) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect(path)``, retrying with backoff while another connection holds the file.

    Raises :class:`DatabaseBusy` after ``wait`` seconds; other failures propagate.
    """
    deadline = time.monotonic() + wait
    delay, told = 0.01, False
    while True:
        try:
            raw = duckdb.connect(str(path), read_only=read_only)
        except (duckdb.IOException, duckdb.ConnectionException) as exc:
            if not is_lock_error(exc):
                raise
        else:
            try:
                tuning.apply(raw, Path(path))
            except BaseException:
                raw.close()
                raise
            return raw
        if time.monotonic() + delay > deadline:
            if read_only:
                raise DatabaseBusy(hint=f"another process is writing {path}") from None
            raise DatabaseBusy(f"{path} is open for reading elsewhere", IN_USE_MESSAGE) from None
        if not told and wait >= 1:
            _tell(f"waiting for another process using {path} ...")
            told = True
        time.sleep(delay)
        delay = min(delay * 2, 0.25)


def _tell(message: str) -> None:
    """One line on stderr (CLI users should know why a command pauses)."""
    if sys.stderr is not None:
        print(message, file=sys.stderr, flush=True)
