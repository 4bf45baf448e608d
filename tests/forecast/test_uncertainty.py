"""Parameter uncertainty in the Monte Carlo: the posterior draws of the win probabilities
and of the timing curves, against hand-computed Beta and Beta-Binomial cases."""

from __future__ import annotations

from datetime import date
from math import comb, exp, lgamma

import numpy as np
import pandas as pd
import pytest

from salespulse.forecast import inputs, montecarlo, probability, run, timing
from salespulse.semantic.query import context
from salespulse.warehouse.store import Store


def _history(won: int, lost: int, open_days: tuple[float, ...] = ()) -> pd.DataFrame:
    """One cell (pipeline p, line l, product x, stage s): decided deals on days 1, 2, …
    and still-open ones (censored) after ``open_days``."""
    outcome = ["won"] * won + ["lost"] * lost + [None] * len(open_days)
    days = [float(1 + i % 7) for i in range(won + lost)] + list(open_days)
    return pd.DataFrame(
        {"deal_id": [f"D{i}" for i in range(len(days))], "pipeline_id": "p",
         "product_line": "l", "product_id": "x", "stage_id": "s", "outcome": outcome,
         "days": days, "days_created": days}
    )  # fmt: skip


def _deals(n: int, p_config: float = 0.5) -> pd.DataFrame:
    return pd.DataFrame(
        {"deal_id": [f"O{i}" for i in range(n)], "pipeline_id": "p", "product_line": "l",
         "product_id": "x", "stage_id": "s", "p_config": p_config, "age_days": 0.0,
         "deal_age_days": 0.0}
    )  # fmt: skip


def beta_binomial_quantile(n: int, a: float, b: float, q: float) -> int:
    """Smallest k with P(X ≤ k) ≥ q for X ~ Beta-Binomial(n, a, b):
    P(X = k) = C(n, k) · B(k + a, n − k + b) / B(a, b)."""

    def log_beta(x: float, y: float) -> float:
        return lgamma(x) + lgamma(y) - lgamma(x + y)

    acc = 0.0
    for k in range(n + 1):
        acc += comb(n, k) * exp(log_beta(k + a, n - k + b) - log_beta(a, b))
        if acc >= q:
            return k
    return n


def test_the_censored_win_rate_counts_open_deals() -> None:
    # 2 won on days 1–2, 4 lost on days 3–6 — and 4 deals still open after 2.5 days, all
    # at risk of a win later: "won / decided" says 2/6; the censored W(∞) says more
    h = pd.DataFrame(
        {"deal_id": [f"D{i}" for i in range(10)], "pipeline_id": "p", "product_line": "l",
         "product_id": "x", "stage_id": "s",
         "outcome": ["won", "won", "lost", "lost", "lost", "lost", None, None, None, None],
         "days": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 2.5, 2.5, 2.5, 2.5]}
    )  # fmt: skip
    h["days_created"] = h["days"]
    model = timing.fit(h)
    c = model.cells[("0", "p", "x", "s")]
    # day 1: 10 at risk, 1 won → W = 0.1, S = 0.9; day 2: 9 at risk, 1 won → W = 0.2,
    # S = 0.8; the 4 censored leave after day 3 starts (at risk through day 3): day 3:
    # 8 at risk, 1 lost → S = 0.7; then 3, 2, 1 at risk, each 1 lost → S = 0; W(∞) = 0.2
    assert c.decided == 6 and c.p_win == pytest.approx(0.2)
    # here the open deals were at risk only of losses: W(∞) = 0.2 < 2/6 = 0.33
    t = probability.learned_table(h, _deals(1, 0.5), model)
    k = probability.PRIOR_DEALS
    assert t["p_stage"].iloc[0] == pytest.approx((6 * 0.2 + k * 0.5) / (6 + k))
    # with no open deals the censored rate is the decided share, as before
    t2 = probability.learned_table(_history(6, 4), _deals(1, 0.5))
    assert t2["r_p"].iloc[0] == pytest.approx(0.6)
    assert t2["p_stage"].iloc[0] == pytest.approx((6 + k * 0.5) / (10 + k))


def test_posterior_mean_is_the_smoothed_rate() -> None:
    # three levels on the same 6 won / 4 lost: p_stage = (6 + 20·0.5) / 30, the line
    # (6 + 20·p_stage) / 30, the product (6 + 20·p_line) / 30
    h, deals = _history(6, 4), _deals(3)
    p_stage = (6 + 20 * 0.5) / 30
    p_line = (6 + 20 * p_stage) / 30
    p_cell = (6 + 20 * p_line) / 30
    np.testing.assert_allclose(probability.stage_learned(h, deals), p_cell)
    draws = probability.learned_draws(h, deals, 40_000, np.random.default_rng(1))
    assert draws.shape == (3, 40_000)
    np.testing.assert_array_equal(draws[0], draws[2])  # one draw per cell, for every deal
    assert draws[0].mean() == pytest.approx(p_cell, abs=0.003)
    # law of total variance down the levels, by hand: Var(θ_s) of Beta(16, 14), then each
    # level adds E[m(1 − m)] / 31 and keeps (20/30)² of its parent's variance
    var = 16 * 14 / (30**2 * 31)
    for m in (p_line, p_cell):
        var = (m - m**2 - (20 / 30) ** 2 * var) / 31 + (20 / 30) ** 2 * var
    assert draws[0].var() == pytest.approx(var, rel=0.05)


def test_beta_binomial_total(monkeypatch: pytest.MonkeyPatch) -> None:
    # without a prior (weight 0) the product's posterior is Beta(won, lost) = Beta(6, 4);
    # 30 deals of 1 sharing one draw: the number won is Beta-Binomial(30, 6, 4)
    monkeypatch.setattr(probability, "PRIOR_DEALS", 0.0)
    n, k = 30, 2_000
    h, deals = _history(6, 4), _deals(n)
    p_draws = probability.learned_draws(h, deals, k, np.random.default_rng(2))
    assert p_draws.mean() == pytest.approx(0.6, abs=0.01)
    assert p_draws[0].var() == pytest.approx(6 * 4 / (10**2 * 11), rel=0.1)
    shares = np.ones((n, 1))
    sim = montecarlo.simulate(np.ones(n), p_draws, shares, draws=40_000, seed=4)
    got = montecarlo.quantiles(sim.total()[0])
    want = [beta_binomial_quantile(n, 6, 4, q) for q in montecarlo.QUANTILES]
    assert np.all(np.abs(got - np.array(want)) <= 1), (got, want)
    # ... far wider than the independent deals' Binomial(30, 0.6) (P10 14, P90 22)
    assert want[0] <= 11 and want[2] >= 25
    # the same with the uncertainty off: the Binomial
    sim0 = montecarlo.simulate(np.ones(n), np.full(n, 0.6), shares, draws=40_000, seed=4)
    assert np.abs(montecarlo.quantiles(sim0.total()[0]) - [14, 18, 22]).max() <= 1


@pytest.mark.slow
def test_bootstrap_of_the_curve_without_censoring_is_a_beta() -> None:
    # all decided: under Exp(1) weights W(∞) = Σ won weights / Σ weights ~ Beta(won, lost)
    h = _history(6, 4)
    c = timing.fit(h).cells[("0", "p", "x", "s")]
    s, w = timing.resampled(c, np.random.default_rng(3), 20_000)
    assert w.shape == (20_000, timing.MAX_DAYS + 1) and s.shape == w.shape
    np.testing.assert_allclose(s[:, -1], 0.0, atol=1e-12)
    assert w[:, -1].mean() == pytest.approx(0.6, abs=0.005)
    assert w[:, -1].var() == pytest.approx(6 * 4 / (10**2 * 11), rel=0.05)
    # the replicates are centred on the curve, day by day
    np.testing.assert_allclose(w.mean(axis=0)[:10], c.won[:10], atol=0.01)


def test_share_draws_are_centred_on_the_point_shares() -> None:
    days = np.array([1.0, 2.0, 2.0, 2.4, 4.0] * 10)
    outcome = [{1: "won", 2: "lost", 0: None}[o] for o in [1, 2, 0, 1, 0] * 10]
    h = pd.DataFrame(
        {"pipeline_id": "p", "product_id": "x", "product_line": "l", "stage_id": "s",
         "outcome": outcome, "days": days, "days_created": days,
         "deal_id": [f"D{i}" for i in range(len(days))]}
    )  # fmt: skip
    model = timing.fit(h)
    deals = _deals(2).assign(stage_id=["s", "t"], product_id=["x", "y"])  # none for y, t
    edges = np.array([1.0, 3.0])
    shares, p_age, _, found = timing.bucket_shares(model, deals, edges)
    sd, pd_ = timing.share_draws(model, deals, edges, 4_000, np.random.default_rng(5))
    assert sd.shape == (2, 2, 4_000) and pd_.shape == (2, 4_000)
    np.testing.assert_allclose(sd[0].mean(axis=1), shares[0], atol=0.02)
    assert pd_[0].mean() == pytest.approx(p_age[0], abs=0.02)
    assert sd[0].std(axis=1).min() > 0.01  # they do vary
    assert not found[1] and not sd[1].any() and not pd_[1].any()


@pytest.mark.slow
def test_per_deal_draws_on_the_demo_data(demo: Store) -> None:
    # the draws of every learned method are centred on its point figures; the configured
    # probabilities have none; uncertainty 0 is the independent-deal forecast
    as_of = date(2025, 11, 30)
    ctx = context(demo, as_of=as_of)
    inp = inputs.load(ctx)
    ms = run.month_periods(as_of, 3)
    figs = run.per_deal(ctx, inp, run.METHODS, ms, uncertainty=200, seed=3)
    assert figs["stage_default"].p_draws is None and figs["stage_default"].share_draws is None
    n = len(inp.open)
    for m in ("stage_learned", "learned_timing", "stage_age"):
        f = figs[m]
        assert f.p_draws is not None and f.p_draws.shape == (n, 200)
        err = np.abs(f.p_draws.mean(axis=1) - f.p)
        assert err.mean() < 0.01 and err.max() < 0.06, (m, err.mean(), err.max())
    lt = figs["learned_timing"]
    assert lt.share_draws is not None and lt.share_draws.shape == (n, 3, 200)
    assert np.abs(lt.share_draws.mean(axis=2) - lt.shares).mean() < 0.01
    # deals of one cell share each draw (one rate per stage × product, not per deal)
    cell = inp.open.groupby(["pipeline_id", "product_id", "stage_id"]).ngroup().to_numpy()
    big = np.bincount(cell).argmax()
    rows = lt.p_draws[cell == big]
    assert len(rows) > 5 and (rows == rows[0]).all()
    # the simulated quarter spreads wider with the draws than without (on ~260 large
    # deals the outcome noise dominates: a few per cent, ~4 standard errors at 8,000 draws)
    amount = np.nan_to_num(inp.open["amount_eur"].to_numpy(float, na_value=np.nan))
    point = run.per_deal(ctx, inp, ("learned_timing",), ms)["learned_timing"]
    assert point.p_draws is None and point.share_draws is None
    sd = [f.simulate(amount, 8_000, 1).total().sum(axis=0).std() for f in (lt, point)]
    assert sd[0] > 1.02 * sd[1], sd
