"""The page cache and the shared DuckDB file: data versions, single flight, busy, health."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from fastapi.testclient import TestClient

from salespulse.errors import UserError
from salespulse.semantic import sqlcache
from salespulse.semantic.query import Query, run
from salespulse.services.cache import PageCache
from salespulse.services.filters import Filters
from salespulse.settings import Settings
from salespulse.warehouse import shared as shared_module
from salespulse.warehouse.access import IN_USE_MESSAGE, DatabaseBusy
from salespulse.warehouse.shared import SharedStore
from salespulse.warehouse.store import Store, connect
from salespulse.web.app import create_app
from salespulse.web.security import HEADERS
from tests.web.conftest import add_users, make_client


@pytest.fixture
def db(demo_db: str, tmp_path: Path) -> str:
    """A private copy of the demo database (these tests write to it)."""
    path = tmp_path / "served.duckdb"
    shutil.copy(demo_db, path)
    return str(path)


@pytest.fixture
def shared(db: str) -> Iterator[SharedStore]:
    store = SharedStore(db, wait=1.0)
    yield store
    store.close()


def won(client: TestClient) -> float:
    data = client.get("/api/pages/home").json()
    return float(next(c for c in data["cards"] if c["id"] == "won_revenue")["value"])


@pytest.mark.slow
def test_an_update_that_keeps_row_counts_changes_version_and_figures(db: str) -> None:
    app = create_app(db, Settings(), warm=False)
    app.state.test_tokens = add_users(app)
    with make_client(app) as client:
        before, v1 = won(client), client.get("/api/health").json()["data_version"]
        writer = connect(db)
        counts = writer.counts()
        with writer.transaction():
            writer.con.raw_sql("UPDATE deals SET amount = amount * 2 WHERE outcome = 'won'")
        assert writer.counts() == counts
        writer.close()
        after, v2 = won(client), client.get("/api/health").json()["data_version"]
    assert v2 != v1
    assert after == pytest.approx(2 * before)


def test_every_write_gives_a_new_version(tmp_path: Path) -> None:
    store = connect(tmp_path / "v.duckdb")
    seen = {store.data_version()}
    store.load("products", _products(), replace=True)  # standalone load
    seen.add(store.data_version())
    with store.transaction():  # one transaction: one new version
        store.load("products", _products(), replace=True)
        store.load("products", _products(), replace=True)
    seen.add(store.data_version())
    with pytest.raises(RuntimeError), store.transaction():
        store.load("products", _products(), replace=True)
        raise RuntimeError("rolled back")
    seen.add(store.data_version())  # a rollback keeps the version
    store.close()
    assert len(seen) == 3


def _products() -> Any:
    import pyarrow as pa

    return pa.table({"product_id": ["P1"], "name": ["Press"], "product_line": ["machines"]})


class SlowVersion(Store):
    """A store whose data-version check takes a while (and counts how often it ran)."""

    checks = 0

    def data_version(self) -> str:
        SlowVersion.checks += 1
        time.sleep(0.2)
        return "v1"


def test_version_check_and_computation_are_single_flight(duckdb_store: Store) -> None:
    store = SlowVersion(duckdb_store.con, duckdb_store.location)
    cache = PageCache(store, workers=2)
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        time.sleep(0.3)
        return 42

    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get(("page", "x"), compute)))
        for _ in range(12)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cache.close()
    assert results == [42] * 12
    assert len(calls) == 1 and cache.computed["page"] == 1
    assert SlowVersion.checks == 1 and cache.version_checks == 1


def block(cache: PageCache, n: int) -> threading.Event:
    """Occupy ``n`` of the cache's workers until the returned event is set."""
    release, started = threading.Event(), threading.Semaphore(0)

    def hold() -> None:
        started.release()
        release.wait(30)

    for i in range(n):
        threading.Thread(target=cache.get, args=(("block", i), hold), daemon=True).start()
    for _ in range(n):
        assert started.acquire(timeout=10)
    return release


def test_a_full_queue_answers_busy_with_retry_after(db: str) -> None:
    app = create_app(db, Settings(), warm=False)
    app.state.test_tokens = add_users(app)
    cache = app.state.service.cache
    cache._queue = 0  # no waiting room: every cold computation beyond the workers is refused
    release = block(cache, cache.workers)
    try:
        with make_client(app) as client:
            r = client.get("/api/pages/home")
            assert r.status_code == 503
            assert r.json()["detail"] == "the server is busy; try again in a moment"
            assert int(r.headers["Retry-After"]) > 0
            html = client.get("/pipeline")
            assert html.status_code == 503 and "busy" in html.text
            health = client.get("/api/health")  # cheap routes are not refused
            assert health.status_code == 200
    finally:
        release.set()


@pytest.mark.slow
def test_security_headers_on_html_json_static_error_and_503(db: str) -> None:
    app = create_app(db, Settings(), warm=False)
    app.state.test_tokens = add_users(app)
    cache = app.state.service.cache
    answers: dict[str, tuple[int, Any]] = {}
    anonymous = {"Authorization": ""}
    with make_client(app) as client:  # one session: leaving it closes the app's cache
        for name, path, headers in [
            ("html", "/login", {}),
            ("json", "/api/kpis", {}),
            ("csv", "/api/kpis/won_deals/csv", {}),
            ("static", "/static/app.css", {}),
            ("health", "/api/health", {}),
            ("not found", "/nope", {}),
            ("unknown KPI", "/api/kpis/nope", {}),
            ("control character", "/api/health?x=%00", {}),
            ("401", "/api/kpis", anonymous),
            ("redirect", "/pipeline", anonymous),
        ]:
            r = client.get(path, headers=headers)
            answers[name] = (r.status_code, r.headers)
        cache._queue = 0  # every cold computation beyond the blocked workers: 503
        release = block(cache, cache.workers)
        try:
            for name, path in [("503 json", "/api/pages/home"), ("503 html", "/pipeline")]:
                r = client.get(path)
                answers[name] = (r.status_code, r.headers)
        finally:
            release.set()
    assert {k: s for k, (s, _) in answers.items()} == {
        "html": 200,
        "json": 200,
        "csv": 200,
        "static": 200,
        "health": 200,
        "not found": 404,
        "unknown KPI": 404,
        "control character": 400,
        "401": 401,
        "redirect": 303,
        "503 json": 503,
        "503 html": 503,
    }
    for name, (_, headers) in answers.items():
        for header, value in HEADERS.items():
            assert headers.get_list(header) == [value], (name, header)  # once, this value


def test_health_takes_no_lock_and_needs_no_login(db: str) -> None:
    """Answered while the file's lock, the engine's, the cache's and its version check's
    are all held elsewhere (a reopen after a write holds the file's), with the route's body."""
    app = create_app(db, Settings(), warm=False)
    cache = app.state.service.cache
    store = cache.store
    assert isinstance(store, SharedStore)
    answers: list[Any] = []
    with make_client(app, None) as client:  # anonymous
        for locks in ([store._cond], [store._cond, store._engine, cache._lock, cache._vlock]):
            ask = threading.Thread(target=lambda: answers.append(client.get("/api/health")))
            for lock in locks:
                lock.acquire()
            try:
                ask.start()
                ask.join(20)
                assert not ask.is_alive(), "health waited for a lock"
            finally:
                for lock in locks:
                    lock.release()
            ask.join()
    assert [r.status_code for r in answers] == [200, 200]
    version = store.seen_version()
    assert version and version != "initial"
    assert answers[0].json() == {"status": "ok", "data_version": version}
    assert cache.peek_version() == version


@pytest.mark.slow
def test_health_and_static_answer_while_pages_compute(db: str) -> None:
    app = create_app(db, Settings(), warm=False)
    app.state.test_tokens = add_users(app)
    cache = app.state.service.cache
    release = block(cache, cache.workers)
    try:
        with make_client(app) as client:
            waiting = threading.Thread(target=client.get, args=("/api/pages/stages",))
            waiting.start()  # queued behind the blocked workers
            t0 = time.perf_counter()
            assert client.get("/api/health").status_code == 200
            assert client.get("/static/favicon.svg").status_code == 200
            elapsed = time.perf_counter() - t0
            assert waiting.is_alive()  # the page is still waiting for a worker
            release.set()
            waiting.join(120)
    finally:
        release.set()
    assert elapsed < 2.0


@pytest.mark.slow
def test_abandoned_computations_stop_at_the_next_kpi(db: str) -> None:
    from salespulse.services import cache as cache_mod
    from salespulse.services.service import Service

    store = SharedStore(db)
    service = Service(store, Settings())
    gone = threading.Event()
    token = cache_mod.client_gone.set(gone.is_set)
    ran: list[str] = []
    original = cache_mod.checkpoint

    def counting() -> None:
        original()
        ran.append("kpi")
        if len(ran) == 1:  # the client leaves while the first KPI is computed
            gone.set()
            job = cache_mod._worker.job
            deadline = time.monotonic() + 10
            while not job.cancelled and time.monotonic() < deadline:
                time.sleep(0.01)

    try:
        import salespulse.services.runner as runner_mod

        runner_mod.checkpoint = counting
        with pytest.raises(cache_mod.Abandoned):
            service.page("home", service_filters())
    finally:
        runner_mod.checkpoint = original
        cache_mod.client_gone.reset(token)
    deadline = time.monotonic() + 30
    while service.cache._jobs and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not service.cache._jobs  # the computation ended ...
    assert len(ran) == 1  # ... before the KPI after the one it was in when the client left
    assert service.cache.computed["page"] == 0  # and stored nothing
    service.cache.close()
    store.close()


def service_filters() -> Any:
    from salespulse.services.filters import Filters

    return Filters()


def test_the_server_steps_aside_for_a_writer(shared: SharedStore, db: str) -> None:
    with shared.reading():
        v1 = shared.data_version()
        assert shared.con.table("deals").count().execute() > 0
    writer = connect(db, wait=5)  # gets in: the idle server closed the file for it
    assert shared.writer_active()
    with pytest.raises(DatabaseBusy), shared.reading(wait=0.2):
        pass
    assert shared.data_version() == v1  # while writing: the last committed version
    with writer.transaction():
        writer.con.raw_sql("UPDATE deals SET amount = amount + 1")
    writer.close()
    assert shared.data_version() != v1
    with shared.reading():
        assert shared.con.table("deals").count().execute() > 0


@pytest.mark.slow
def test_computations_reuse_idle_cursors_and_their_compiled_sql(
    shared: SharedStore, db: str
) -> None:
    """A cursor per computation would build and compile every KPI query again (its compiled
    SQL and in-memory tables belong to the cursor); an idle one is lent again, two at once
    get their own, and a write retires them with the file."""
    query = Query.make("won_revenue", by="rep", as_of="2026-06-30")

    def won_total() -> float:
        return float(run(shared, query, Settings()).frame["value"].sum())

    with shared.reading():
        first = shared.con
        before = won_total()
    hits = sqlcache.stats["hits"]
    with shared.reading():
        assert shared.con is first
        assert won_total() == before
    assert sqlcache.stats["hits"] == hits + 1  # built and compiled once

    seen: list[Any] = []
    with shared.reading():
        thread = threading.Thread(target=lambda: seen.append(_lent(shared)))
        thread.start()
        thread.join()
        assert shared.con is first
    assert seen[0] is not first  # concurrent: a cursor of its own, kept afterwards too
    with shared.reading():
        assert shared.con is first or shared.con is seen[0]

    writer = connect(db, wait=5)  # the idle server closes the file, and its cursors
    with writer.transaction():
        writer.con.raw_sql("UPDATE deals SET amount = amount * 2 WHERE outcome = 'won'")
    writer.close()
    with shared.reading():
        assert shared.con is not first and shared.con is not seen[0]
        assert won_total() == pytest.approx(2 * before)
    assert before > 0


def test_a_cursor_holding_many_in_memory_tables_is_closed_not_kept(
    shared: SharedStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shared_module, "MAX_MEMTABLES", 1)
    with shared.reading():
        first = shared.con
        run(shared, Query.make("won_revenue", by="month", as_of="2026-06-30"), Settings())
    assert first.memtables_created >= 1  # the months, as a temporary table
    with shared.reading():
        assert shared.con is not first
    with pytest.raises(duckdb.ConnectionException):
        first.con.execute("SELECT 1")


def _lent(store: SharedStore) -> Any:
    with store.reading():
        return store.con


def test_readers_coexist_and_a_held_database_is_one_clear_line(db: str) -> None:
    a, b = connect(db, create=False), connect(db, create=False)  # read-only, side by side
    assert a.read_only and a.counts() == b.counts()
    with pytest.raises(DatabaseBusy) as err:
        connect(db, wait=0.3)
    a.close()
    b.close()
    assert err.value.message == IN_USE_MESSAGE  # a writer waiting for readers
    assert "lock" not in err.value.message.lower() and "\n" not in str(err.value)
    assert isinstance(err.value, UserError)


@pytest.mark.slow
def test_pages_are_warmed_again_after_an_import_without_a_request(db: str) -> None:
    """A serving app notices a new data version by itself and computes the default views of
    the new data before the first visitor asks (in its worker processes)."""
    from salespulse.services import pages

    app = create_app(db, Settings(), warm=True, workers=1)
    service = app.state.service
    defaults = [("page", name, Filters().key()) for name in pages.PAGES]

    def warmed(version: str) -> bool:
        return all((version, key) in service.cache._entries for key in defaults)

    with TestClient(app):  # runs the lifespan: warming starts
        first = service.cache.version()
        deadline = time.monotonic() + 300
        while not warmed(first) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert warmed(first)
        computed = service.cache.computed["page"]
        assert computed >= len(pages.PAGES)
        writer = connect(db)
        with writer.transaction():
            writer.con.raw_sql("UPDATE deals SET amount = amount * 2 WHERE outcome = 'won'")
        writer.close()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            second = service.cache.current_version
            if second != first and warmed(second):
                break
            time.sleep(0.2)
        assert second != first and warmed(second)  # no request was made
        assert service.cache.computed["page"] >= computed + len(pages.PAGES)
