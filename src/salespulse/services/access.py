"""Who sees which records: the one rule that pages, API, CSV, explorer and alerts obey.

* **admin** — everything, and may manage users, settings and imports.
* **manager** — every record of the teams in ``team_ids`` (no teams: every team).
* **rep** — only records that are theirs (``rep_id``/``owner_rep_id`` = their rep id).

Aggregates (KPI values by team, rep, stage, …; leaderboards) are visible to every role, as
CRMs show them; what a restricted principal does not see is another rep's *records*: drill-
down rows, deal tables, alert records, record CSVs. A record list without a rep or team
column is shown only to those who see all records (deny by default). An alert's count, for a
restricted principal, is the number of its records they may see (of the first
``MAX_RECORDS`` the alert lists).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from salespulse.services.models import AlertsPage, PageData, Table

#: Columns that name a record's rep, in order of preference.
REP_COLUMNS = ("rep_id", "owner_rep_id")
ADMIN, MANAGER, REP = "admin", "manager", "rep"


@dataclass(frozen=True)
class Principal:
    """The user a request acts for."""

    username: str
    role: str
    rep_id: str | None = None
    team_ids: tuple[str, ...] = ()

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN

    @property
    def sees_all(self) -> bool:
        return self.role == ADMIN or (self.role == MANAGER and not self.team_ids)


def scope(p: Principal | None) -> tuple[str, str | None, tuple[str, ...]] | None:
    """What ``p`` may see, as a cache key part: None for everything, else role, rep, teams.
    For values built *with* the rule applied (a report), cached per scope."""
    if p is None or p.sees_all:
        return None
    return (p.role, p.rep_id, p.team_ids)


#: rep_id → (name, team_id)
Reps = dict[str, tuple[str, str | None]]


def allowed_reps(p: Principal, reps: Reps) -> set[str]:
    """The rep ids whose records ``p`` may see (for a restricted principal)."""
    if p.role == REP:
        return {p.rep_id} if p.rep_id else set()
    return {rid for rid, (_, team) in reps.items() if team in p.team_ids}


def records(p: Principal | None, frame: pd.DataFrame, reps: Reps) -> pd.DataFrame:
    """The rows of a record list that ``p`` may see."""
    if p is None or p.sees_all:
        return frame
    if p.role == MANAGER and "team_id" in frame.columns:
        return frame[frame["team_id"].isin(list(p.team_ids))]
    col = next((c for c in REP_COLUMNS if c in frame.columns), None)
    if col is None:
        return frame.iloc[0:0]
    return frame[frame[col].isin(list(allowed_reps(p, reps)))]


def record_rows(
    p: Principal | None, rows: list[dict[str, Any]], reps: Reps
) -> list[dict[str, Any]]:
    """:func:`records` for JSON rows (alert records)."""
    if p is None or p.sees_all or not rows:
        return rows
    return records(p, pd.DataFrame(rows), reps).to_dict(orient="records")  # type: ignore[return-value]


def _deal_table(p: Principal, t: Table, reps: Reps) -> Table:
    """A table of deals (``key == "deal_id"``) lists rep names, not ids: match on names."""
    names = {reps[r][0] for r in allowed_reps(p, reps) if r in reps}
    return t.model_copy(update={"rows": [r for r in t.rows if r.get("rep_name") in names]})


def page(p: Principal | None, data: PageData, reps: Reps) -> PageData:
    if p is None or p.sees_all:
        return data
    tables = [_deal_table(p, t, reps) if t.key == "deal_id" else t for t in data.tables]
    return data.model_copy(update={"tables": tables})


def alerts(p: Principal | None, data: AlertsPage, reps: Reps) -> AlertsPage:
    if p is None or p.sees_all:
        return data
    out = []
    for a in data.alerts:
        mine = record_rows(p, a.records, reps)
        out.append(a.model_copy(update={"records": mine, "count": len(mine)}))
    return data.model_copy(update={"alerts": out})
