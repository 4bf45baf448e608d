"""A rep's priority list (W9): deals closable first, then leads by score.

Deals: the rep's open deals as of a date, most likely to close first (stage probability,
then the soonest expected close date, then the largest amount). Leads: the rep's active
leads by rule-based score (highest first). Both come from KPI drill-downs (``open_deals``
and ``lead_score``), so they agree with the numbers on the dashboards.
"""

from __future__ import annotations

import difflib
from datetime import date

import pandas as pd

from salespulse.errors import UserError
from salespulse.semantic.model import Context
from salespulse.semantic.query import Query, context, records
from salespulse.settings import Settings
from salespulse.warehouse.store import Store


def priority_list(
    store: Store,
    rep_id: str,
    as_of: date | None = None,
    settings: Settings | None = None,
    deals: int = 10,
    leads: int = 10,
) -> pd.DataFrame:
    """Columns: rank, kind (deal/lead), id, name, stage_or_status, amount_eur,
    stage_probability (deals: the probability configured for their stage, not a prediction),
    score (leads: the rule-based lead score), expected_close_on, why.

    ``rep_id`` is a rep id or a rep's name (case-insensitive); anything else is a UserError
    with the nearest match.
    """
    ctx = context(store, settings, as_of)
    where = {"rep": resolve_rep(ctx, rep_id)}
    d = records(store, Query.make("open_deals", where=where, as_of=ctx.as_of), limit=None, ctx=ctx)
    if len(d):
        d = d.sort_values(
            ["stage_probability", "expected_close_on", "amount_eur"],
            ascending=[False, True, False],
            na_position="last",
        ).head(deals)
    deal_rows = pd.DataFrame(
        {
            "kind": "deal",
            "id": d.get("deal_id", pd.Series(dtype=str)),
            "name": d.get("name", pd.Series(dtype=str)),
            "stage_or_status": d.get("stage_name", pd.Series(dtype=str)),
            "amount_eur": d.get("amount_eur", pd.Series(dtype=float)),
            "stage_probability": d.get("stage_probability", pd.Series(dtype=float)),
            "score": float("nan"),
            "expected_close_on": d.get("expected_close_on", pd.Series(dtype=object)),
            "why": "open deal; its stage's configured win probability is "
            + (d.get("stage_probability", pd.Series(dtype=float)) * 100)
            .round()
            .astype("Int64")
            .astype(str)
            + "%",
        }
    )
    lead_q = Query.make("lead_score", where=where, as_of=ctx.as_of)
    lr = records(store, lead_q, limit=None, ctx=ctx)
    if len(lr):
        lr = lr.sort_values(["score", "created_at"], ascending=[False, True]).head(leads)
    lead_rows = pd.DataFrame(
        {
            "kind": "lead",
            "id": lr.get("lead_id", pd.Series(dtype=str)),
            "name": lr.get("company", pd.Series(dtype=str)),
            "stage_or_status": "lead",
            "amount_eur": float("nan"),
            "stage_probability": float("nan"),
            "score": lr.get("score", pd.Series(dtype=float)),
            "expected_close_on": None,
            "why": "lead score "
            + lr.get("score", pd.Series(dtype=float)).round().astype("Int64").astype(str),
        }
    )
    out = pd.concat([deal_rows, lead_rows], ignore_index=True)
    out.insert(0, "rank", range(1, len(out) + 1))
    return out


def resolve_rep(ctx: Context, rep: str) -> str:
    """The rep id for ``rep`` (an id, or a name matched case-insensitively)."""
    reps = ctx.reps.select("rep_id", "rep_name").execute()
    ids = [str(r) for r in reps.rep_id]
    if rep in ids:
        return rep
    by_name = {str(n).casefold(): str(i) for i, n in zip(reps.rep_id, reps.rep_name, strict=True)}
    if rep.casefold() in by_name:
        return by_name[rep.casefold()]
    names = [str(n) for n in reps.rep_name if n is not None]
    close = difflib.get_close_matches(rep, ids + names, n=1)
    raise UserError(
        f"no rep {rep!r} in this data",
        hint=f"did you mean {close[0]!r}?"
        if close
        else "see `salespulse kpi show open_deals --by rep`",
    )
