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
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from salespulse.errors import UserError

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


def config(path: Path | None) -> EngineConfig:
    """The configuration for the database file ``path`` (None: in memory)."""
    from salespulse.settings import load_settings
    from salespulse.warehouse.store import workspace

    s = load_settings()
    threads = s.duckdb_threads or cores()
    memory = s.duckdb_memory_limit
    if not memory:
        total = physical_memory()
        memory = f"{int(total * MEMORY_SHARE) // 2**20}MiB" if total else ""
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
