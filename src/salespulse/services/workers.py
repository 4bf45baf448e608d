"""KPI work in separate processes, so the server's own process only answers requests.

Computing a page is mostly Python holding the interpreter lock (Ibis building and compiling
SQL, pandas, Plotly specs). Done on threads of the server's process, it delays every other
request — health checks and already-computed pages included — by the lock, however many
cores there are. A *worker* is a separate process that opens the served database itself (the
read-only DuckDB file shared with importers, see :mod:`salespulse.warehouse.shared`, or the
PostgreSQL server), runs at a lower CPU priority than the server, and sends back the finished
value (pickled: page data models, data frames, dicts).

* A task is a module-level function ``func(service, *args)`` and its arguments, so it can be
  named across processes; the worker calls it with its own unscoped
  :class:`~salespulse.services.service.Service` (access rules apply afterwards, in the server).
* One task at a time per worker; :class:`~salespulse.services.cache.PageCache` has one pool
  thread per worker that hands a task over and waits for it (without the interpreter lock).
* **Abandoned work stops**: when the cache gives up on a task, the worker sees a shared flag
  at its next :func:`~salespulse.services.cache.checkpoint` (before each KPI).
* **A worker that dies** (killed, out of memory) is replaced; the request it served gets
  "busy, try again" (HTTP 503).
* **Data versions**: a result comes with the data version the worker computed it under; the
  cache keeps it only when that is the version it files it under.
* Errors come back as what they were: a :class:`~salespulse.errors.UserError` (with its hint),
  :class:`~salespulse.warehouse.access.DatabaseBusy`, :class:`~salespulse.warehouse.access.Busy`;
  anything else is logged with its traceback in the worker and raised as ``RuntimeError``.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from salespulse.errors import UserError
from salespulse.settings import Settings
from salespulse.warehouse import tuning
from salespulse.warehouse.access import Busy, DatabaseBusy

log = logging.getLogger(__name__)

#: How much lower the workers' CPU priority is than the server's (``nice`` increment).
NICE = 5

#: Seconds between checks of a running task (abandoned? worker alive?).
POLL = 0.1

Task = Callable[..., Any]


class WorkerDied(Busy):
    """The worker process computing a value stopped (it is replaced)."""

    def __init__(self) -> None:
        super().__init__("a computation stopped unexpectedly; try again", retry_after=2)


@dataclass(frozen=True)
class Remote:
    """``func(service, *args)`` to compute in a worker process (see :class:`Workers`)."""

    workers: Workers
    func: Task
    args: tuple[Any, ...]

    def __call__(self, abandoned: Callable[[], bool]) -> tuple[str, Any]:
        """(the data version it was computed under, the value)."""
        return self.workers.run(self.func, self.args, abandoned)


class _Slot:
    """One worker process and the pipe to talk to it.

    The process is ``python -m salespulse.services.workers FD`` (not :mod:`multiprocessing`,
    whose start methods re-import the caller's main module): it reads tasks and cancel
    requests from the socket ``FD`` and writes replies to it.
    """

    def __init__(self, location: str, settings: Settings, nice: int):
        mine, theirs = socket.socketpair()
        with theirs:
            self.process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
            )
        self.conn = Connection(mine.detach())
        self.conn.send((location, settings, nice))
        self._tasks = itertools.count(1)

    def call(
        self, func: Task, args: tuple[Any, ...], abandoned: Callable[[], bool]
    ) -> tuple[str, Any]:
        task = next(self._tasks)
        cancelled = False
        try:
            self.conn.send(("task", task, func, args))
            while True:
                if self.conn.poll(POLL):
                    kind, done, *rest = self.conn.recv()
                    if done == task:
                        break
                    continue  # a reply to a task given up before (cannot happen, but harmless)
                if self.process.poll() is not None:
                    raise WorkerDied()
                if not cancelled and abandoned():
                    self.conn.send(("cancel", task))  # it stops at its next checkpoint
                    cancelled = True
        except (EOFError, OSError) as exc:  # the pipe broke: the process is gone
            raise WorkerDied() from exc
        if kind == "ok":
            return rest[0], rest[1]
        raise _unpack(rest[0])

    def stop(self, timeout: float = 2.0) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(None)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)
        self.conn.close()


class Workers:
    """``n`` worker processes over the database at ``location`` (a DuckDB file or a URL)."""

    def __init__(self, location: str, settings: Settings, n: int = 2, nice: int = NICE):
        self._args = (location, tuning.worker_settings(settings, n), nice)
        self._lock = threading.Lock()
        self._closed = False
        self._idle: queue.Queue[_Slot] = queue.Queue()
        self.slots = [self._new() for _ in range(n)]
        for s in self.slots:
            self._idle.put(s)
        #: Worker processes started to replace one that died (for tests and logs).
        self.replaced = 0

    def _new(self) -> _Slot:
        return _Slot(*self._args)

    @property
    def pids(self) -> list[int]:
        return [s.process.pid for s in self.slots]

    def run(
        self, func: Task, args: tuple[Any, ...], abandoned: Callable[[], bool]
    ) -> tuple[str, Any]:
        """Compute ``func(service, *args)`` in the next free worker; waits for it."""
        slot = self._idle.get()
        try:
            return slot.call(func, args, abandoned)
        except WorkerDied:
            slot = self._replace(slot)
            raise
        finally:
            self._idle.put(slot)

    def each(
        self, func: Task, args: tuple[Any, ...], abandoned: Callable[[], bool] = lambda: False
    ) -> list[Any]:
        """``func(service, *args)`` once in every worker process (each keeps its own
        values, e.g. rollups), one after another, so the others go on serving."""
        done: set[int] = set()
        out: list[Any] = []
        while not self._closed and any(s.process.pid not in done for s in self.slots):
            slot = self._idle.get()
            if slot.process.pid in done:
                self._idle.put(slot)
                time.sleep(POLL)  # wait for a worker that has not had it
                continue
            try:
                out.append(slot.call(func, args, abandoned)[1])
                done.add(slot.process.pid)
            except WorkerDied:
                slot = self._replace(slot)
                raise
            finally:
                self._idle.put(slot)
        return out

    def _replace(self, dead: _Slot) -> _Slot:
        with self._lock:
            dead.stop(timeout=0.5)
            if self._closed:
                return dead
            log.warning("a KPI worker process (pid %s) stopped; starting another", dead.process.pid)
            new = self._new()
            self.slots[self.slots.index(dead)] = new
            self.replaced += 1
            return new

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for s in self.slots:
                s.stop()


# -- errors across the pipe ------------------------------------------------------------------
def _pack(exc: BaseException) -> tuple[Any, ...]:
    if isinstance(exc, DatabaseBusy):
        return ("database_busy", exc.message, exc.hint)
    if isinstance(exc, UserError):
        return ("user", exc.message, exc.hint)
    if isinstance(exc, Busy):
        return ("busy", exc.message, exc.hint, exc.retry_after)
    log.error("computing in a worker failed", exc_info=exc)
    return ("internal", f"{type(exc).__name__}: {exc}")


def _unpack(packed: tuple[Any, ...]) -> BaseException:
    kind, *rest = packed
    if kind == "database_busy":
        return DatabaseBusy(rest[1], rest[0])
    if kind == "user":
        return UserError(rest[0], rest[1])
    if kind == "busy":
        return Busy(rest[0], rest[1], rest[2])
    return RuntimeError(rest[0])


# -- the worker process ---------------------------------------------------------------------
def _serve(conn: Connection) -> None:
    """A worker's life: compute each task on a thread while this one listens for cancels."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the server's to handle
    location, settings, nice = conn.recv()
    with contextlib.suppress(OSError):
        os.nice(nice)
    from salespulse.services import cache
    from salespulse.services.service import Service
    from salespulse.warehouse.shared import open_served

    current = [0]  # the task being computed
    cancelled: set[int] = set()
    cache.cancel_requested = lambda: current[0] in cancelled
    send = threading.Lock()
    services: list[Service] = []

    def open_service() -> Service:
        if not services:
            tuning.use(settings)  # this worker's share of DuckDB's memory and threads
            services.append(Service(open_served(location), settings))
        return services[0]

    with contextlib.suppress(Exception):  # ready before the first task; else that task says why
        open_service()

    def compute(task: int, func: Task, args: tuple[Any, ...]) -> None:
        try:
            svc = open_service()
            value = svc.cache.run_here(lambda: func(svc, *args))
            reply: tuple[Any, ...] = ("ok", task, svc.cache.current_version, value)
        except BaseException as exc:  # every failure goes back to the server
            reply = ("error", task, _pack(exc))
        with send:
            try:
                conn.send(reply)
            except (OSError, ValueError):  # the server has gone
                pass
            except Exception as exc:  # the value does not pickle: a bug, said as such
                conn.send(("error", task, _pack(exc)))

    worker: threading.Thread | None = None
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            break
        if message is None:
            break
        if message[0] == "cancel":
            cancelled.add(message[1])
            continue
        _, task, func, args = message
        if worker is not None:
            worker.join()  # one task at a time (the server never sends two)
        current[0] = task
        cancelled.clear()
        worker = threading.Thread(target=compute, args=(task, func, args), daemon=True)
        worker.start()
    if services:
        services[0].store.close()


if __name__ == "__main__":
    _serve(Connection(int(sys.argv[1])))
