"""Tables derived from the canonical ones, rebuilt in the write transaction that changes them.

``stage_visits`` holds every ``deal_stage_history`` row whose stage is known, with what the
semantic model would otherwise compute with window functions on every query:

* ``next_entered_at``: the deal's next history row's ``entered_at`` (null for its last row);
* ``visit``: 1 for the deal's first row, 2 for the second, … (over all its rows);
* ``prev_stage_id`` / ``prev_stage_order``: the previous row's stage (rows with a known
  stage only), as ``Context.stage_history`` defines them.

History is ordered by ``entered_at`` then ``stage_id`` (the table's key, so the order is
total). Because a row's neighbours before it are always earlier, the table answers any as-of
date: rows entered before the cutoff, ``left_at`` = ``next_entered_at`` when that is before
the cutoff too (see :mod:`salespulse.semantic.model`).

Every outermost write transaction calls :func:`refresh` before it commits. It compares a
fingerprint of the sources (row count and an order-free hash of ``deal_stage_history`` and
of ``stages``' id and order) with the one stored; only when they differ is the table
rebuilt (a few seconds at 4.6 M history rows; the check costs milliseconds). Either way the
table is stamped with the new data version, so a reader uses it only when it matches the
data (``derived_state.data_version = data_version.version``) and falls back to the window
path otherwise. DuckDB only; other engines always take the window path.
"""

from __future__ import annotations

from ibis.backends import BaseBackend

STAGE_VISITS = "stage_visits"
STATE_TABLE = "derived_state"

_FINGERPRINT = """
SELECT concat_ws(':',
  (SELECT count(*) FROM deal_stage_history),
  (SELECT coalesce(bit_xor(hash(deal_id, stage_id, entered_at)), 0) FROM deal_stage_history),
  (SELECT count(*) FROM stages),
  (SELECT coalesce(bit_xor(hash(stage_id, stage_order)), 0) FROM stages))
"""

_BUILD = f"""
INSERT INTO {STAGE_VISITS}
WITH h AS (
  SELECT deal_id, stage_id, entered_at, changed_by_rep_id,
         lead(entered_at) OVER w AS next_entered_at,
         row_number() OVER w AS visit
  FROM deal_stage_history
  WINDOW w AS (PARTITION BY deal_id ORDER BY entered_at, stage_id)
)
SELECT h.deal_id, h.stage_id, h.entered_at, h.changed_by_rep_id, h.next_entered_at, h.visit,
       lag(h.stage_id) OVER w AS prev_stage_id,
       lag(s.stage_order) OVER w AS prev_stage_order
FROM h JOIN stages s ON s.stage_id = h.stage_id
WINDOW w AS (PARTITION BY h.deal_id ORDER BY h.entered_at, h.stage_id)
"""


def supported(con: BaseBackend) -> bool:
    return con.name == "duckdb"


def refresh(con: BaseBackend, version: str) -> bool:
    """Bring the derived tables up to date with the data at ``version`` (inside the write
    transaction). Returns whether ``stage_visits`` was rebuilt."""
    if not supported(con) or STATE_TABLE not in con.list_tables():
        return False
    raw = con.con
    row = raw.execute(_FINGERPRINT).fetchone()
    fingerprint = str(row[0]) if row else ""
    old = raw.execute(
        f"SELECT fingerprint FROM {STATE_TABLE} WHERE name = ?", [STAGE_VISITS]
    ).fetchone()
    rebuilt = old is None or old[0] != fingerprint
    if rebuilt:
        raw.execute(f"DELETE FROM {STAGE_VISITS}")
        raw.execute(_BUILD)
    raw.execute(f"DELETE FROM {STATE_TABLE} WHERE name = ?", [STAGE_VISITS])
    raw.execute(f"INSERT INTO {STATE_TABLE} VALUES (?, ?, ?)", [STAGE_VISITS, version, fingerprint])
    return rebuilt


def current(con: BaseBackend, name: str) -> bool:
    """Whether derived table ``name`` matches the data's current version."""
    if not supported(con):
        return False
    tables = con.list_tables()
    if STATE_TABLE not in tables or name not in tables:
        return False
    row = con.con.execute(
        f"SELECT count(*) FROM {STATE_TABLE} d JOIN data_version v "
        "ON d.data_version = v.version WHERE d.name = ?",
        [name],
    ).fetchone()
    return bool(row and row[0])
