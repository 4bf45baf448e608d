"""Scores for today's open deals and active leads, with their reasons in words.

``deal_probabilities`` is the forecast's hook: a win probability per open deal from the
stored likelihood-to-close model (``salespulse score train``), as of the context's date.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from salespulse.i18n import t
from salespulse.scoring import features as F
from salespulse.scoring.models import LightGBM, Logistic, StageModel
from salespulse.scoring.registry import Stored, latest
from salespulse.scoring.train import DEAL_TARGET, LEAD_TARGET
from salespulse.semantic.model import Context

#: Reasons shown per deal or lead.
TOP_REASONS = 3


def deal_probabilities(ctx: Context, model: Stored | None = None) -> pd.DataFrame:
    """Open deals at ``ctx.as_of``: deal_id, p_win (calibrated, 0-1), model (the chosen
    model's name). Raises a UserError when no model has been trained."""
    m = model or latest(ctx.store, DEAL_TARGET)
    assert m is not None
    x = F.open_deals(ctx).execute()
    return pd.DataFrame({"deal_id": x["deal_id"], "p_win": _predict(m, x), "model": m.chosen})


def score_deals(ctx: Context, lang: str = "en", model: Stored | None = None) -> pd.DataFrame:
    """Open deals with features, ``p_win`` and ``reasons`` (list of sentences in ``lang``)."""
    m = model or latest(ctx.store, DEAL_TARGET)
    assert m is not None
    x = F.open_deals(ctx).execute()
    x["p_win"] = _predict(m, x)
    x["reasons"] = reasons(m, x, lang)
    return x


def score_leads(ctx: Context, lang: str = "en", model: Stored | None = None) -> pd.DataFrame:
    """Active leads with features, ``p_won`` (a won deal within the horizon) and reasons."""
    m = model or latest(ctx.store, LEAD_TARGET)
    assert m is not None
    x = F.active_leads(ctx).execute()
    x["p_won"] = _predict(m, x)
    x["reasons"] = reasons(m, x, lang)
    return x


def _predict(m: Stored, x: pd.DataFrame) -> np.ndarray:
    if x.empty:
        return np.zeros(0)
    return np.clip(np.asarray(m.predict(x), float), 0.0, 1.0)


def contributions(m: Stored, x: pd.DataFrame) -> pd.DataFrame:
    """Per row and feature: push toward won (> 0) or lost (< 0), on the log-odds scale."""
    model = m.model
    if isinstance(model, LightGBM):
        return model.contributions(x)
    if isinstance(model, Logistic):
        _, parts = model.logit_parts(x)
        return parts - parts.mean(axis=0)
    col = model.column if isinstance(model, StageModel) else "stage_id"
    if col not in x.columns:
        return pd.DataFrame(index=x.index)
    p = np.clip(model.predict(x), 1e-6, 1 - 1e-6)
    overall = float(np.mean(p)) if len(p) else 0.5
    z = np.log(p / (1 - p)) - np.log(overall / (1 - overall))
    return pd.DataFrame({col: z}, index=x.index)


def reasons(m: Stored, x: pd.DataFrame, lang: str) -> list[list[str]]:
    """The top contributions per row in words, strongest first."""
    if x.empty:
        return []
    c = contributions(m, x)
    out: list[list[str]] = []
    for i, (_, row) in enumerate(c.iterrows()):
        top = row.abs().sort_values(ascending=False).head(TOP_REASONS)
        words = []
        for feat in top.index:
            v = float(row[feat])
            if abs(v) < 0.05:
                continue
            words.append(reason(feat, x.iloc[i][feat], v > 0, lang))
        out.append(words)
    return out


def reason(feature: str, value: Any, up: bool, lang: str) -> str:
    """One reason: ``▲ replies from the customer: 4`` (▲ raises, ▼ lowers the chance)."""
    label = t(f"score.feature.{feature}", lang)
    return f"{'▲' if up else '▼'} {label}: {_value(feature, value, lang)}"


def _value(feature: str, value: Any, lang: str) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return t("score.value.unknown", lang)
    if isinstance(value, int | float | np.floating | np.integer):
        v = float(value)
        if feature in ("call_balance", "owner_win_rate"):
            return f"{v * 100:.0f}%"
        return f"{v:.0f}"
    return str(value)
