"""DuckDB's resources, chosen on purpose: threads, memory limit, spill directory.

Applied to every DuckDB database the product opens (``SET`` right after connecting; they
are per database instance, so every connection to a file sees the same values). The
defaults suit the machines salespulse runs on — one process among others:

* ``threads``: one per CPU core this process may run on (its affinity mask, so a container
  or ``taskset`` limit counts; DuckDB itself would count every core of the machine);
* ``memory_limit``: 60 % of physical memory (DuckDB's own default is 80 %, too greedy
  beside a web server, the pandas side of a report and other processes); beyond it DuckDB
  spills to the temporary directory instead of failing;
* ``temp_directory``: ``<database file>.tmp`` beside the file (where DuckDB would put it)
  and, for an in-memory database, ``<workspace>/tmp`` (DuckDB's default would be ``.tmp``
  in whatever directory the command runs in).

Override with the ``duckdb_threads``, ``duckdb_memory_limit`` and ``duckdb_temp_directory``
settings in ``settings.toml`` (docs/settings.md). They belong to the machine, not to the
data, so they are read from the settings file only, never from a database.

**Worker processes** (``salespulse serve --workers N``, services/workers.py) each open the
database themselves, so each would take the whole budget. Each worker is given its share
instead (:func:`worker_settings`, applied with :func:`use`): the memory limit divided by
N + 1 (the server process keeps one share's worth of headroom: it answers requests and
computes little itself) and the threads divided by N, at least one each (the workers do
the computing; on 2 cores, 2 workers get one thread each).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from salespulse.errors import UserError

if TYPE_CHECKING:
    from salespulse.settings import Settings

#: Share of physical memory DuckDB may use by default.
MEMORY_SHARE = 0.6

#: The settings (docs/settings.md) that configure the engine, not the KPIs.
ENGINE_SETTINGS = ("duckdb_threads", "duckdb_memory_limit", "duckdb_temp_directory")


@dataclass(frozen=True)
class EngineConfig:
    threads: int
    memory_limit: str
    temp_directory: str


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def physical_memory() -> int | None:
    """Bytes of physical memory (None when the platform does not say)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return None


#: The engine settings this process uses instead of the settings file (:func:`use`).
_given: list[Settings] = []

_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def _bytes(limit: str) -> int | None:
    """``"4GB"`` / ``"512 MiB"`` in bytes (None: not a size this understands)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", limit.lower())
    if not m or m.group(2) not in _UNITS:
        return None
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def _default_memory() -> str:
    total = physical_memory()
    return f"{int(total * MEMORY_SHARE) // 2**20}MiB" if total else ""


def worker_settings(settings: Settings, workers: int) -> Settings:
    """``settings`` for one of ``workers`` worker processes beside the server: the memory
    limit (configured, else 60 % of physical memory) / (workers + 1) and the threads
    (configured, else this process's cores) / workers, at least one. A limit this cannot
    read is passed on as it is (DuckDB then refuses it with the usual error)."""
    n = max(1, workers)
    memory = settings.duckdb_memory_limit or _default_memory()
    size = _bytes(memory) if memory else None
    if size is not None:
        memory = f"{size // (n + 1) // 2**20}MiB"
    threads = max(1, (settings.duckdb_threads or cores()) // n)
    return settings.with_(duckdb_memory_limit=memory, duckdb_threads=threads)


def use(settings: Settings) -> None:
    """Take the engine settings of every database this process opens from now on from
    ``settings`` rather than the settings file (a worker process: :func:`worker_settings`)."""
    _given[:] = [settings]


def config(path: Path | None) -> EngineConfig:
    """The configuration for the database file ``path`` (None: in memory)."""
    from salespulse.settings import load_settings
    from salespulse.warehouse.store import workspace

    s = _given[0] if _given else load_settings()
    threads = s.duckdb_threads or cores()
    memory = s.duckdb_memory_limit or _default_memory()
    temp = s.duckdb_temp_directory or (
        f"{path}.tmp" if path is not None else str(workspace() / "tmp")
    )
    return EngineConfig(threads, memory, temp)


def apply(raw: duckdb.DuckDBPyConnection, path: Path | None) -> EngineConfig:
    """Set the engine configuration on a new connection; returns what was set."""
    c = config(path)
    try:
        raw.execute(f"SET threads = {int(c.threads)}")
        if c.memory_limit:
            raw.execute("SET memory_limit = ?", [c.memory_limit])
        raw.execute("SET temp_directory = ?", [c.temp_directory])
    except duckdb.Error as exc:
        raise UserError(
            f"DuckDB refused the engine settings ({c}): {exc}",
            hint="check duckdb_threads, duckdb_memory_limit and duckdb_temp_directory "
            "in settings.toml",
        ) from exc
    return c


def apply_postgres(raw: Any) -> None:
    """Settings for a new PostgreSQL session (``raw``: the psycopg connection).

    ``jit = off``: the engine's generated SQL is large (a derived KPI: ~190 KB, hundreds of
    expressions) and the planner's cost estimates for its joins are far above
    ``jit_above_cost``, so PostgreSQL compiled it with LLVM before running it — 15.8 s of
    a 15.9 s ``deal_velocity`` on the demo data (0.3 s without JIT).
    """
    with raw.cursor() as cur:
        cur.execute("SET jit = off")
    if not raw.autocommit:
        raw.commit()
