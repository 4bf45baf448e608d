"""A demo database whose every shown text field holds an attack (XSS, Plotly markup, formulas).

The generator's data, then every name-like column rewritten in place: each row gets one of
:data:`PAYLOADS` (in turn) followed by its own id, so the payload stays at the start of the
cell (where a spreadsheet looks for a formula) and names stay unique.
"""

from __future__ import annotations

from pathlib import Path

PAYLOADS = [
    "</script><script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "<svg onload=alert(3)>",
    "'-alert(4)-'\u2028",
    '=HYPERLINK("http://evil.example/","click")',
    "@SUM(1+1)*cmd|' /C calc'!A0",
    '+cmd|"/C calc"!A0',
    '-2+3+cmd|"/C calc"!A0',
    "<b>bold</b><a href=javascript:alert(5)>link</a>",
    "\t=1+1 & <i>x</i>",
]

#: Columns rewritten row by row (table, column, primary key).
PER_ROW = [
    ("teams", "name", "team_id"),
    ("reps", "name", "rep_id"),
    ("reps", "email", "rep_id"),
    ("accounts", "name", "account_id"),
    ("products", "name", "product_id"),
    ("products", "product_line", "product_id"),
    ("pipelines", "name", "pipeline_id"),
    ("stages", "name", "stage_id"),
    ("leads", "name", "lead_id"),
    ("leads", "company", "lead_id"),
    ("leads", "job_title", "lead_id"),
    ("leads", "disqualified_reason", "lead_id"),
    ("deals", "name", "deal_id"),
    ("deals", "lost_reason", "deal_id"),
    ("activities", "subject", "activity_id"),
]
#: Categories shared between tables: each distinct value maps to one payload (from an offset).
PER_VALUE = {
    "channel": (0, [("leads", "channel")]),
    "region": (4, [("teams", "region"), ("reps", "region"), ("accounts", "region")]),
    "industry": (2, [("accounts", "industry"), ("leads", "industry")]),
}


def _list() -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in PAYLOADS) + "]"


def make_hostile(path: Path, seed: int = 7, today: object = None) -> None:
    """Generate the small demo company at ``path`` and put :data:`PAYLOADS` in its names."""
    from datetime import date

    import duckdb

    from salespulse.demo import generate
    from salespulse.warehouse.store import connect

    store = connect(path)
    generate(store, seed, "demo", today or date(2026, 6, 30))
    store.close()
    n, payloads = len(PAYLOADS), _list()
    con = duckdb.connect(str(path))
    try:
        for table, col, key in PER_ROW:
            con.execute(
                f"UPDATE {table} SET {col} = {payloads}[(x.rn - 1) % {n} + 1] || ' ' || x.k "
                f"FROM (SELECT {key} AS k, row_number() OVER (ORDER BY {key}) AS rn "
                f"FROM {table}) x WHERE {table}.{key} = x.k"
            )
        for what, (offset, places) in PER_VALUE.items():
            values = sorted(
                {
                    v
                    for t, c in places
                    for (v,) in con.execute(f"SELECT DISTINCT {c} FROM {t}").fetchall()
                }
                - {None}
            )
            mapping = {v: f"{PAYLOADS[(offset + i) % n]} {what}{i}" for i, v in enumerate(values)}
            for t, c in places:
                for old, new in mapping.items():
                    con.execute(f"UPDATE {t} SET {c} = ? WHERE {c} = ?", [new, old])
    finally:
        con.close()
