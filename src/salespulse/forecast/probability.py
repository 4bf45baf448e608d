"""Win probability per open deal, by method.

* ``stage_default`` — the probability configured on the deal's current stage (a stage
  without one counts as 0).
* ``stage_learned`` — learned from history: of the deals that entered the stage in the
  rolling window, the chance of eventually being won, **with the still-open deals as
  censored observations**: the Aalen–Johansen ``W(∞)`` of the timing model's cell
  (:attr:`salespulse.forecast.timing.Curves.p_win`; a deal still open at the end of the
  curve counts as not won). Counting only decided deals ("won / decided") is biased when
  the open ones are the slower ones (wins that take longer than losses are still open).
  Smoothed with a Beta prior toward the configured probability worth ``PRIOR_DEALS``
  deals, the evidence being the ``d`` decided deals (the outcomes actually observed):
  ``(d·r + k·prior) / (d + k)``. First per (pipeline, stage) with the configured
  probability as prior, then per (pipeline, product line, stage) with the pipeline's
  figure as prior, then per (pipeline, product, stage) with the line's figure as prior —
  so a product with few deals stays close to its line, one with many speaks for itself.
  Without open deals ``r`` is "won / decided" and this is the earlier estimate.
* ``stage_age`` — as ``stage_learned``, but for a deal that has already been in its stage
  ``a`` days: the timing model's chance that a deal still open at that age is won
  (:mod:`salespulse.forecast.timing`), smoothed toward ``stage_learned`` by the number of
  deals that were still open at that age (deals that linger are won less often).

:func:`learned_draws` draws the learned probabilities from their posterior (the same
levels, each a Beta) for the Monte Carlo's parameter uncertainty.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from salespulse.forecast import timing

FloatArray = npt.NDArray[np.float64]
Floats = npt.NDArray[np.floating[Any]]

#: Weight of the prior, in deals.
PRIOR_DEALS = 20.0


def stage_default(deals: pd.DataFrame) -> FloatArray:
    return np.clip(deals["p_config"].to_numpy(float, na_value=0.0), 0.0, 1.0)


def learned_table(
    history: pd.DataFrame, deals: pd.DataFrame, model: timing.TimingModel | None = None
) -> pd.DataFrame:
    """(pipeline_id, product_line, product_id, stage_id) → p_stage, p_line, p_cell for the
    cells of ``deals``, with what each level learned from: ``d_*`` decided deals and
    ``r_*`` the censored win rate (:attr:`timing.Curves.p_win`)."""
    model = model if model is not None else timing.fit(history)
    prior = deals.groupby(["pipeline_id", "stage_id"], sort=False)["p_config"].first().fillna(0.0)
    cells = deals[["pipeline_id", "product_line", "product_id", "stage_id"]].drop_duplicates()
    t = cells.merge(prior.rename("prior").reset_index(), on=["pipeline_id", "stage_id"], how="left")
    t["prior"] = t["prior"].fillna(0.0).astype(float)
    # the timing model's cells: level 3 (pipeline, stage), 2 (pipeline, line, stage),
    # 0 (pipeline, product, stage)
    for tag, level, cols in (
        ("s", "3", ["pipeline_id", "stage_id"]),
        ("c", "2", ["pipeline_id", "product_line", "stage_id"]),
        ("p", "0", ["pipeline_id", "product_id", "stage_id"]),
    ):
        curves = [
            model.cells.get((level, *(str(v) for v in key)))
            for key in zip(*(t[c] for c in cols), strict=True)
        ]
        t[f"d_{tag}"] = [float(c.decided) if c is not None else 0.0 for c in curves]
        t[f"r_{tag}"] = [c.p_win if c is not None and c.decided else 0.0 for c in curves]
    k = PRIOR_DEALS
    t["p_stage"] = (t["d_s"] * t["r_s"] + k * t["prior"]) / (t["d_s"] + k)
    t["p_line"] = (t["d_c"] * t["r_c"] + k * t["p_stage"]) / (t["d_c"] + k)
    t["p_cell"] = (t["d_p"] * t["r_p"] + k * t["p_line"]) / (t["d_p"] + k)
    return t


_KEYS = ["pipeline_id", "product_line", "product_id", "stage_id"]


def stage_learned(
    history: pd.DataFrame, deals: pd.DataFrame, model: timing.TimingModel | None = None
) -> FloatArray:
    t = learned_table(history, deals, model)
    j = deals[_KEYS].merge(t, on=_KEYS, how="left")
    return np.clip(j["p_cell"].to_numpy(float, na_value=0.0), 0.0, 1.0)


def learned_draws(
    history: pd.DataFrame,
    deals: pd.DataFrame,
    k: int,
    rng: np.random.Generator,
    model: timing.TimingModel | None = None,
) -> npt.NDArray[np.float32]:
    """``k`` draws of every deal's learned win probability from its posterior: deals × k.

    The posterior follows the smoothing level by level, each a Beta with the level's
    decided deals as its evidence: the pipeline's stage rate
    ``θ_s ~ Beta(d_s·r_s + K·prior, d_s·(1 − r_s) + K·(1 − prior))``, then the line's
    around it ``θ_c ~ Beta(d_c·r_c + K·θ_s, d_c·(1 − r_c) + K·(1 − θ_s))``, then the
    product's around that (``K`` = :data:`PRIOR_DEALS`). A draw is shared by every deal of
    its cell (and a stage draw by all lines and products under it), so the deals move
    together when a rate is off. The mean of ``θ_p`` is exactly :func:`stage_learned`'s
    ``p_cell``; with no evidence anywhere it is the configured probability, drawn with
    ``K`` deals' worth of uncertainty.
    """
    t = learned_table(history, deals, model)
    kk = PRIOR_DEALS

    def beta(d: FloatArray, r: FloatArray, mean: FloatArray) -> FloatArray:
        a = d[:, None] * r[:, None] + kk * mean
        b = d[:, None] * (1.0 - r[:, None]) + kk * (1.0 - mean)
        out = np.zeros_like(a)
        ok = (a > 0) & (b > 0)
        out[ok] = rng.beta(a[ok], b[ok])
        out[~ok & (b <= 0)] = 1.0
        return out

    def level(cols: list[str], tag: str, parent: FloatArray) -> FloatArray:
        code, _ = pd.factorize(pd.MultiIndex.from_frame(t[cols]))
        first = np.unique(code, return_index=True)[1]
        d = t[f"d_{tag}"].to_numpy(float)[first]
        r = t[f"r_{tag}"].to_numpy(float)[first]
        return beta(d, r, parent[first])[code]

    prior = np.repeat(t["prior"].to_numpy(float)[:, None], k, axis=1)
    th_s = level(["pipeline_id", "stage_id"], "s", prior)
    th_c = level(["pipeline_id", "product_line", "stage_id"], "c", th_s)
    th_p = level(_KEYS, "p", th_c)
    row = deals[_KEYS].merge(t[_KEYS].assign(_row=np.arange(len(t))), on=_KEYS, how="left")
    return np.clip(th_p[row["_row"].to_numpy(int)], 0.0, 1.0).astype(np.float32)


def stage_age(
    p_learned: Floats, p_timing: Floats, evidence: FloatArray, found: npt.NDArray[np.bool_]
) -> FloatArray:
    """``(r·p_timing + k·p_learned) / (r + k)`` with ``r`` the deals at risk at that age."""
    r = np.where(found, evidence, 0.0)
    return np.clip((r * p_timing + PRIOR_DEALS * p_learned) / (r + PRIOR_DEALS), 0.0, 1.0)
