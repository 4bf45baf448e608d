"""The spool: API answers of an unfinished sync run, so that a crashed run resumes.

A sync writes nothing to the database until everything is fetched (all-or-nothing). So that
a crash late in a long first sync does not mean fetching everything again, every successful
API answer is also kept in a small SQLite file in the workspace
(``$SALESPULSE_HOME/sync/<source>-<database>.sqlite``, readable by its owner only). The next
run starts from the same committed cursors, so it sends the same requests: those already
answered are replayed from the spool, the rest go to the API. After a committed (or
up-to-date) run the spool is deleted; it is also discarded when the starting point differs
(other cursors, ``--full``, another base URL) or the API rejected a request (e.g. an expired
query locator), so stale answers are never reused.

The spool holds CRM data but no credentials (token requests are never spooled).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import httpx2 as httpx

from salespulse.warehouse.store import workspace


def path_for(source: str, database: str) -> Path:
    digest = hashlib.sha256(str(database).encode()).hexdigest()[:16]
    return workspace() / "sync" / f"{source}-{digest}.sqlite"


class Spool:
    """Answers keyed by request; valid for one starting point (``identity``)."""

    def __init__(self, path: Path, identity: dict[str, Any]) -> None:
        self.path = path
        self.replayed = 0
        self._seen: dict[str, int] = {}  # request hash -> times sent in this run
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        os.close(fd)
        self._db = sqlite3.connect(path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, status INTEGER, "
            "headers TEXT, body BLOB)"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)")
        ident = json.dumps(identity, sort_keys=True)
        row = self._db.execute("SELECT value FROM meta WHERE name = 'identity'").fetchone()
        if row is None or row[0] != ident:
            self._db.execute("DELETE FROM answers")
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('identity', ?)", (ident,))
        self._db.commit()

    def key(self, request: httpx.Request) -> str:
        """The request's hash and how often this run sent it before: a job-status poll
        repeats one request, and its n-th answer replays as the n-th."""
        h = hashlib.sha256()
        h.update(request.method.encode())
        h.update(str(request.url).encode())
        h.update(request.content)
        digest = h.hexdigest()
        n = self._seen.get(digest, 0)
        return f"{digest}:{n}"

    def get(self, request: httpx.Request) -> httpx.Response | None:
        """The spooled answer to ``request`` (counts it as sent), or None."""
        key = self.key(request)
        row = self._db.execute(
            "SELECT status, headers, body FROM answers WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        self._count(key)
        self.replayed += 1
        return httpx.Response(row[0], headers=json.loads(row[1]), content=row[2], request=request)

    def _count(self, key: str) -> None:
        digest = key.split(":", 1)[0]
        self._seen[digest] = self._seen.get(digest, 0) + 1

    def put(self, request: httpx.Request, response: httpx.Response) -> None:
        keep = {
            k: v
            for k, v in response.headers.items()
            if k.lower().startswith(("content-type", "sforce-"))
        }
        key = self.key(request)
        self._db.execute(
            "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?)",
            (key, response.status_code, json.dumps(keep), response.content),
        )
        self._db.commit()
        self._count(key)

    def discard(self) -> None:
        """Forget every answer (keep the file for this run)."""
        self._db.execute("DELETE FROM answers")
        self._db.commit()

    def remove(self) -> None:
        """The run is committed: delete the spool file."""
        self._db.close()
        self.path.unlink(missing_ok=True)

    def close(self) -> None:
        self._db.close()
