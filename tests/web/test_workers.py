"""Pages computed in worker processes (services/workers.py): same data, errors as they were,
abandoned work stops, a worker that dies is replaced, results of another data version are
not kept."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from salespulse.errors import UserError
from salespulse.services.cache import PageCache, checkpoint
from salespulse.services.filters import Filters
from salespulse.services.service import Service
from salespulse.services.workers import Remote, WorkerDied, Workers
from salespulse.settings import Settings
from salespulse.warehouse.access import Busy
from salespulse.warehouse.shared import open_served

pytestmark = pytest.mark.xdist_group("workers")


# -- tasks (module-level: a worker imports them by name) -----------------------------------
def _pid(service: Service) -> int:
    return os.getpid()


def _version(service: Service) -> str:
    return service.cache.version()


def _spin(service: Service, started: str) -> str:
    """Runs until the server gives up on it (or 30 s)."""
    Path(started).write_text("started")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        checkpoint()
        time.sleep(0.02)
    return "never stopped"


def _die(service: Service) -> None:
    os._exit(3)


def _user_error(service: Service) -> None:
    raise UserError("unknown team 'x'", hint="choose a team from the list")


def _bug(service: Service) -> None:
    raise ValueError("boom")


def _unpicklable(service: Service) -> Any:
    return lambda: 1


def never() -> bool:
    return False


@pytest.fixture(scope="module")
def workers(demo_db: str) -> Iterator[Workers]:
    w = Workers(demo_db, Settings(), n=1)
    yield w
    w.close()


@pytest.mark.slow
def test_pages_from_workers_are_the_pages_computed_here(app: FastAPI, demo_db: str) -> None:
    served: Service = app.state.service
    assert served.workers is not None
    here = Service(open_served(demo_db), Settings())
    try:
        for name in ("home", "stages"):
            assert (
                served.page(name, Filters()).model_dump() == here.page(name, Filters()).model_dump()
            )
        assert served.records("won_revenue", Filters()).equals(
            here.records("won_revenue", Filters())
        )
    finally:
        here.close()
    pid = served.workers.run(_pid, (), never)[1]
    assert pid != os.getpid() and pid in served.workers.pids


@pytest.mark.slow
def test_errors_come_back_as_they_were(workers: Workers) -> None:
    with pytest.raises(UserError) as err:
        workers.run(_user_error, (), never)
    assert (
        err.value.message == "unknown team 'x'" and err.value.hint == "choose a team from the list"
    )
    with pytest.raises(RuntimeError, match="ValueError: boom"):
        workers.run(_bug, (), never)
    with pytest.raises(RuntimeError, match="pickle"):
        workers.run(_unpicklable, (), never)
    assert workers.run(_pid, (), never)[1] in workers.pids  # the worker lives on


def test_abandoned_work_stops_at_its_next_checkpoint(workers: Workers, tmp_path: Path) -> None:
    started = tmp_path / "started"
    t0 = time.monotonic()
    with pytest.raises(Busy):
        workers.run(_spin, (str(started),), started.exists)  # give up once it runs
    assert time.monotonic() - t0 < 10  # not the task's 30 s
    assert workers.run(_pid, (), never)[1] in workers.pids  # and the worker takes the next one


@pytest.mark.slow
def test_a_worker_that_dies_is_replaced(workers: Workers) -> None:
    before = workers.pids
    with pytest.raises(WorkerDied):
        workers.run(_die, (), never)
    assert workers.replaced == 1
    pid = workers.run(_pid, (), never)[1]
    assert pid in workers.pids and pid not in before


@pytest.mark.slow
def test_a_result_of_another_data_version_is_not_kept(workers: Workers, tmp_path: Path) -> None:
    from salespulse.warehouse.store import connect

    other = tmp_path / "other.duckdb"  # an empty database: another data version
    connect(other).close()
    cache = PageCache(open_served(other))
    try:
        ours = cache.version()
        theirs = workers.run(_version, (), never)[1]
        assert ours != theirs
        value = cache.get("probe", Remote(workers, _version, ()))
        assert value == theirs  # the caller gets the value …
        assert cache.get("probe", lambda: "recomputed") == "recomputed"  # … it was not kept
        assert cache.computed["probe"] == 2
    finally:
        cache.close()
        cache.store.close()
