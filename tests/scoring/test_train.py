"""The scoring discipline on synthetic samples with known answers: leakage guard, data gate,
calibration, and the verdict with and without signal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salespulse.errors import UserError
from salespulse.scoring import metrics, models, train

CATS = ("stage_id", "team_id")
NUMS = ("amount_eur", "replies", "noise")


def synthetic(
    n: int = 3000, signal: float = 0.0, leak: bool = False, seed: int = 1
) -> pd.DataFrame:
    """One sample per deal; won with a probability set by the stage and (with ``signal``)
    by ``replies``; ``amount_eur`` is 0 exactly for lost deals when ``leak``."""
    rng = np.random.default_rng(seed)
    stage = rng.choice(["a", "b", "c"], n)
    replies = rng.poisson(2.0, n).astype(float)
    base = pd.Series(stage).map({"a": -0.4, "b": 0.0, "c": 0.4}).to_numpy()
    z = base + signal * (replies - 2.0)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    amount = rng.uniform(1_000, 50_000, n)
    if leak:
        amount = np.where(y == 1, amount, 0.0)
    return pd.DataFrame(
        {
            "deal_id": [f"D{i:05d}" for i in range(n)],
            "stage_id": stage,
            "team_id": rng.choice(["T1", "T2"], n),
            "amount_eur": amount,
            "replies": replies,
            "noise": rng.normal(size=n),
            "y": y,
            "as_of": pd.Timestamp("2025-01-01"),
            "known_at": pd.Timestamp("2025-01-01") + pd.to_timedelta(np.arange(n), unit="h"),
        }
    )


def evaluate(x: pd.DataFrame) -> train.Trained:
    return train.fit_and_evaluate(
        x,
        target=train.DEAL_TARGET,
        key="deal_id",
        categorical=CATS,
        numeric=NUMS,
        stage_column="stage_id",
        nb_variables=["stage_id"],
        what="deals",
    )


@pytest.mark.slow
def test_leakage_guard_refuses_and_names_an_amount_that_is_zero_when_lost() -> None:
    r = evaluate(synthetic(leak=True))
    assert list(r.refused) == ["amount_eur"]
    assert r.refused["amount_eur"] > 0.97
    assert "amount_eur" not in r.features
    # the refused feature is not used: no model comes near a perfect AUC
    assert all((m["auc"] or 0) < 0.8 for m in r.test.values())


@pytest.mark.slow
def test_leakage_guard_keeps_honest_features() -> None:
    assert evaluate(synthetic(signal=0.8)).refused == {}


def test_data_gate_refuses_too_few_outcomes() -> None:
    x = synthetic(n=50)
    with pytest.raises(UserError, match=r"too few closed deals.*won and .* lost.*at least 30"):
        evaluate(x)


@pytest.mark.slow
def test_no_signal_beyond_stage_keeps_the_baseline() -> None:
    r = evaluate(synthetic(signal=0.0))
    assert r.verdict == train.NO_SIGNAL
    assert r.chosen == "stage"


@pytest.mark.slow
def test_signal_is_found_and_beats_the_baseline() -> None:
    r = evaluate(synthetic(n=10_000, signal=0.8))
    assert r.verdict == train.SIGNAL
    assert r.chosen in ("logistic", "lightgbm")
    assert r.test[r.chosen]["auc"] > r.test["stage"]["auc"] + 0.1
    assert r.test[r.chosen]["ece"] < 0.05
    e = r.evaluation()
    assert {m["name"] for m in e["models"]} == {"stage", "naive_bayes", "logistic", "lightgbm"}


def test_calibration_recovers_known_probabilities() -> None:
    rng = np.random.default_rng(3)
    p_true = rng.uniform(0.05, 0.95, 40_000)
    y = (rng.random(p_true.shape[0]) < p_true).astype(float)
    fit, test = slice(0, 20_000), slice(20_000, None)
    logit = np.log(p_true / (1 - p_true))
    # a model that ranks right but is badly calibrated: any monotone distortion for the
    # isotonic fit (many rows), an overconfident logit for Platt scaling (few rows)
    for raw, rows in ((p_true**3, 20_000), (1 / (1 + np.exp(-(2.5 * logit + 0.7))), 300)):
        assert metrics.ece(y[test], raw[test]) > 0.1
        cal = models.Calibrator.fit(raw[fit][:rows], y[fit][:rows])
        p = cal(raw[test])
        assert metrics.ece(y[test], p) < 0.03, cal.method
        assert np.abs(p - p_true[test]).mean() < 0.05, cal.method
    raw = p_true**3
    assert models.Calibrator.fit(raw[fit][:300], y[fit][:300]).method == "platt"


def test_ece_by_hand() -> None:
    # bin 0.1: predicted 0.1 and 0.1, observed 0 and 1 -> |0.1 - 0.5| = 0.4, weight 2/4
    # bin 0.9: predicted 0.9 and 0.9, observed 1 and 1 -> |0.9 - 1.0| = 0.1, weight 2/4
    y = np.array([0.0, 1.0, 1.0, 1.0])
    p = np.array([0.1, 0.1, 0.9, 0.9])
    assert metrics.ece(y, p) == pytest.approx(0.25)


@pytest.mark.slow
def test_stored_model_round_trips_as_json() -> None:
    x = synthetic(signal=0.8)
    r = evaluate(x)
    for name, m in r.models.items():
        blob = models.dump(m, r.calibrators[name])
        m2, cal2 = models.load(blob)
        np.testing.assert_allclose(
            cal2(m2.predict(x.head(50))), r.calibrators[name](m.predict(x.head(50))), rtol=1e-9
        )
