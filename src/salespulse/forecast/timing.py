"""Time to close after entering a stage, with open deals as censored observations.

For the deals that entered a stage we know, per deal, the days from that entry to the
close (won or lost), or — while still open — the days up to the as-of date (censored: it
will close later, we do not know when). A Kaplan–Meier estimator with two ways out
(won, lost), the Aalen–Johansen estimator, gives on a grid of whole days ``t``:

* ``S(t)``: the share of deals still open ``t`` days after entering the stage;
* ``W(t)``: the share won within ``t`` days (cumulative incidence of "won").

For an open deal that has been in the stage ``a`` days, ``(W(a + t) − W(a)) / S(a)`` is the
chance it is won within the next ``t`` days; divided by ``(W(∞) − W(a)) / S(a)`` it is
P(won within t days | it will be won). Averaging only closed deals instead would leave out
the long cycles that are still running.

Cells are (pipeline, product, stage); a cell with fewer than ``MIN_DEALS`` deals uses the
product's whole cycle — (pipeline, product), time counted from the deal's creation, one row
per deal — so a rare product keeps its own time scale; then (pipeline, product line,
stage), (pipeline, stage) and the stage alone.
Vectorized numpy (``np.bincount``), no Python loop over deals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: A timing cell needs at least this many deals, else it falls back to a coarser cell.
MIN_DEALS = 30
#: The curves run this many days (longer cycles are cut off here).
MAX_DAYS = 1500


@dataclass(frozen=True)
class Curves:
    """``S`` (still open) and ``W`` (won) on days 0..MAX_DAYS, and the deals behind them."""

    still_open: FloatArray
    won: FloatArray
    n: int
    #: Time counted from the deal's creation instead of from entering the stage.
    since_created: bool = False
    #: Deals behind it that were decided (won or lost) — the outcomes actually observed.
    decided: int = 0
    #: Daily counts won / lost / censored (3 × days), for :func:`resampled`.
    counts: FloatArray | None = None

    @property
    def p_win(self) -> float:
        """The censored estimate of the chance of eventually being won: ``W(∞)`` (a deal
        still open at the end of the curve counts as not won)."""
        return float(self.won[-1])


def aalen_johansen(
    days: FloatArray, outcome: npt.NDArray[np.integer], max_days: int = MAX_DAYS
) -> Curves:
    """Curves from ``days`` (≥ 0) and ``outcome`` (1 won, 2 lost, 0 open = censored).

    Times are rounded up to whole days (closed on day 3.2 → day 4); an observation censored
    on day ``t`` is at risk through day ``t``. ``S[0] = 1``.
    """
    t = np.minimum(np.ceil(np.asarray(days, float)).astype(np.int64), max_days + 1)
    grid = max_days + 2
    won = np.bincount(t[outcome == 1], minlength=grid)[:grid].astype(float)
    lost = np.bincount(t[outcome == 2], minlength=grid)[:grid].astype(float)
    cens = np.bincount(t[outcome == 0], minlength=grid)[:grid].astype(float)
    s, w = _curves(won, lost, cens)
    return Curves(
        np.asarray(s[..., : max_days + 1], np.float64),
        np.asarray(w[..., : max_days + 1], np.float64),
        int(days.shape[0]),
        decided=int(np.count_nonzero(outcome)),
        counts=np.stack([won, lost, cens]),
    )


def _curves(won: FloatArray, lost: FloatArray, cens: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``S`` and ``W`` from (weighted) daily counts over the last axis (any leading axes)."""
    leaving = won + lost + cens
    # at risk on day k: everyone whose time is >= k (events on day k happen after day k-1)
    at_risk = np.flip(np.cumsum(np.flip(leaving, -1), -1), -1)
    with np.errstate(divide="ignore", invalid="ignore"):
        h_won = np.where(at_risk > 0, won / at_risk, 0.0)
        h_all = np.where(at_risk > 0, (won + lost) / at_risk, 0.0)
    s = np.cumprod(1.0 - h_all, axis=-1)  # S(k) after the events of day k
    s_before = np.concatenate([np.ones((*s.shape[:-1], 1)), s[..., :-1]], axis=-1)
    w = np.cumsum(s_before * h_won, axis=-1)
    return np.asarray(s, np.float64), np.asarray(w, np.float64)


def resampled(c: Curves, rng: np.random.Generator, k: int) -> tuple[FloatArray, FloatArray]:
    """``k`` Bayesian-bootstrap replicates of the curves: ``S`` and ``W``, each k × days.

    Every deal behind the curve gets a weight ~ Exp(1) (Rubin's Bayesian bootstrap); the
    weights of the ``c`` deals leaving on one day with one outcome sum to Gamma(c, 1), so
    a replicate needs one Gamma draw per non-empty (day, outcome) count, not per deal. The
    spread of the replicates is the sampling uncertainty of the curve (of the timing and
    of ``W(∞)``); their mean is close to the curve itself.
    """
    s, w = _resampled(c, rng, k)
    # flat after the last observation, out to MAX_DAYS like the curve itself
    days = c.still_open.shape[0]
    pad = days - s.shape[1]
    if pad > 0:
        s = np.concatenate([s, np.repeat(s[:, -1:], pad, axis=1)], axis=1)
        w = np.concatenate([w, np.repeat(w[:, -1:], pad, axis=1)], axis=1)
    return s[:, :days], w[:, :days]


def _resampled(c: Curves, rng: np.random.Generator, k: int) -> tuple[FloatArray, FloatArray]:
    """:func:`resampled` up to the curve's last observation (flat after it)."""
    assert c.counts is not None
    seen = np.flatnonzero(c.counts.sum(axis=0))  # (the last day holds times cut off)
    cnt = c.counts[:, : int(seen[-1]) + 1 if len(seen) else 1]
    g = np.zeros((k, *cnt.shape))
    nz = cnt > 0
    g[:, nz] = rng.gamma(cnt[nz], 1.0, (k, int(nz.sum())))
    s, w = _curves(g[:, 0], g[:, 1], g[:, 2])
    days = c.still_open.shape[0]
    return s[:, :days], w[:, :days]


@dataclass
class TimingModel:
    """Curves per cell, with fallbacks (see the module docstring)."""

    cells: dict[tuple[str, ...], Curves]

    def curves_for(self, pipeline: str, product: str, line: str, stage: str) -> Curves | None:
        keys = (
            (pipeline, product, stage),
            (pipeline, product),
            (pipeline, line, stage),
            (pipeline, stage),
            (stage,),
        )
        for level, key in enumerate(keys):
            c = self.cells.get((str(level), *key))
            if c is not None and c.n >= MIN_DEALS:
                return c
        return None

    def deal_curves(self, deals: pd.DataFrame) -> list[Curves | None]:
        keys = zip(
            deals["pipeline_id"],
            deals["product_id"],
            deals["product_line"],
            deals["stage_id"],
            strict=True,
        )
        cache: dict[tuple[str, str, str, str], Curves | None] = {}
        out = []
        for k in keys:
            if k not in cache:
                cache[k] = self.curves_for(*k)
            out.append(cache[k])
        return out


def fit(history: pd.DataFrame) -> TimingModel:
    """Timing curves from :func:`salespulse.forecast.inputs.stage_outcomes` rows."""
    cells: dict[tuple[str, ...], Curves] = {}
    if history.empty:
        return TimingModel(cells)
    code = history["outcome"].map({"won": 1, "lost": 2}).fillna(0).to_numpy(np.int8)
    days = history["days"].to_numpy(float)
    levels = (
        ["pipeline_id", "product_id", "stage_id"],
        ["pipeline_id", "product_id"],
        ["pipeline_id", "product_line", "stage_id"],
        ["pipeline_id", "stage_id"],
        ["stage_id"],
    )
    first = ~history["deal_id"].duplicated().to_numpy()
    per_deal = history[first]
    code_d, days_d = code[first], history["days_created"].to_numpy(float)[first]
    for level, cols in enumerate(levels):
        whole_deal = level == 1  # per product, time since creation, one row per deal
        frame = per_deal if whole_deal else history
        for k, idx in _groups(frame, cols):
            if whole_deal:
                c = aalen_johansen(days_d[idx], code_d[idx])
                c = Curves(c.still_open, c.won, c.n, True, c.decided, c.counts)
            else:
                c = aalen_johansen(days[idx], code[idx])
            cells[(str(level), *k)] = c
    return TimingModel(cells)


def _groups(
    frame: pd.DataFrame, cols: list[str]
) -> list[tuple[tuple[str, ...], npt.NDArray[np.intp]]]:
    """(key, row indexes) per distinct combination of ``cols`` (integer codes, one sort;
    rows with a null key are left out, as in ``groupby``)."""
    codes, uniques = [], []
    for c in cols:
        code, uniq = pd.factorize(frame[c].to_numpy(object))
        codes.append(code.astype(np.int64))
        uniques.append(uniq)
    if not len(frame):
        return []
    rows = np.flatnonzero(np.all(np.stack(codes) >= 0, axis=0))
    if not len(rows):
        return []
    sizes = tuple(len(u) for u in uniques)
    key = np.ravel_multi_index(tuple(c[rows] for c in codes), sizes)
    order = np.argsort(key, kind="stable")
    key, rows = key[order], rows[order]
    starts = np.r_[0, np.flatnonzero(np.diff(key)) + 1]
    out = []
    for a, b in zip(starts, np.r_[starts[1:], len(key)], strict=True):
        parts = np.unravel_index(key[a], sizes)
        name = tuple(str(u[int(i)]) for u, i in zip(uniques, parts, strict=True))
        out.append((name, rows[a:b]))
    return out


def bucket_shares(
    model: TimingModel, deals: pd.DataFrame, edges: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """Per deal: P(won in each period | won), the timing model's own P(won | still open at
    its age), the evidence behind that (deals at risk at that age), and whether a curve was
    found.

    ``edges`` are the periods' ends in days after as-of (increasing); the share after the
    last period is "later" (not returned). Deals without a curve get zeros.
    """
    n, b = len(deals), len(edges)
    stack, cell = _deal_cells(model, deals)
    found = cell >= 0
    shares = np.zeros((n, b))
    p_age = np.zeros(n)
    evidence = np.zeros(n)
    if not stack:
        return shares, p_age, evidence, found
    s_all = np.stack([c.still_open for c in stack])
    w_all = np.stack([c.won for c in stack])
    size = np.array([c.n for c in stack], float)
    k = cell[found]
    created = np.array([c.since_created for c in stack])[k]
    age = np.where(
        created,
        deals["deal_age_days"].to_numpy(float)[found],
        deals["age_days"].to_numpy(float)[found],
    )
    a = np.minimum(np.floor(age).astype(np.int64), MAX_DAYS)
    s_a = s_all[k, a]
    ok = s_a > 1e-12
    w_a = w_all[k, a]
    at = np.minimum(np.floor(age[:, None] + np.asarray(edges)[None, :]).astype(np.int64), MAX_DAYS)
    within = np.maximum(w_all[k[:, None], at] - w_a[:, None], 0.0)
    rest = np.maximum(w_all[k, -1] - w_a, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ev = np.where(ok, rest / s_a, 0.0)
        cum = np.where((rest > 1e-12)[:, None], np.minimum(within / rest[:, None], 1.0), 0.0)
    cum = np.maximum.accumulate(cum, axis=1)
    shares[found] = np.diff(np.concatenate([np.zeros((cum.shape[0], 1)), cum], axis=1), axis=1)
    p_age[found] = ev
    evidence[found] = s_a * size[k]
    return shares, p_age, evidence, found


def _deal_cells(model: TimingModel, deals: pd.DataFrame) -> tuple[list[Curves], IntArray]:
    """The distinct curves the deals use, and each deal's index into them (−1: none)."""
    uniq: dict[int, int] = {}
    stack: list[Curves] = []
    cell = np.full(len(deals), -1, np.int64)
    for i, c in enumerate(model.deal_curves(deals)):
        if c is None:
            continue
        if id(c) not in uniq:
            uniq[id(c)] = len(stack)
            stack.append(c)
        cell[i] = uniq[id(c)]
    return stack, cell


def share_draws(
    model: TimingModel, deals: pd.DataFrame, edges: FloatArray, k: int, rng: np.random.Generator
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """:func:`bucket_shares` under ``k`` Bayesian-bootstrap replicates of every curve
    (:func:`resampled`): P(won in each period | won) as deals × periods × k and the timing
    model's P(won | still open at its age) as deals × k. Deals without a curve get zeros
    (as in :func:`bucket_shares`); replicate ``r`` of all curves is one joint draw."""
    n, b = len(deals), len(edges)
    shares = np.zeros((n, b, k), np.float32)
    p_age = np.zeros((n, k), np.float32)
    stack, cell = _deal_cells(model, deals)
    if not stack:
        return shares, p_age
    age_stage = deals["age_days"].to_numpy(float)
    age_deal = deals["deal_age_days"].to_numpy(float)
    order = np.argsort(cell, kind="stable")
    starts = np.searchsorted(cell[order], np.arange(len(stack) + 1))
    for j, c in enumerate(stack):
        idx = order[starts[j] : starts[j + 1]]
        s_r, w_r = _resampled(c, rng, k)  # k × days up to the last observation
        last = s_r.shape[1] - 1  # flat after it
        age = age_deal[idx] if c.since_created else age_stage[idx]
        a = np.minimum(np.floor(age).astype(np.int64), last)
        at = np.minimum(np.floor(age[:, None] + edges[None, :]).astype(np.int64), last)
        s_a, w_a = s_r[:, a], w_r[:, a]  # k × m
        within = np.maximum(w_r[:, at] - w_a[:, :, None], 0.0)  # k × m × b
        rest = np.maximum(w_r[:, -1:] - w_a, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            ev = np.where(s_a > 1e-12, rest / s_a, 0.0)
            cum = np.where(
                (rest > 1e-12)[:, :, None], np.minimum(within / rest[:, :, None], 1.0), 0.0
            )
        cum = np.maximum.accumulate(cum, axis=2)
        sh = np.diff(cum, axis=2, prepend=0.0)
        shares[idx] = np.transpose(sh, (1, 2, 0))
        p_age[idx] = ev.T
    return shares, p_age
