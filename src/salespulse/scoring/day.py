"""Each rep's day (W9 tip): deals that can close first, then leads by score.

Deals are ranked by ``p_win × amount × proximity`` — proximity = 1 for a close date within
30 days (or passed), falling as ``30 / days`` beyond — with deals that have an overdue task
or a passed close date first. Leads follow by the lead model's likelihood. Each row has its
reasons and a next action. Without a stored model this is
:func:`salespulse.analytics.priorities.priority_list` (stage probability, rule score).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from salespulse.analytics.priorities import priority_list, resolve_rep
from salespulse.i18n import t
from salespulse.scoring import predict
from salespulse.scoring.registry import latest
from salespulse.scoring.train import DEAL_TARGET, LEAD_TARGET
from salespulse.semantic.query import context
from salespulse.settings import Settings
from salespulse.warehouse.store import Store

#: Close dates within this many days count as "near" (proximity 1).
NEAR_DAYS = 30.0


def my_day(
    store: Store,
    rep: str,
    as_of: date | None = None,
    settings: Settings | None = None,
    deals: int = 10,
    leads: int = 10,
    lang: str = "en",
) -> pd.DataFrame:
    """Columns: rank, kind, id, name, stage_or_status, amount_eur, likelihood,
    expected_close_on, priority, reasons, next_action."""
    dm = latest(store, DEAL_TARGET, required=False)
    if dm is None:
        return priority_list(store, rep, as_of, settings, deals, leads)
    ctx = context(store, settings, as_of)
    rep_id = resolve_rep(ctx, rep)
    d = predict.score_deals(ctx, lang, model=dm)
    d = d[d["rep_id"] == rep_id].copy()
    days = d["days_to_close"].to_numpy(float)
    prox = np.where(np.isnan(days), 0.5, NEAR_DAYS / np.maximum(days, NEAR_DAYS))
    d["priority"] = d["p_win"] * d["amount_eur"].fillna(0.0) * prox
    d["urgent"] = (d["overdue_tasks"] > 0) | (d["days_to_close"] < 0)
    d = d.sort_values(["urgent", "priority"], ascending=[False, False]).head(deals)
    rows = [
        pd.DataFrame(
            {
                "kind": "deal",
                "id": d["deal_id"],
                "name": d["name"],
                "stage_or_status": d["stage_name"],
                "amount_eur": d["amount_eur"],
                "likelihood": d["p_win"],
                "expected_close_on": d["expected_close_on"],
                "priority": d["priority"],
                "reasons": d["reasons"].map("; ".join),
                "next_action": [_deal_action(r, lang) for _, r in d.iterrows()],
            }
        )
    ]
    lm = latest(store, LEAD_TARGET, required=False)
    if lm is not None:
        lr = predict.score_leads(ctx, lang, model=lm)
        lr = lr[lr["rep_id"] == rep_id].sort_values("p_won", ascending=False).head(leads)
        rows.append(
            pd.DataFrame(
                {
                    "kind": "lead",
                    "id": lr["lead_id"],
                    "name": lr["company"],
                    "stage_or_status": lr["status"],
                    "amount_eur": np.nan,
                    "likelihood": lr["p_won"],
                    "expected_close_on": None,
                    "priority": np.nan,
                    "reasons": lr["reasons"].map("; ".join),
                    "next_action": [
                        t(
                            "score.action.first_contact"
                            if r["outbound_attempts"] == 0
                            else "score.action.follow_up",
                            lang,
                        )
                        for _, r in lr.iterrows()
                    ],
                }
            )
        )
    out = pd.concat(rows, ignore_index=True)
    out.insert(0, "rank", range(1, len(out) + 1))
    return out


def _deal_action(r: pd.Series, lang: str) -> str:
    if r["overdue_tasks"] > 0:
        return t("score.action.overdue", lang)
    if r["days_to_close"] < 0:
        return t("score.action.close_date_passed", lang)
    if r["days_since_activity"] >= 14:
        return t("score.action.quiet", lang, days=int(r["days_since_activity"]))
    if r["meetings_held"] == 0:
        return t("score.action.meeting", lang)
    return t("score.action.follow_up", lang)
