"""Page data cached per *data version*, each value computed once, on a bounded pool.

* **Data version**: the ``data_version`` row every write replaces in its own transaction
  (:meth:`salespulse.warehouse.store.Store.data_version`). Checked single-flight: one
  thread asks the store, concurrent requests reuse its answer; a plain store (PostgreSQL)
  is asked at most every ``store.version_max_age`` seconds, a shared DuckDB file knows
  for free. A new version empties the cache.
* **Single flight**: concurrent requests for the same key share one computation.
* **Bounded work**: cold computations run on ``workers`` threads (never on the event loop,
  never on the request threads) — each computing itself or handing a
  :class:`~salespulse.services.workers.Remote` task to a worker process and waiting for it;
  at most ``queue`` wait for a thread. Beyond that, or when a result takes longer than
  ``wait`` seconds, :class:`Busy` (HTTP 503 with Retry-After): the computation goes on, so
  a retry finds it done.
* **Abandoned work stops**: when every request waiting for a computation has gone (the
  client disconnected), the computation stops at its next :func:`checkpoint` (the runner
  calls it before each KPI); when they all timed out, after ``ORPHAN_GRACE`` seconds
  without a retry.
"""

from __future__ import annotations

import contextvars
import os
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from salespulse.services.workers import Remote
from salespulse.warehouse.access import Busy, DatabaseBusy
from salespulse.warehouse.store import Store

T = TypeVar("T")

#: Seconds a request waits for its computation before it gets "busy, try again" (HTTP 503),
#: unless ``$SALESPULSE_PAGE_WAIT`` says otherwise: below the 30 s after which browsers' and
#: proxies' patience typically ends.
WAIT = 25.0

#: Set per request (by the web layer): returns True once the client has gone away.
client_gone: contextvars.ContextVar[Callable[[], bool] | None] = contextvars.ContextVar(
    "client_gone", default=None
)
#: Set per request (by the web layer): ``time.monotonic()`` when it started. A request that
#: needs several values waits ``wait`` seconds in all, not per value.
request_started: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "request_started", default=None
)


class Abandoned(Busy):
    """Every request waiting for a computation has gone; it stopped."""

    def __init__(self) -> None:
        super().__init__("the request was abandoned", retry_after=1)


#: Seconds a computation nobody waits for (its requests timed out) goes on, for a retry.
ORPHAN_GRACE = 10.0


@dataclass
class _Job:
    future: Future[Any] = field(default_factory=Future)
    waiters: int = 0
    cancelled: bool = False  # every waiter disconnected
    idle_since: float | None = None  # every waiter left (timed out) at this time

    def abandoned(self) -> bool:
        idle = self.idle_since
        return self.cancelled or (idle is not None and time.monotonic() - idle > ORPHAN_GRACE)


_worker = threading.local()  # .job: the _Job this pool thread computes
_patient = threading.local()  # .on: this thread waits without a deadline


#: In a worker process (:mod:`salespulse.services.workers`): True once the server gave up
#: on the task it computes.
cancel_requested: Callable[[], bool] | None = None


def checkpoint() -> None:
    """Raise :class:`Abandoned` when nobody waits any more for the current computation."""
    job: _Job | None = getattr(_worker, "job", None)
    if job is not None and job.abandoned():
        raise Abandoned()
    if cancel_requested is not None and cancel_requested():
        raise Abandoned()


class PageCache:
    def __init__(
        self,
        store: Store,
        *,
        workers: int = 2,
        queue: int = 16,
        wait: float | None = None,
        max_entries: int = 512,
    ):
        self.store = store
        self.workers = workers
        self.wait = float(os.environ.get("SALESPULSE_PAGE_WAIT", WAIT)) if wait is None else wait
        self._queue = queue
        self._max = max_entries
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="salespulse-kpi")
        self._lock = threading.Lock()  # entries, jobs, pending
        self._vlock = threading.Lock()  # the version check
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._jobs: dict[Hashable, _Job] = {}
        self._pending = 0  # jobs submitted and not finished
        self._version = ""
        self._checked = 0.0
        #: Computations run, per key kind (the key's first element): for tests and benchmarks.
        self.computed: Counter[str] = Counter()
        #: Data-version checks that asked the store.
        self.version_checks = 0
        self.closed = False

    # -- the data version --------------------------------------------------------------
    @property
    def current_version(self) -> str:
        """The version last seen (never waits)."""
        return self._version

    def peek_version(self) -> str:
        """The version without waiting for anything — no lock, no query, no worker: the one
        the store read last (a shared DuckDB file: when it was last opened), else the one
        this cache checked last. For health checks.

        It is as fresh as the last check: every page request checks (:meth:`version`), and
        a serving app's warm-up thread every ``WATCH_SECONDS`` (services/service.py), so
        after an import it shows the new version within seconds, without a request.
        (It used to check itself on a shared file: that takes the file's lock, which a
        computation holds while it reopens the file after a write.)
        """
        seen = self.store.seen_version()
        return self._version if seen is None else seen

    def version(self) -> str:
        """The current data version; checked by one thread at a time, never waited for.

        While one thread checks, the others go on with the version last seen; inside a
        computation, the version it started under.
        """
        if self._version and (
            getattr(_worker, "job", None) is not None
            or time.monotonic() - self._checked < self.store.version_max_age
        ):
            return self._version
        if not self._vlock.acquire(blocking=not self._version):
            return self._version  # another thread is checking
        try:
            if self._version and time.monotonic() - self._checked < self.store.version_max_age:
                return self._version
            v = self.store.data_version()
            self.version_checks += 1
            if v != self._version:
                with self._lock:
                    self._entries.clear()
                self._version = v
            self._checked = time.monotonic()
            return v
        finally:
            self._vlock.release()

    # -- values ------------------------------------------------------------------------
    def get(self, key: Hashable, compute: Callable[[], T] | Remote) -> T:
        """The cached value for ``key`` in the current data version (computed when missing)."""
        inside = getattr(_worker, "job", None) is not None
        full = (self._version if inside else self.version(), key)
        with self._lock:
            if full in self._entries:
                self._entries.move_to_end(full)
                return cast(T, self._entries[full])
            job = self._jobs.get(full)
            if job is None:
                job = _Job()
                self._jobs[full] = job
                if inside:  # a value a computation needs: compute it here, on this thread
                    new = "inline"
                elif self._pending >= self._queue + self.workers:
                    del self._jobs[full]
                    raise Busy("the server is busy; try again in a moment", retry_after=2)
                else:
                    new = "pool"
                    self._pending += 1
            else:
                new = ""
            job.waiters += 1
            job.idle_since = None
        if new == "inline":
            self._run(full, job, compute)
        elif new == "pool":
            self._pool.submit(self._run, full, job, compute)
        return cast(T, self._await(job))

    def _run(self, full: Hashable, job: _Job, compute: Callable[[], Any] | Remote) -> None:
        outer = getattr(_worker, "job", None)
        _worker.job = job
        key = full[1]  # type: ignore[index]
        kind = key[0] if isinstance(key, tuple) else key
        try:
            if job.abandoned():
                raise Abandoned()
            if isinstance(compute, Remote):  # in a worker process, which opens the data itself
                version, value = compute(job.abandoned)
            else:
                version = full[0]  # type: ignore[index]
                with self.store.reading():
                    value = compute()
        except BaseException as exc:
            with self._lock:
                self._jobs.pop(full, None)
            job.future.set_exception(exc)
        else:
            with self._lock:
                self.computed[str(kind)] += 1
                self._jobs.pop(full, None)
                if full[0] == self._version == version:  # type: ignore[index]
                    self._entries[full] = value
                    while len(self._entries) > self._max:
                        self._entries.popitem(last=False)
            job.future.set_result(value)
        finally:
            _worker.job = outer
            if outer is None:
                with self._lock:
                    self._pending -= 1

    # -- values kept as they are (rendered responses) ------------------------------------
    def peek(self, key: Hashable) -> Any | None:
        """The value kept under ``key`` in the current data version, or None."""
        full = (self.version(), key)
        with self._lock:
            if full in self._entries:
                self._entries.move_to_end(full)
                return self._entries[full]
        return None

    def put(self, key: Hashable, value: Any, version: str) -> None:
        """Keep ``value`` (made from the data of ``version``) while that is current."""
        with self._lock:
            if version == self._version:
                self._entries[(version, key)] = value
                while len(self._entries) > self._max:
                    self._entries.popitem(last=False)

    def run_here(self, compute: Callable[[], T]) -> T:
        """``compute()`` on this thread as one computation of this cache, not cached itself:
        the values it asks for are (computed inline), :func:`checkpoint` applies. For a
        worker process, whose caller (the server) caches the result."""
        outer = getattr(_worker, "job", None)
        self.version()
        _worker.job = _Job()
        try:
            with self.store.reading():
                return compute()
        finally:
            _worker.job = outer

    @contextmanager
    def patient(self) -> Iterator[None]:
        """Within: this thread waits for its computations however long they take (warm-up)."""
        _patient.on = True
        try:
            yield
        finally:
            _patient.on = False

    def _await(self, job: _Job) -> Any:
        gone = client_gone.get()
        started = request_started.get() or time.monotonic()
        deadline = float("inf") if getattr(_patient, "on", False) else started + self.wait
        left = False
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise Busy("still computing; try again in a moment", retry_after=3)
                try:
                    return job.future.result(
                        timeout=min(0.25, remaining) if gone else min(remaining, 60)
                    )
                except FutureTimeout:
                    pass
                except DatabaseBusy as exc:  # a writer holds the file: retry, not a user error
                    raise Busy(exc.message, exc.hint, exc.retry_after) from exc
                if gone is not None and gone():
                    left = True
                    raise Abandoned()
        finally:
            with self._lock:
                job.waiters -= 1
                if job.waiters == 0 and not job.future.done():
                    if left:
                        job.cancelled = True
                    else:
                        job.idle_since = time.monotonic()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def close(self) -> None:
        """Stop: queued computations are dropped, running ones stop at their next checkpoint."""
        self.closed = True
        with self._lock:
            for job in self._jobs.values():
                job.cancelled = True
        self._pool.shutdown(wait=False, cancel_futures=True)
