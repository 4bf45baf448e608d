"""The likelihood-to-close backtest method learns, at each month end, only from deals
decided by then (no look-ahead), and refits quarterly."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from salespulse.forecast import likelihood
from salespulse.scoring import features as F

ENDS = [d.date() for d in pd.date_range("2024-01-31", periods=12, freq="ME")]


def _frames(rng: np.random.Generator) -> tuple[dict[date, pd.DataFrame], pd.DataFrame]:
    """60 deals open at each month end (a third new each month); the feature
    ``meetings_held`` drives the outcome; each deal closes 1–3 months after it was last open."""
    frames, last_open = {}, {}
    for k, d in enumerate(ENDS):
        ids = [f"D{k * 20 + i:04d}" for i in range(-40, 20) if k * 20 + i >= 0]
        x = pd.DataFrame({c: "x" for c in F.DEAL_CATEGORICAL} | {c: 0.0 for c in F.DEAL_NUMERIC},
                         index=range(len(ids)))  # fmt: skip
        x["deal_id"] = ids
        x["meetings_held"] = [int(i[1:]) % 7 for i in ids]
        frames[d] = x
        for i in ids:
            last_open[i] = k
    rows = []
    for i, k in last_open.items():
        closed = (pd.Timestamp(ENDS[k]) + pd.DateOffset(months=int(rng.integers(1, 4)))).date()
        won = int(int(i[1:]) % 7 >= 3) if rng.random() < 0.9 else int(rng.random() < 0.5)
        rows.append({"deal_id": i, "closed_on": closed, "y": won})
    return frames, pd.DataFrame(rows)


def _run(frames: dict[date, pd.DataFrame], outcomes: pd.DataFrame) -> tuple[Any, list[np.ndarray]]:
    m = likelihood.PerOrigin(store=None, settings=None, outcomes=outcomes)  # type: ignore[arg-type]
    m.frames = {d: f.copy() for d, f in frames.items()}
    got = []
    for t in ENDS[6:]:
        ids = frames[t]["deal_id"]
        got.append(m.probabilities(t, ids, np.full(len(ids), -1.0)))
    return m, got


def test_trained_only_on_deals_decided_by_the_month_end() -> None:
    frames, outcomes = _frames(np.random.default_rng(3))
    m, base = _run(frames, outcomes)
    t = ENDS[8]
    train = m.training_set(t)
    assert len(train) > 0 and (train["as_of"] < t).all() and (train["closed_on"] <= t).all()
    # the fits: at the first origin and every RETRAIN_MONTHS month ends after it
    assert [f[0] for f in m.fits] == ENDS[6 :: likelihood.RETRAIN_MONTHS]
    assert m.fallbacks == 0 and all((p >= 0).all() and (p <= 1).all() for p in base)
    # it learned the planted signal
    p = pd.Series(base[0], index=frames[ENDS[6]]["deal_id"])
    meetings = frames[ENDS[6]].set_index("deal_id")["meetings_held"]
    assert p[meetings >= 3].mean() > p[meetings < 3].mean() + 0.3
    # flipping every outcome decided after the first origin changes nothing at it ...
    flipped = outcomes.copy()
    later = flipped["closed_on"] > ENDS[6]
    flipped.loc[later, "y"] = 1 - flipped.loc[later, "y"]
    _, got = _run(frames, flipped)
    for k in range(likelihood.RETRAIN_MONTHS):  # the model fitted there, until the refit
        np.testing.assert_array_equal(got[k], base[k])
    # ... while the refit three month ends later, which may see some of them, changes
    assert not np.allclose(got[3], base[3])


def test_too_few_decided_deals_falls_back() -> None:
    frames, outcomes = _frames(np.random.default_rng(3))
    m = likelihood.PerOrigin(store=None, settings=None, outcomes=outcomes.iloc[:10])  # type: ignore[arg-type]
    m.frames = frames
    fb = np.full(len(frames[ENDS[6]]), 0.37)
    assert (m.probabilities(ENDS[6], frames[ENDS[6]]["deal_id"], fb) == 0.37).all()
    assert m.fallbacks == 1 and m.fits == []


def test_unknown_deal_gets_the_fallback() -> None:
    k = 6
    frames, outcomes = _frames(np.random.default_rng(3))
    m = likelihood.PerOrigin(store=None, settings=None, outcomes=outcomes)  # type: ignore[arg-type]
    m.frames = frames
    ids = pd.Series([frames[ENDS[k]]["deal_id"].iloc[0], "NOT-THERE"])
    p = m.probabilities(ENDS[k], ids, np.array([0.5, 0.25]))
    assert 0 <= p[0] <= 1 and p[1] == 0.25
