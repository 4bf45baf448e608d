"""Monte Carlo over outcomes and timing: the spread of won revenue per period and group.

Each open deal ``i`` is won in period ``b`` with probability ``p_i · q_ib`` (win chance ×
timing share; the rest is "lost or later"), independently of the other deals. One draw
gives every deal an outcome; the revenue per period and group of a draw is the sum of the
amounts of the deals won in that period. P10/P50/P90 are the 10th/50th/90th percentiles
over the draws.

One uniform number per (draw, deal) decides both outcome and period: the deal is won in
the first period ``b`` with ``u < p·(q_1 + … + q_b)`` — so the close period is drawn from
the timing ``q`` (for the model methods: the time-to-close model's P(won in period |
won)). The numbers are 16-bit from one seeded stream (probabilities are resolved to
1/65,536), deals are sorted by group cell and taken in chunks, laid out block × deal ×
draw so each comparison is contiguous, and each cell's revenue is an amount-weighted
float32 × uint8 ``einsum`` (no float copy of the 0/1 matrix; sums exact to ~1e-6
relative), so 10,000 draws × 100,000 deals never need a 10⁹-element float array.

Errors many deals share come in two ways. *Parameter draws*: the learned win
probabilities and timing curves are estimates; ``p`` and ``shares`` may carry K draws
from their posterior (:func:`salespulse.forecast.probability.learned_draws`,
:func:`salespulse.forecast.timing.share_draws`), each shared by a block of outcome draws,
so all deals of a cell move together when its estimate is off. That is sampling
uncertainty only; what else the model gets wrong together (drift, seasonal timing) the
backtest calibrates on its own track record (:mod:`salespulse.forecast.calibration`).
The older optional shared factor (``spread``) remains for methods without draws.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

FloatArray = npt.NDArray[np.float64]
#: float64 or float32 (the parameter draws are float32 to halve their memory).
Floats = npt.NDArray[np.floating[Any]]
IntArray = npt.NDArray[np.int64]

#: Draws per forecast unless asked otherwise.
DRAWS = 10_000
#: The (deal × draw) block generated at once, in elements (~2 bytes each).
BLOCK = 20_000_000
QUANTILES = (0.1, 0.5, 0.9)
#: Posterior draws of the parameters (win probabilities, timing) per forecast; each is
#: shared by ``draws / PARAM_DRAWS`` outcome draws (see :func:`simulate`).
PARAM_DRAWS = 100
#: σ of the shared probability factor in live forecasts (see :func:`simulate`); chosen on
#: the demo data's backtest by an earlier version. The backtest does not use it: it scores
#: the independent-draw range calibrated walk-forward (docs/forecast.md).
SPREAD = 0.15


@dataclass
class Simulation:
    """``revenue[kind]``: groups × periods × draws (won revenue in each period)."""

    revenue: dict[str, FloatArray]
    draws: int

    def total(self) -> FloatArray:
        """periods × draws, over all deals."""
        any_kind = next(iter(self.revenue.values()))
        return any_kind.sum(axis=0)


def simulate(
    amount: FloatArray,
    p: Floats,
    shares: Floats,
    groups: Mapping[str, tuple[IntArray, int]] | None = None,
    draws: int = DRAWS,
    seed: int = 0,
    spread: float = 0.0,
) -> Simulation:
    """Simulate won revenue per period.

    ``amount``: per deal (NaN counts as 0); ``p``: win probability; ``shares``: deals ×
    periods, P(won in the period | won) (rows sum to ≤ 1; the rest is later); ``groups``:
    kind → (group code per deal in 0..n-1, n); ``spread``: the model's own uncertainty —
    the draws come in ``BLOCKS`` blocks, block ``k`` multiplies every win probability by
    the same factor (lognormal, mean 1, σ = ``spread``, stratified over the blocks), so the
    deals move together when the probabilities themselves are off (0 = independent deals).

    *Parameter draws*: ``p`` may be deals × K and ``shares`` deals × periods × K — K draws
    of the parameters (win probabilities, timing) from their posterior. The draws then
    come in K blocks of ``draws / K``; block ``k`` uses the parameters of draw ``k`` for
    every deal, the deals' outcomes independent given them (``spread`` is ignored). With
    K = 1 (or 1-d ``p`` and 2-d ``shares``) this is the independent-deal simulation.
    Deterministic for a given ``seed``.
    """
    groups = dict(groups or {})
    if not groups:
        groups = {"all": (np.zeros(amount.shape[0], np.int64), 1)}
    amt = np.nan_to_num(np.asarray(amount, float)).astype(np.float32)
    n_periods = shares.shape[1]
    p = np.asarray(p)
    blocks = max(p.shape[1] if p.ndim == 2 else 1, shares.shape[2] if shares.ndim == 3 else 1)
    if blocks > 1:  # parameter draws: one per block of draws
        blocks = min(blocks, draws)
        factors = np.ones(blocks)
        pb = p[:, :blocks] if p.ndim == 2 else p[:, None]
        sb = shares[:, :, :blocks] if shares.ndim == 3 else shares[:, :, None]
        thr = _thresholds(pb, sb, blocks)
    else:
        factors = _factors(spread, draws)
        pc = np.clip(np.asarray(p, float).reshape(-1), 0, 1)
        sh = shares.reshape(shares.shape[0], n_periods)
        thr = _thresholds(
            np.minimum(pc[:, None] * factors[None, :], 1.0), sh[:, :, None], len(factors)
        )
    block_of_draw = np.repeat(np.arange(len(factors)), -(-draws // len(factors)))[:draws]
    bounds = np.r_[0, np.flatnonzero(np.diff(block_of_draw)) + 1, draws]
    keep = (
        (amt != 0) & (thr[:, -1, :].max(axis=1) > 0) if n_periods else np.zeros(amt.shape[0], bool)
    )
    kinds = list(groups)
    codes = np.stack([groups[k][0][keep] for k in kinds]) if kinds else np.zeros((0, 0))
    sizes = [groups[k][1] for k in kinds]
    out = {k: np.zeros((sizes[i], n_periods, draws)) for i, k in enumerate(kinds)}
    idx = np.flatnonzero(keep)
    if idx.shape[0] == 0:
        return Simulation(out, draws)
    cell = np.ravel_multi_index(tuple(codes), tuple(sizes))
    order = np.argsort(cell, kind="stable")
    idx, cell = idx[order], cell[order]
    cell_codes = np.unravel_index(cell, tuple(sizes))
    amt_s, thr_s = amt[idx], thr[idx]
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    n = idx.shape[0]
    k = len(factors)
    sizes_b = np.diff(bounds)  # draws per block
    width = -(-int(sizes_b.max()) // 4) * 4  # 16-bit numbers come four to a 64-bit one
    chunk = max(1, BLOCK // (k * width))
    # draw d of block b sits at column c of the block-major (block, deal, column) array
    valid = (np.arange(k)[:, None] * width + np.arange(width)[None, :])[
        np.arange(width)[None, :] < sizes_b[:, None]
    ]
    with threadpool_limits(1, user_api="blas"):  # small products: threads cost more
        _run(rng, n, chunk, (k, width), valid, cell, cell_codes, amt_s, thr_s, kinds, out)
    return Simulation(out, draws)


def _run(
    rng: np.random.Generator,
    n: int,
    chunk: int,
    shape: tuple[int, int],
    valid: IntArray,
    cell: IntArray,
    cell_codes: tuple[IntArray, ...],
    amt_s: npt.NDArray[np.float32],
    thr_s: npt.NDArray[np.uint16],
    kinds: list[str],
    out: dict[str, FloatArray],
) -> None:
    """Chunks of deals; per chunk one (block, deal, draw) array of 16-bit uniforms, so
    each block's comparison with its thresholds runs over contiguous memory."""
    k, width = shape
    n_periods = thr_s.shape[1]
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        raw = rng.bit_generator.random_raw(k * (b - a) * width // 4)
        u = np.asarray(raw, np.uint64).view(np.uint16).reshape(k, b - a, width)
        c = cell[a:b]
        starts = np.r_[0, np.flatnonzero(np.diff(c)) + 1]
        ends = np.r_[starts[1:], b - a]
        prev = np.zeros((len(starts), len(valid)))
        m = np.empty(u.shape, np.bool_)
        for j in range(n_periods):
            for blk in range(k):
                np.less(u[blk], thr_s[a:b, j, blk : blk + 1], out=m[blk])
            m8 = m.view(np.uint8)
            for g, (s0, e0) in enumerate(zip(starts, ends, strict=True)):
                # einsum sums float32 × uint8 without the float copy a matmul would make
                won = np.einsum("i,bij->bj", amt_s[a + s0 : a + e0], m8[:, s0:e0])
                won_by = won.reshape(-1)[valid]
                rev = won_by - prev[g]
                prev[g] = won_by
                for ki, kind in enumerate(kinds):
                    out[kind][cell_codes[ki][a + s0], j] += rev


def _thresholds(p: Floats, shares: Floats, blocks: int) -> npt.NDArray[np.uint16]:
    """16-bit thresholds deal × period × block: ``u < thr`` ⇔ won by the end of the period.
    ``p``: deals × (1 or blocks); ``shares``: deals × periods × (1 or blocks)."""
    n, n_periods = shares.shape[0], shares.shape[1]
    thr = np.empty((n, n_periods, blocks), np.uint16)
    step = max(1, 4_000_000 // max(1, n_periods * blocks))
    for a in range(0, n, step):
        b = min(n, a + step)
        pc = np.clip(np.asarray(p[a:b], np.float32), 0.0, 1.0) * np.float32(65536.0)
        cum = np.cumsum(np.asarray(shares[a:b], np.float32), axis=1)
        x = np.multiply(pc[:, None, :], cum, dtype=np.float32)
        np.rint(x, out=x)
        np.minimum(x, 65535, out=x)
        thr[a:b] = np.broadcast_to(x, (b - a, n_periods, blocks))
    return thr


#: Blocks of draws that share one probability factor (when ``spread`` > 0).
BLOCKS = 20


def _factors(spread: float, draws: int) -> FloatArray:
    """Stratified lognormal factors with mean 1 (one per block; [1.0] without spread)."""
    if spread <= 0:
        return np.ones(1)
    from statistics import NormalDist

    k = min(BLOCKS, draws)
    z = np.array([NormalDist().inv_cdf((i + 0.5) / k) for i in range(k)])
    return np.exp(spread * z - spread**2 / 2)


def quantiles(x: FloatArray, qs: tuple[float, ...] = QUANTILES) -> FloatArray:
    """Percentiles over the last axis (draws): shape ``(len(qs), *x.shape[:-1])``."""
    return np.quantile(x, qs, axis=-1)
