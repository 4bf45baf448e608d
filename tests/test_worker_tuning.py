"""Each worker process of ``salespulse serve`` gets its share of DuckDB's memory and threads
(warehouse/tuning.py): what its own connection reports is what it was given."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from salespulse.services.service import Service
from salespulse.services.workers import Workers
from salespulse.settings import Settings
from salespulse.warehouse import tuning
from salespulse.warehouse.store import connect

pytestmark = pytest.mark.xdist_group("workers")


def _engine(service: Service) -> tuple[str, str]:
    """(memory_limit, threads) as the worker's own connection reports them."""
    with service.store.reading():  # type: ignore[attr-defined]  # a SharedStore
        row = service.store.con.con.execute(  # type: ignore[attr-defined]
            "SELECT current_setting('memory_limit'), current_setting('threads')"
        ).fetchone()
    assert row is not None
    return str(row[0]), str(row[1])


def _never() -> bool:
    return False


def _mib(text: str) -> float:
    number, unit = text.split()
    return float(number) * {"MiB": 1, "GiB": 1024, "KiB": 1 / 1024}[unit]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[str]:
    path = tmp_path / "w.duckdb"
    connect(path).close()
    yield str(path)


@pytest.mark.slow
def test_each_worker_reports_its_share(db: str) -> None:
    settings = Settings(duckdb_memory_limit="1200MB", duckdb_threads=2)
    workers = Workers(db, settings, n=2)
    try:
        seen = {workers.run(_engine, (), _never)[1] for _ in range(4)}
    finally:
        workers.close()
    # 1200 MB / (2 workers + the server) = 400 MB = 381 MiB; 2 threads / 2 workers
    assert seen == {("381.0 MiB", "1")}


@pytest.mark.slow
def test_default_share_is_of_the_default_limit(db: str) -> None:
    workers = Workers(db, Settings(), n=1)
    try:
        memory, threads = workers.run(_engine, (), _never)[1]
    finally:
        workers.close()
    total = tuning.physical_memory()
    assert total is not None
    assert _mib(memory) == pytest.approx(total * tuning.MEMORY_SHARE / 2 / 2**20, rel=0.01)
    assert int(threads) == tuning.cores()


@pytest.mark.parametrize(
    ("given", "workers", "memory", "threads"),
    [
        ("4GB", 3, f"{4 * 10**9 // 4 // 2**20}MiB", 1),
        ("2 GiB", 1, "1024MiB", 2),
        ("lots", 2, "lots", 1),  # not a size: DuckDB refuses it as it would anyway
    ],
)
def test_worker_settings(given: str, workers: int, memory: str, threads: int) -> None:
    s = tuning.worker_settings(Settings(duckdb_memory_limit=given, duckdb_threads=2), workers)
    assert (s.duckdb_memory_limit, s.duckdb_threads) == (memory, threads)
