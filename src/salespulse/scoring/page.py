"""Data of the Scoring and My day pages (and their JSON): computed once per data version
by the caller's cache; the web layer scopes the records to the principal."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from salespulse import serialize
from salespulse.scoring import predict
from salespulse.scoring.day import my_day
from salespulse.scoring.registry import latest
from salespulse.scoring.train import DEAL_TARGET, LEAD_TARGET
from salespulse.semantic.query import context
from salespulse.settings import Settings
from salespulse.warehouse.store import Store

#: Open deals and leads listed on the Scoring page (highest score first).
ROWS = 200


def scoring_data(store: Store, settings: Settings, as_of: date, lang: str) -> dict[str, Any]:
    """``cards`` (per target: the stored model card, or None), ``deals`` and ``leads``
    (frames with rep_id and team_id, for the access rule)."""
    ctx = context(store, settings, as_of)
    out: dict[str, Any] = {"as_of": as_of, "cards": {}, "deals": None, "leads": None}
    dm = latest(store, DEAL_TARGET, required=False)
    lm = latest(store, LEAD_TARGET, required=False)
    for target, m in ((DEAL_TARGET, dm), (LEAD_TARGET, lm)):
        out["cards"][target] = m.card() if m else None
    if dm is not None:
        d = predict.score_deals(ctx, lang, model=dm)
        cols = ["deal_id", "name", "rep_id", "team_id", "stage_name", "amount_eur"]
        d = d.sort_values("p_win", ascending=False).head(ROWS)
        out["deals"] = d[[*cols, "expected_close_on", "p_win", "reasons"]]
    if lm is not None:
        lr = predict.score_leads(ctx, lang, model=lm)
        lr = lr.sort_values("p_won", ascending=False).head(ROWS)
        out["leads"] = lr[["lead_id", "company", "rep_id", "team_id", "status", "channel",
                           "p_won", "reasons"]]  # fmt: skip
    return out


def reliability_chart(card: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    """A Plotly spec: observed share won against the predicted probability per bin, the
    diagonal of perfect calibration, and the number of samples per bin."""
    rel = card.get("reliability") or []
    x = [r["predicted"] for r in rel]
    return {
        "data": [
            {
                "type": "scatter",
                "x": [0, 1],
                "y": [0, 1],
                "mode": "lines",
                "name": labels["perfect"],
                "line": {"dash": "dot", "color": "#999"},
            },
            {
                "type": "scatter",
                "x": x,
                "y": [r["observed"] for r in rel],
                "mode": "lines+markers",
                "name": labels["observed"],
                "line": {"color": "#36c"},
                "text": [f"n = {r['n']}" for r in rel],
            },
        ],
        "layout": {
            "margin": {"t": 20, "r": 10, "b": 50, "l": 60},
            "xaxis": {"title": labels["predicted"], "range": [0, 1]},
            "yaxis": {"title": labels["observed"], "range": [0, 1]},
            "legend": {"orientation": "h"},
        },
    }


def day_data(
    store: Store, settings: Settings, rep: str, as_of: date, lang: str
) -> list[dict[str, Any]]:
    """The rep's day as JSON rows (with rep_id for the access rule)."""
    f = my_day(store, rep, as_of, settings, lang=lang)
    if "reasons" not in f.columns:  # no model yet: the stage/rule list
        f = f.rename(columns={"why": "reasons", "stage_probability": "likelihood"})
        f["next_action"] = ""
    f = f.assign(rep_id=rep)
    return serialize.rows(pd.DataFrame(f))
