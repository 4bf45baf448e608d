"""Monte Carlo quantiles against an analytic case (independent Bernoulli deals), and the
close month drawn from the timing model."""

from __future__ import annotations

from math import comb

import numpy as np
import pandas as pd
import pytest

from salespulse.forecast import montecarlo, timing


def binomial_quantile(n: int, p: float, q: float) -> int:
    """Smallest k with P(X ≤ k) ≥ q for X ~ Binomial(n, p)."""
    acc = 0.0
    for k in range(n + 1):
        acc += comb(n, k) * p**k * (1 - p) ** (n - k)
        if acc >= q:
            return k
    return n


def test_quantiles_match_the_binomial() -> None:
    n, p = 400, 0.3
    amount = np.full(n, 1000.0)
    # half the wins fall in period 1, half in period 2: each period ~ Binomial(n, 0.15)
    shares = np.tile([0.5, 0.5], (n, 1))
    sim = montecarlo.simulate(amount, np.full(n, p), shares, draws=20_000, seed=3)
    total = sim.total()
    for j in range(2):
        got = montecarlo.quantiles(total[j] / 1000.0)
        want = [binomial_quantile(n, p / 2, q) for q in montecarlo.QUANTILES]
        assert np.all(np.abs(got - np.array(want)) <= 1), (got, want)
        assert abs(total[j].mean() / 1000.0 - n * p / 2) < 0.3
    both = montecarlo.quantiles(total.sum(axis=0) / 1000.0)
    want = [binomial_quantile(n, p, q) for q in montecarlo.QUANTILES]
    assert np.all(np.abs(both - np.array(want)) <= 1), (both, want)


def test_groups_add_up_and_are_deterministic() -> None:
    rng = np.random.default_rng(0)
    n = 3000
    amount = rng.uniform(1e3, 1e5, n)
    p = rng.uniform(0.05, 0.9, n)
    shares = rng.dirichlet([1, 1, 1, 1], n)[:, :3]
    groups = {"rep": (rng.integers(0, 17, n), 17), "product": (rng.integers(0, 5, n), 5)}
    a = montecarlo.simulate(amount, p, shares, groups, draws=500, seed=1)
    b = montecarlo.simulate(amount, p, shares, groups, draws=500, seed=1)
    np.testing.assert_array_equal(a.revenue["rep"], b.revenue["rep"])
    np.testing.assert_allclose(
        a.revenue["rep"].sum(axis=0), a.revenue["product"].sum(axis=0), rtol=1e-5
    )
    # the mean over draws approaches Σ amount × p × share
    expected = (amount[:, None] * p[:, None] * shares).sum(axis=0)
    np.testing.assert_allclose(a.total().mean(axis=1), expected, rtol=0.03)


def test_close_month_is_drawn_from_the_timing_model() -> None:
    # the hand-computed curves of test_timing: a deal that just entered the stage is won
    # with P 0.5; of that win 40 % falls by day 1, none on day 2, 60 % on day 3
    days = np.array([1.0, 2.0, 2.0, 2.4, 4.0] * 10)
    outcome = [{1: "won", 2: "lost", 0: None}[o] for o in [1, 2, 0, 1, 0] * 10]
    history = pd.DataFrame(
        {"pipeline_id": "p", "product_id": "x", "product_line": "l", "stage_id": "s",
         "outcome": outcome, "days": days, "days_created": days,
         "deal_id": [f"D{i}" for i in range(len(days))]}
    )  # fmt: skip
    deal = pd.DataFrame(
        {"pipeline_id": ["p"], "product_id": ["x"], "product_line": ["l"], "stage_id": ["s"],
         "age_days": [0.0], "deal_age_days": [0.0]}
    )  # fmt: skip
    model = timing.fit(history)
    # periods: day 1, day 2; day 3 is after the horizon ("later", not in any period)
    shares, p_win, _, found = timing.bucket_shares(model, deal, np.array([1.0, 2.0]))
    assert found[0] and p_win[0] == pytest.approx(0.5)
    np.testing.assert_allclose(shares[0], [0.4, 0.0])
    draws = 40_000
    sim = montecarlo.simulate(np.ones(1), p_win, shares, draws=draws, seed=5)
    won = sim.total()  # periods × draws: 1 if won in that period
    assert set(np.unique(won)) <= {0.0, 1.0} and won.sum(axis=0).max() <= 1
    for j, want in enumerate([0.5 * 0.4, 0.0]):
        binomial_sd = np.sqrt(want * (1 - want) / draws)
        assert abs(won[j].mean() - want) <= 4 * binomial_sd + 1 / 65536, (j, won[j].mean())
    # a second period that takes the day-3 wins: 0.5 × 0.6 of the draws
    shares3, _, _, _ = timing.bucket_shares(model, deal, np.array([1.0, 3.0]))
    won3 = montecarlo.simulate(np.ones(1), p_win, shares3, draws=draws, seed=6).total()
    assert abs(won3[1].mean() - 0.3) <= 4 * np.sqrt(0.3 * 0.7 / draws)
    assert abs(won3.sum(axis=0).mean() - 0.5) <= 4 * np.sqrt(0.25 / draws)
