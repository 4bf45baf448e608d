"""Training and honest evaluation of the likelihood-to-close model (W9b) and the lead model.

**Samples.** On a grid of past as-of dates (every ``step`` days over the history), every
deal open on that date is one sample, with its features as known then
(:mod:`salespulse.scoring.features`) and, as label, how it finally ended (won = 1, lost =
0; deals still open today are not labelled). Leads: every lead active on a grid date whose
horizon (``lead_score_horizon_days``) has passed; label 1 when a deal from it was won
within the horizon.

**Time-based hold-out.** Labelled deals are ordered by when their outcome became known
(closed_at; leads: the sample date): the oldest 60 % train the models, the next 20 %
(validation) choose the model and fit its calibration, the newest 20 % are the test, seen
by nothing before the metrics. All samples of one deal sit in one part.

**Gates.** Too few won or lost deals → no model (a UserError that says so). A feature
that alone separates won from lost almost perfectly (AUC ≥ ``LEAKAGE_AUC``, e.g. an
amount that is 0 exactly for lost deals) is refused and named. When no model beats the
stage baseline on the validation part by at least ``max(MIN_GAIN, 2 standard errors)``
(and on the test part at all), the verdict is "no signal beyond stage" and the stage
baseline is kept.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from ibis import _

from salespulse.errors import UserError
from salespulse.scoring import features as F
from salespulse.scoring import metrics
from salespulse.scoring.models import (
    Calibrator,
    Design,
    LightGBM,
    Logistic,
    Model,
    NaiveBayes,
    StageModel,
)
from salespulse.semantic.query import context, data_day
from salespulse.settings import Settings, load_settings
from salespulse.warehouse.store import Store

#: At least this many won and this many lost deals (leads) before a model is trained.
MIN_OUTCOMES = 30
#: A single feature with an AUC at least this high gives the outcome away: refused.
LEAKAGE_AUC = 0.97
#: The smallest AUC gain over the stage baseline that counts as signal.
MIN_GAIN = 0.02
#: At most this many sample dates over the history (at least ``MIN_STEP`` days apart) ...
SAMPLE_DATES = 30
MIN_STEP = 14
#: ... and fewer on big data: about this many samples are plenty (each date costs a query
#: over the whole history), but never fewer than ``MIN_SAMPLE_DATES`` dates.
SAMPLE_ROWS = 100_000
MIN_SAMPLE_DATES = 12
SPLIT = (0.6, 0.8)
DEAL_TARGET = "deal_won"
LEAD_TARGET = "lead_won"
NO_SIGNAL = "no signal beyond stage"
SIGNAL = "signal beyond stage"
#: Variables of the naive-Bayes baseline (per team), as Odoo's PLS uses stage, source…
NB_DEAL_VARIABLES = ["stage_id", "channel", "product_id", "industry"]
NB_LEAD_VARIABLES = ["status", "channel", "industry", "job_title"]

Progress = Callable[[str, int, int], None]


@dataclass
class Trained:
    """The outcome of one training run: what was measured, and the chosen model."""

    target: str
    models: dict[str, Model]
    calibrators: dict[str, Calibrator]
    chosen: str
    verdict: str
    test: dict[str, dict[str, float | None]]
    validation_auc: dict[str, float | None]
    refused: dict[str, float]
    features: list[str]
    reliability: pd.DataFrame
    data: dict[str, Any] = field(default_factory=dict)

    def evaluation(self) -> dict[str, Any]:
        """The evaluation as JSON-ready data (``score evaluate --format json``)."""
        return {
            "target": self.target,
            "models": [{"name": n, **self.test[n]} for n in self.test],
            "chosen": self.chosen,
            "verdict": self.verdict,
            "validation_auc": self.validation_auc,
            "refused_features": self.refused,
            "features": self.features,
            "reliability": self.reliability.to_dict(orient="records"),
            "data": self.data,
        }


def sample_dates(
    store: Store, settings: Settings, end: date | None = None, count: int = SAMPLE_DATES
) -> list[date]:
    """The grid of ``count`` as-of dates (at most): every ``step`` days from 30 days after
    the first deal to the day before the last day with data."""
    last = end or data_day(store, settings)
    first = store.table("deals").created_at.min().execute()
    if first is None or pd.isna(first):
        return []
    start = pd.Timestamp(first).date() + timedelta(days=30)
    span = (last - start).days
    if span <= 0:
        return []
    step = max(MIN_STEP, math.ceil(span / max(count, 1)))
    return [start + timedelta(days=i) for i in range(0, span, step)]


def deal_samples(
    store: Store, settings: Settings | None = None, progress: Progress | None = None
) -> pd.DataFrame:
    """One row per (sample date, deal open then and closed since): features, ``as_of``,
    ``y`` (1 = won) and ``known_at`` (when the outcome became known)."""
    s = settings or load_settings(store=store)
    final = context(store, s).deals.filter(_.is_closed)
    labels = final.select("deal_id", y=final.is_won.cast("int64"), known_at=final.closed_at)
    labels_df = labels.execute()
    open_now = int(context(store, s).deals.filter(~_.is_closed).count().execute())
    count = min(SAMPLE_DATES, max(MIN_SAMPLE_DATES, SAMPLE_ROWS // max(open_now, 1)))
    dates = sample_dates(store, s, count=count)
    frames = []
    for i, d in enumerate(dates):
        ctx = context(store, s, d)
        frames.append(F.open_deals(ctx).execute().assign(as_of=d))
        if progress:
            progress("deal samples", i + 1, len(dates))
    if not frames:
        return pd.DataFrame(columns=[*F.DEAL_FEATURES, "deal_id", "as_of", "y", "known_at"])
    x = pd.concat(frames, ignore_index=True)
    return x.merge(labels_df, on="deal_id", how="inner")


def lead_samples(
    store: Store, settings: Settings | None = None, progress: Progress | None = None
) -> pd.DataFrame:
    """One row per (sample date, lead active then) whose horizon has passed: features,
    ``as_of``, ``y`` (1 = a deal from the lead was won within the horizon)."""
    s = settings or load_settings(store=store)
    horizon = s.lead_score_horizon_days
    last = data_day(store, s)
    won = context(store, s).deals.filter(_.is_won & _.lead_id.notnull())
    won_df = won.select("lead_id", won_at=won.closed_at).execute()
    active = int(context(store, s).leads.filter(_.disqualified_at.isnull()).count().execute())
    count = min(SAMPLE_DATES, max(MIN_SAMPLE_DATES, 4 * SAMPLE_ROWS // max(active, 1)))
    dates = [d for d in sample_dates(store, s, count=count) if d + timedelta(days=horizon) <= last]
    frames = []
    for i, d in enumerate(dates):
        ctx = context(store, s, d)
        frames.append(F.active_leads(ctx).execute().assign(as_of=d))
        if progress:
            progress("lead samples", i + 1, len(dates))
    if not frames:
        return pd.DataFrame(columns=[*F.LEAD_FEATURES, "lead_id", "as_of", "y", "known_at"])
    x = pd.concat(frames, ignore_index=True)
    x = x.merge(won_df, on="lead_id", how="left")
    limit = pd.to_datetime(x["as_of"]) + pd.Timedelta(days=horizon + 1)
    x["y"] = (x["won_at"].notnull() & (pd.to_datetime(x["won_at"]) < limit)).astype(int)
    x["known_at"] = limit
    return x.drop(columns="won_at")


def split(samples: pd.DataFrame, key: str) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Masks train / validation / test: units (deals, leads) ordered by ``known_at``."""
    unit = samples.groupby(key)["known_at"].max().sort_values(kind="stable")
    n = len(unit)
    a, b = int(n * SPLIT[0]), int(n * SPLIT[1])
    part = pd.Series(np.repeat([0, 1, 2], [a, b - a, n - b]), index=unit.index)
    p = samples[key].map(part)
    return p == 0, p == 1, p == 2


def gate(samples: pd.DataFrame, key: str, what: str) -> None:
    """Refuse to train on too few outcomes (counted per deal or lead, not per sample)."""
    per = samples.groupby(key)["y"].max()
    won, lost = int(per.sum()), int((1 - per).sum())
    if won < MIN_OUTCOMES or lost < MIN_OUTCOMES:
        raise UserError(
            f"too few closed {what} to learn from: {won} won and {lost} lost; a model needs "
            f"at least {MIN_OUTCOMES} of each — no model trained, the stage probabilities "
            "stay in use",
            hint="import more history, or train again when more deals have closed",
        )


def leakage(
    x: pd.DataFrame, y: np.ndarray, categorical: list[str], numeric: list[str]
) -> dict[str, float]:
    """Features that alone predict the outcome (almost) perfectly on the training part:
    name → AUC. Numbers: the value itself ranks the rows (missing lowest); categories: the
    share won per value."""
    out: dict[str, float] = {}
    if len(np.unique(y)) < 2:
        return out
    for c in numeric:
        v = x[c].to_numpy(float)
        v = np.where(np.isnan(v), np.nanmin(v) - 1 if np.isfinite(v).any() else 0.0, v)
        a = metrics.auc(y, v)
        if a is not None and max(a, 1 - a) >= LEAKAGE_AUC:
            out[c] = round(max(a, 1 - a), 4)
    for c in categorical:
        rates = StageModel.fit(x, y, c).predict(x)
        a = metrics.auc(y, rates)
        if a is not None and a >= LEAKAGE_AUC:
            out[c] = round(a, 4)
    return out


def _se_auc(a: float, n_pos: int, n_neg: int) -> float:
    """Hanley–McNeil standard error of an AUC."""
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (n_pos - 1) * (q1 - a * a) + (n_neg - 1) * (q2 - a * a)) / max(
        n_pos * n_neg, 1
    )
    return math.sqrt(max(var, 0.0))


def fit_and_evaluate(
    samples: pd.DataFrame,
    *,
    target: str,
    key: str,
    categorical: tuple[str, ...],
    numeric: tuple[str, ...],
    stage_column: str,
    nb_variables: list[str],
    what: str,
    progress: Progress | None = None,
) -> Trained:
    """Gate, leakage check, the four models, calibration, test metrics and the verdict."""
    gate(samples, key, what)
    masks = split(samples, key)
    xs = samples.reset_index(drop=True)
    train, val, test = (m.to_numpy() for m in masks)
    y = xs["y"].to_numpy(float)
    for part, name in ((val, "validation"), (test, "test")):
        if len(np.unique(y[part])) < 2:
            raise UserError(
                f"the {name} part of the {what} has only one outcome: no honest evaluation",
                hint="import more history",
            )
    xt, yt = xs[train], y[train]
    refused = leakage(xt, yt, list(categorical), list(numeric))
    cats = [c for c in categorical if c not in refused]
    nums = [c for c in numeric if c not in refused]
    design = Design.fit(xt, cats, nums)
    steps = 4
    tick = progress or (lambda s, d, t: None)
    models: dict[str, Model] = {}
    models["stage"] = StageModel.fit(xt, yt, stage_column)
    models["naive_bayes"] = NaiveBayes.fit(xt, yt, [v for v in nb_variables if v in cats])
    tick("models", 2, steps)
    models["logistic"] = Logistic.fit(xt, yt, design)
    tick("models", 3, steps)
    models["lightgbm"] = LightGBM.fit(xt, yt, design)
    tick("models", 4, steps)
    raw_val = {n: m.predict(xs[val]) for n, m in models.items()}
    calibrators = {n: Calibrator.fit(raw_val[n], y[val]) for n in models}
    test_metrics = {}
    for n, m in models.items():
        p = calibrators[n](m.predict(xs[test]))
        test_metrics[n] = metrics.summary(y[test], p)
    v_auc = {n: metrics.auc(y[val], raw_val[n]) for n in models}
    learned = [n for n in ("lightgbm", "logistic", "naive_bayes") if v_auc[n] is not None]
    best = max(learned, key=lambda n: v_auc[n] or 0.0)
    base_v, best_v = v_auc["stage"] or 0.5, v_auc[best] or 0.5
    n_pos, n_neg = int(y[val].sum()), int((1 - y[val]).sum())
    need = max(MIN_GAIN, 2 * _se_auc(best_v, n_pos, n_neg))
    base_t = test_metrics["stage"]["auc"] or 0.5
    best_t = test_metrics[best]["auc"] or 0.5
    signal = best_v - base_v >= need and best_t > base_t
    chosen = best if signal else "stage"
    p_chosen = calibrators[chosen](models[chosen].predict(xs[test]))
    data = {
        "samples": len(xs),
        "units": int(xs[key].nunique()),
        "won": int(xs.groupby(key)["y"].max().sum()),
        "lost": int((1 - xs.groupby(key)["y"].max()).sum()),
        "train_samples": int(train.sum()),
        "validation_samples": int(val.sum()),
        "test_samples": int(test.sum()),
        "sample_dates": int(xs["as_of"].nunique()),
        "first_as_of": str(min(xs["as_of"])),
        "last_as_of": str(max(xs["as_of"])),
        "test_known_from": str(pd.Timestamp(xs.loc[test, "known_at"].min()).date()),
        "calibration": calibrators[chosen].method,
        "required_gain": round(need, 4),
    }
    return Trained(
        target=target,
        models=models,
        calibrators=calibrators,
        chosen=chosen,
        verdict=SIGNAL if signal else NO_SIGNAL,
        test=test_metrics,
        validation_auc=v_auc,
        refused=refused,
        features=[*cats, *nums],
        reliability=metrics.reliability(y[test], p_chosen),
        data=data,
    )


def train_deals(
    store: Store, settings: Settings | None = None, progress: Progress | None = None
) -> Trained:
    """Likelihood to close: samples, then :func:`fit_and_evaluate` (target ``deal_won``)."""
    x = deal_samples(store, settings, progress)
    return fit_and_evaluate(
        x,
        target=DEAL_TARGET,
        key="deal_id",
        categorical=F.DEAL_CATEGORICAL,
        numeric=F.DEAL_NUMERIC,
        stage_column="stage_id",
        nb_variables=NB_DEAL_VARIABLES,
        what="deals",
        progress=progress,
    )


def train_leads(
    store: Store, settings: Settings | None = None, progress: Progress | None = None
) -> Trained:
    """Leads: likelihood of a won deal within the horizon (target ``lead_won``)."""
    x = lead_samples(store, settings, progress)
    return fit_and_evaluate(
        x,
        target=LEAD_TARGET,
        key="lead_id",
        categorical=F.LEAD_CATEGORICAL,
        numeric=F.LEAD_NUMERIC,
        stage_column="status",
        nb_variables=NB_LEAD_VARIABLES,
        what="leads",
        progress=progress,
    )
