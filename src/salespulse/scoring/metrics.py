"""How good a probability is: AUC, Brier score, log loss, expected calibration error and the
reliability table behind a calibration plot. ``y`` is 1 for won, 0 for lost; ``p`` the
predicted probability of won."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

FloatArray = npt.NDArray[np.float64]
#: Equal-width probability bins of the ECE and the reliability plot.
BINS = 10
EPS = 1e-6


def auc(y: FloatArray, p: FloatArray) -> float | None:
    """Area under the ROC curve; None when only one class is present."""
    if len(np.unique(y)) < 2:
        return None
    return float(roc_auc_score(y, p))


def ece(y: FloatArray, p: FloatArray, bins: int = BINS) -> float:
    """Expected calibration error: Σ over equal-width bins of (share of rows in the bin) ×
    |mean prediction − observed share won|."""
    r = reliability(y, p, bins)
    n = r["n"].sum()
    return float((r["n"] / n * (r["predicted"] - r["observed"]).abs()).sum()) if n else 0.0


def reliability(y: FloatArray, p: FloatArray, bins: int = BINS) -> pd.DataFrame:
    """Per non-empty bin: lower edge, mean predicted probability, observed share won, n."""
    idx = np.minimum((np.asarray(p) * bins).astype(int), bins - 1)
    f = pd.DataFrame({"bin": idx, "p": p, "y": y})
    g = f.groupby("bin").agg(predicted=("p", "mean"), observed=("y", "mean"), n=("y", "size"))
    g = g.reset_index()
    g["lower"] = g["bin"] / bins
    return g[["lower", "predicted", "observed", "n"]]


def summary(y: FloatArray, p: FloatArray) -> dict[str, float | None]:
    """auc, brier, log_loss, ece and n (rows) of one model on one data set."""
    pc = np.clip(p, EPS, 1 - EPS)
    return {
        "auc": auc(y, pc),
        "brier": float(brier_score_loss(y, pc)),
        "log_loss": float(log_loss(y, pc, labels=[0, 1])),
        "ece": ece(y, pc),
        "n": float(len(y)),
    }
