"""The likelihood-to-close model as one more backtest method (``likelihood``), trained per
origin so that it is as honest as the others.

A model trained today has seen how the deals open at a past month end ended, so scoring
those deals with it would look ahead. Here, at backtest month end ``T``:

* **samples**: the deals open at each earlier month end ``d < T`` with their features as
  known at ``d`` (:func:`salespulse.scoring.features.open_deals`, as in ``score train``);
* **labels**: only deals *decided on or before T* (closed_at ≤ T: 1 = won, 0 = lost);
  deals still open at ``T`` are not labelled;
* **model**: the scoring module's logistic regression on its usual features (its own
  probabilities, no calibration step — that needs a validation part the early origins do
  not have), refitted every :data:`RETRAIN_MONTHS` month ends (quarterly, to stay fast);
  in between the last model is used — it was fitted at an earlier ``T`` and so knows even
  less;
* **timing**: the time-to-close model's shares, as ``learned_timing``.

With fewer than :data:`MIN_OUTCOMES` won or lost labelled deals there is no model and the
learned stage probability stands in (counted in ``fallbacks``). As the backtest's
actuals, outcomes are read as known at the backtest's own as-of date (a close recorded
after ``T`` but dated before it would count; rare).

Reading the features costs one query per month end (~1.7 s on demo, 3–4 s on large on a
loaded 2-core machine), so the method is opt-in (``scripts/bench_forecast.py backtest
--likelihood``; ``backtest.run(methods=(*METHODS, "likelihood"))``), not in the default
backtest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import numpy.typing as npt
import pandas as pd
from ibis import _

from salespulse.scoring import features as F
from salespulse.scoring.models import Design, Logistic
from salespulse.semantic.query import context
from salespulse.settings import Settings
from salespulse.warehouse.store import Store

FloatArray = npt.NDArray[np.float64]

NAME = "likelihood"
#: Refit every this many month ends.
RETRAIN_MONTHS = 3
#: Fewer won (or lost) labelled deals than this: no model at that origin.
MIN_OUTCOMES = 20


@dataclass
class PerOrigin:
    """Features per month end, read once; a model per origin fitted from them."""

    store: Store
    settings: Settings
    outcomes: pd.DataFrame  # deal_id → closed_at (date), y
    frames: dict[date, pd.DataFrame] = field(default_factory=dict)
    _model: Logistic | None = None
    _fitted_at: date | None = None
    _since_fit: int = 0
    fallbacks: int = 0
    fits: list[tuple[date, int]] = field(default_factory=list)  # (T, training rows)

    def features(self, d: date) -> pd.DataFrame:
        if d not in self.frames:
            ctx = context(self.store, self.settings, d)
            self.frames[d] = F.open_deals(ctx).execute()
        return self.frames[d]

    def training_set(self, t: date) -> pd.DataFrame:
        """Samples known at ``t``: deals open at an earlier month end, decided by ``t``."""
        parts = [f.assign(as_of=d) for d, f in self.frames.items() if d < t]
        if not parts:
            return pd.DataFrame()
        x = pd.concat(parts, ignore_index=True)
        known = self.outcomes[self.outcomes["closed_on"] <= t]
        return x.merge(known[["deal_id", "y", "closed_on"]], on="deal_id", how="inner")

    def probabilities(self, t: date, deal_ids: pd.Series, fallback: FloatArray) -> FloatArray:
        """Win probability of each deal open at ``t`` (in ``deal_ids`` order)."""
        x = self.features(t)
        if self._model is None or self._since_fit >= RETRAIN_MONTHS - 1:
            self._fit(t)
        else:
            self._since_fit += 1
        if self._model is None:
            self.fallbacks += 1
            return fallback
        p = pd.Series(self._model.predict(x), index=x["deal_id"].to_numpy())
        got = p.reindex(deal_ids.to_numpy()).to_numpy(float)
        return np.where(np.isfinite(got), got, fallback)

    def _fit(self, t: date) -> None:
        xs = self.training_set(t)
        y = xs["y"].to_numpy(float) if not xs.empty else np.zeros(0)
        if y.sum() < MIN_OUTCOMES or (1 - y).sum() < MIN_OUTCOMES:
            return  # keep the earlier model, if any (it knows less than t)
        design = Design.fit(xs, list(F.DEAL_CATEGORICAL), list(F.DEAL_NUMERIC))
        self._model = Logistic.fit(xs, y, design)
        self._fitted_at, self._since_fit = t, 0
        self.fits.append((t, len(xs)))


def outcomes(store: Store, settings: Settings, as_of: date) -> pd.DataFrame:
    """deal_id, closed_on (local date), y (1 = won) of every decided deal, as known at
    ``as_of``."""
    ctx = context(store, settings, as_of)
    deals = ctx.deals.filter(_.is_closed)
    df = deals.select("deal_id", y=deals.is_won.cast("int64"), closed=ctx.local(deals.closed_at))
    out = df.execute()
    out["closed_on"] = pd.to_datetime(out["closed"]).dt.date
    return out[["deal_id", "closed_on", "y"]]


def warm(m: PerOrigin, month_ends: list[date]) -> None:
    """Read the features of the month ends before the first origin (training samples)."""
    for d in month_ends:
        m.features(d)
