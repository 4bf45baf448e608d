"""Table helpers for the compile path that shape the SQL Ibis renders."""

from __future__ import annotations

import ibis.expr.types as ir


def without(t: ir.Table, *columns: str) -> ir.Table:
    """``t`` without ``columns``, as a plain selection of the others (same order).

    Not ``Table.drop``: Ibis renders a dropped-columns node as ``SELECT * EXCLUDE`` and never
    names it as a common table expression, so a relation several parts of one query read
    (a deal's state as of a date, under each input of a derived KPI) is written out — and
    computed by the database — once per reader. A selection is named once and shared.
    """
    gone = set(columns)
    return t.select(*[c for c in t.columns if c not in gone])
