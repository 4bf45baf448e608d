"""The audit log: who did what, when (logins, users, tokens, imports, settings).

``record(store, event, ...)`` appends one row to the ``audit_log`` system table; any part of
the product that changes who may see what, or what the data is, calls it.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import uuid
from typing import Any

from salespulse.auth.sql import rows
from salespulse.warehouse.store import Store, utcnow


def record(
    store: Store,
    event: str,
    *,
    actor: str | None = None,
    subject: str | None = None,
    ip: str | None = None,
    **detail: Any,
) -> None:
    """Append ``event`` (e.g. ``login.failure``, ``user.add``, ``import``) to the log."""
    rows(
        store,
        "INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            uuid.uuid4().hex,
            utcnow(),
            event,
            actor,
            subject,
            ip,
            json.dumps(detail, default=str, sort_keys=True) if detail else None,
        ),
    )


def entries(store: Store, limit: int = 100, event: str | None = None) -> list[dict[str, Any]]:
    """The latest ``limit`` events, newest first (``event``: only those starting with it)."""
    where, params = ("WHERE event LIKE ?", (event + "%",)) if event else ("", ())
    found = rows(
        store,
        f'SELECT "at", event, actor, subject, ip, detail FROM audit_log {where} '
        f'ORDER BY "at" DESC LIMIT {int(limit)}',
        params,
    )
    keys = ("at", "event", "actor", "subject", "ip", "detail")
    return [dict(zip(keys, r, strict=True)) for r in found]


def record_to(db: str | None, event: str, **kw: Any) -> None:
    """:func:`record` into the database ``db`` (opened for this one row), e.g. after an
    import by the command line. The work is done by then: a log that cannot be written (a
    full disk) is a warning on stderr, not a traceback."""
    from salespulse.warehouse.store import connect

    store = connect(db, create=False)
    try:
        record(store, event, **kw)
    except (sqlite3.Error, OSError) as exc:  # the work is done; say what was not logged
        print(f"Warning: the audit log could not be written ({exc})", file=sys.stderr)
    finally:
        store.close()
