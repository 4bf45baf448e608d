"""Monte Carlo quantiles against an analytic case: independent Bernoulli deals."""

from __future__ import annotations

from math import comb

import numpy as np

from salespulse.forecast import montecarlo


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
