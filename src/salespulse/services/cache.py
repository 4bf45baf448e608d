"""Page data cached per *data version*, computed one at a time.

The data version changes whenever the database's contents change (row counts and the import
log); it is checked at most every ``check_every`` seconds. One lock serialises all engine work:
an Ibis backend (a DuckDB connection) is not safe to use from several threads at once, and on a
small machine parallel queries would only compete for the same cores.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from salespulse.warehouse.store import Store

T = TypeVar("T")


def data_version(store: Store) -> str:
    """A short fingerprint of the database's contents."""
    parts = [f"{name}={n}" for name, n in sorted(store.counts().items())]
    try:
        log = store.table("import_log")
        parts.append(f"import={log.count().execute()}")
    except Exception:  # no import log in this schema
        pass
    return hashlib.sha1(";".join(parts).encode()).hexdigest()[:12]


class PageCache:
    def __init__(self, store: Store, check_every: float = 5.0, max_entries: int = 512):
        self.store = store
        self.engine = threading.RLock()
        self._check_every = check_every
        self._max = max_entries
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._version = ""
        self._checked = 0.0

    def version(self) -> str:
        now = time.monotonic()
        if not self._version or now - self._checked > self._check_every:
            with self.engine:
                v = data_version(self.store)
            if v != self._version:
                self._entries.clear()
                self._version = v
            self._checked = now
        return self._version

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The cached value for ``key`` in the current data version (computed when missing)."""
        full = (self.version(), key)
        if full in self._entries:
            self._entries.move_to_end(full)
            return self._entries[full]
        with self.engine:
            if full in self._entries:
                return self._entries[full]
            value = compute()
            self._entries[full] = value
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
            return value

    def clear(self) -> None:
        self._entries.clear()
