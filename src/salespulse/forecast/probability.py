"""Win probability per open deal, by method.

* ``stage_default`` — the probability configured on the deal's current stage (a stage
  without one counts as 0).
* ``stage_learned`` — learned from history: of the deals that entered the stage and have
  been decided (won or lost) in the rolling window, the share won; smoothed with a Beta
  prior toward the configured probability worth ``PRIOR_DEALS`` deals:
  ``(won + k·prior) / (decided + k)``. First per (pipeline, stage) with the configured
  probability as prior, then per (pipeline, product line, stage) with the pipeline's
  learned figure as prior, then per (pipeline, product, stage) with the line's figure as
  prior — so a product with few deals stays close to its line, one with many speaks for
  itself.
* ``stage_age`` — as ``stage_learned``, but for a deal that has already been in its stage
  ``a`` days: the timing model's chance that a deal still open at that age is won
  (:mod:`salespulse.forecast.timing`), smoothed toward ``stage_learned`` by the number of
  deals that were still open at that age (deals that linger are won less often).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]

#: Weight of the prior, in deals.
PRIOR_DEALS = 20.0


def stage_default(deals: pd.DataFrame) -> FloatArray:
    return np.clip(deals["p_config"].to_numpy(float, na_value=0.0), 0.0, 1.0)


def learned_table(history: pd.DataFrame, deals: pd.DataFrame) -> pd.DataFrame:
    """(pipeline_id, product_line, stage_id) → p_stage, p_cell, decided counts, for the
    cells of ``deals``."""
    prior = deals.groupby(["pipeline_id", "stage_id"], sort=False)["p_config"].first().fillna(0.0)
    dec = history[history["outcome"].notnull()] if not history.empty else history
    if dec.empty:
        won_s = pd.DataFrame(columns=["pipeline_id", "stage_id", "won_s", "n_s"])
        won_c = pd.DataFrame(columns=["pipeline_id", "product_line", "stage_id", "won_c", "n_c"])
        won_p = pd.DataFrame(columns=["pipeline_id", "product_id", "stage_id", "won_p", "n_p"])
    else:
        dec = dec.assign(won=(dec["outcome"] == "won").astype(float))
        won_s = dec.groupby(["pipeline_id", "stage_id"], as_index=False).agg(
            won_s=("won", "sum"), n_s=("won", "size")
        )
        won_c = dec.groupby(["pipeline_id", "product_line", "stage_id"], as_index=False).agg(
            won_c=("won", "sum"), n_c=("won", "size")
        )
        won_p = dec.groupby(["pipeline_id", "product_id", "stage_id"], as_index=False).agg(
            won_p=("won", "sum"), n_p=("won", "size")
        )
    cells = deals[["pipeline_id", "product_line", "product_id", "stage_id"]].drop_duplicates()
    t = cells.merge(prior.rename("prior").reset_index(), on=["pipeline_id", "stage_id"], how="left")
    t = t.merge(won_s, on=["pipeline_id", "stage_id"], how="left")
    t = t.merge(won_c, on=["pipeline_id", "product_line", "stage_id"], how="left")
    t = t.merge(won_p, on=["pipeline_id", "product_id", "stage_id"], how="left")
    zero = dict.fromkeys(["prior", "won_s", "n_s", "won_c", "n_c", "won_p", "n_p"], 0.0)
    t = t.fillna(zero).infer_objects()
    k = PRIOR_DEALS
    t["p_stage"] = (t["won_s"] + k * t["prior"]) / (t["n_s"] + k)
    t["p_line"] = (t["won_c"] + k * t["p_stage"]) / (t["n_c"] + k)
    t["p_cell"] = (t["won_p"] + k * t["p_line"]) / (t["n_p"] + k)
    return t


def stage_learned(history: pd.DataFrame, deals: pd.DataFrame) -> FloatArray:
    t = learned_table(history, deals)
    keys = ["pipeline_id", "product_line", "product_id", "stage_id"]
    j = deals[keys].merge(t, on=keys, how="left")
    return np.clip(j["p_cell"].to_numpy(float, na_value=0.0), 0.0, 1.0)


def stage_age(
    p_learned: FloatArray, p_timing: FloatArray, evidence: FloatArray, found: npt.NDArray[np.bool_]
) -> FloatArray:
    """``(r·p_timing + k·p_learned) / (r + k)`` with ``r`` the deals at risk at that age."""
    r = np.where(found, evidence, 0.0)
    return np.clip((r * p_timing + PRIOR_DEALS * p_learned) / (r + PRIOR_DEALS), 0.0, 1.0)
