"""The walk-forward calibration of the range: it learns from periods already over only,
and its intervals cover what they claim."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from salespulse.forecast import calibration, run
from salespulse.semantic.query import context
from salespulse.warehouse.migrations import MIGRATIONS, _calibration_record
from salespulse.warehouse.schema import SCHEMA_VERSION
from salespulse.warehouse.store import Store, connect


def _periods(z: np.ndarray, months_ahead: int = 3) -> pd.DataFrame:
    """Backtest-like rows at month ends: raw range P50 ± 1.2816 (σ = 1), actual = P50 + z."""
    as_of = pd.date_range("2024-01-31", periods=len(z), freq="ME")
    end = as_of + pd.offsets.MonthEnd(months_ahead)
    p50 = np.full(len(z), 100.0)
    return pd.DataFrame(
        {
            "as_of": as_of.date,
            "end": end.date,
            "p10": p50 - calibration.Z90,
            "p50": p50,
            "p90": p50 + calibration.Z90,
            "actual": p50 + z,
        }
    )


def test_a_period_is_calibrated_only_from_periods_already_over() -> None:
    z = np.random.default_rng(1).normal(0, 2, 24)
    base = calibration.walk_forward(_periods(z))
    k = 15
    t = base["as_of"].iloc[k]
    over = base["end"] <= t
    # periods whose window ends after T (k itself and the two before it, and all later)
    later = ~over
    assert later.iloc[k] and later.iloc[k - 1] and later.iloc[k - 2] and over.iloc[k - 3]
    changed = _periods(z)
    changed.loc[later, "actual"] += 1e6 * np.arange(1, later.sum() + 1)
    got = calibration.walk_forward(changed)
    cols = ["lo", "hi", "calibration_level"]
    assert got.loc[:k, cols].equals(base.loc[:k, cols])
    assert got["calibration_n"].iloc[k] == over.sum() == k - 2
    # ... while a change to a period that is over does move it
    earlier = _periods(z)
    earlier["actual"] += np.where(np.arange(len(z)) == k - 3, 50.0, 0.0)
    assert calibration.walk_forward(earlier)["hi"].iloc[k] != base["hi"].iloc[k]
    # the same rule for a live forecast: only what was over by its date
    assert calibration.as_of(changed, t) == calibration.as_of(_periods(z), t)


@pytest.mark.parametrize("months_ahead", [1, 3])
def test_a_later_outcome_never_changes_an_earlier_range(months_ahead: int) -> None:
    # every as-of in turn: the outcomes of all periods not over by then are replaced (hits
    # turned into misses and back); its range, level and record stay as they were —
    # including the adapted level's feedback, which is delayed until a window is over
    rng = np.random.default_rng(11)
    z = rng.normal(0, 2, 30) * np.linspace(4, 1, 30)
    base = calibration.walk_forward(_periods(z, months_ahead))
    cols = ["lo", "hi", "calibration_n", "calibration_level"]
    assert base["calibration_level"].nunique() > 3  # the level did move
    for k in range(len(z)):
        later = base["end"] > base["as_of"].iloc[k]
        changed = _periods(z, months_ahead)
        changed.loc[later, "actual"] = 100 + rng.normal(0, 50, int(later.sum()))
        got = calibration.walk_forward(changed)
        pd.testing.assert_frame_equal(got.loc[:k, cols], base.loc[:k, cols])
        day = base["as_of"].iloc[k]
        assert calibration.as_of(changed, day) == calibration.as_of(_periods(z, months_ahead), day)


def test_too_short_a_record_keeps_the_simulated_range() -> None:
    got = calibration.walk_forward(_periods(np.array([5.0, -5.0, 5.0, 5.0, 5.0]), 1))
    first = got.iloc[3]
    assert first["calibration_n"] == 3
    assert (first["lo"], first["hi"]) == pytest.approx(
        (100 - calibration.Z90, 100 + calibration.Z90)
    )


def test_prediction_interval_covers_80_percent() -> None:
    # residuals 3× wider than the simulation claims, heavy-tailed: raw coverage is low,
    # the calibrated range covers ~80 % of later periods
    rng = np.random.default_rng(7)
    z = 3.0 * rng.standard_t(4, 600)
    got = calibration.walk_forward(_periods(z, months_ahead=1))
    raw = ((got["actual"] >= got["p10"]) & (got["actual"] <= got["p90"])).mean()
    inside = (got["actual"] >= got["lo"]) & (got["actual"] <= got["hi"])
    assert raw < 0.45
    assert inside.iloc[50:].mean() == pytest.approx(0.8, abs=0.05)
    # split conformal (no adaptation, γ = 0): the same, and its half-width is the 80 %
    # quantile of |z| (t with 4 df: 1.533 × 3)
    split = calibration.walk_forward(_periods(z, months_ahead=1), gamma=0.0)
    assert (split["calibration_level"] == calibration.COVERAGE).all()
    inside = (split["actual"] >= split["lo"]) & (split["actual"] <= split["hi"])
    assert inside.iloc[50:].mean() == pytest.approx(0.8, abs=0.05)
    c = calibration.as_of(got, got["as_of"].iloc[-1], gamma=0.0)
    assert c.scale * calibration.Z90 == pytest.approx(1.533 * 3.0, rel=0.1)
    # the adapted level wanders around 80 % (exchangeable residuals need no correction)
    assert got["calibration_level"].iloc[50:].mean() == pytest.approx(0.8, abs=0.05)


def test_adapted_level_by_hand() -> None:
    # α = 0.2, γ = 0.2: a hit adds γ α = 0.04 to α, a miss takes γ (1 − α) = 0.16 from it
    levels = [calibration.adapted_level(e, 0.2) for e in ([], [0], [0, 0], [0, 0, 1])]
    assert levels == pytest.approx([0.8, 0.76, 0.72, 0.88])
    assert calibration.adapted_level([0, 0, 1, 0, 1], 0.2) == pytest.approx(1.0)
    # clipped to [0, 1]: no wind-up beyond what the record can give
    assert calibration.adapted_level([0, 0, 1, 0, 1, 1], 0.2) == pytest.approx(1.0)
    assert calibration.adapted_level([0, 0, 1, 0, 1, 1, 0], 0.2) == pytest.approx(0.96)
    assert calibration.adapted_level([0] * 25, 0.2) == pytest.approx(0.0)
    assert calibration.adapted_level([0] * 25 + [1], 0.2) == pytest.approx(0.16)
    assert calibration.adapted_level([1, 1, 0], 0.0) == calibration.COVERAGE
    # the quantile at a level: the ⌈level (n + 1)⌉-th smallest |z|, clipped to 1 … n
    z = np.array([-3.0, 1.0, 4.0, -2.0, 0.5])
    for level, want in ((0.8, 4.0), (0.76, 4.0), (0.6, 3.0), (0.5, 2.0), (0.0, 0.5)):
        assert calibration.fit(z, level).scale * calibration.Z90 == pytest.approx(want)
        assert calibration.fit(z, level).level == level


def test_walk_forward_widths_by_hand() -> None:
    # month windows (each over at the next as-of), raw range P50 ± 1.2816 (σ = 1), so the
    # calibrated half-width is q itself
    z = np.array([1.0, 2.0, -3.0, 4.0, 0.5, -0.5, 0.5, 5.0, 0.0])
    got = calibration.walk_forward(_periods(z, months_ahead=1), gamma=0.2)
    half = (got["hi"] - got["p50"]).to_numpy()
    # rows 0–3: fewer than 4 periods over, the simulated range, no feedback
    np.testing.assert_allclose(half[:4], calibration.Z90)
    # row 4: {1, 2, 3, 4}, level 0.8 → 4th of 4 = 4; hit (0.5)
    # row 5: + 0.5, one hit → level 0.76, ⌈0.76 · 6⌉ = 5th of 5 = 4; hit
    # row 6: + 0.5, two hits → 0.72, ⌈0.72 · 7⌉ = 6th of 6 = 4; hit
    # row 7: + 0.5, three hits → 0.68, ⌈0.68 · 8⌉ = 6th of 7 = 3 (split conformal: 4);
    #        5.0 is a miss
    # row 8: + 5, three hits and a miss → α = 0.32 − 0.16, level 0.84, ⌈0.84 · 9⌉ = 8th
    #        of 8 = 5
    np.testing.assert_allclose(half[4:], [4.0, 4.0, 4.0, 3.0, 5.0])
    np.testing.assert_allclose(got["calibration_level"].iloc[4:], [0.8, 0.76, 0.72, 0.68, 0.84])
    assert got["calibration_n"].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8]
    split = calibration.walk_forward(_periods(z, months_ahead=1), gamma=0.0)
    np.testing.assert_allclose((split["hi"] - split["p50"]).iloc[4:], [4, 4, 4, 4, 5])
    # a live forecast once row 8 is over: its hit (0.0) fed back too, α = 0.16 + 0.04
    c = calibration.as_of(_periods(z, months_ahead=1), got["end"].iloc[-1], gamma=0.2)
    assert (c.n, c.level) == (9, pytest.approx(0.8))
    assert c.scale * calibration.Z90 == pytest.approx(4.0)  # ⌈0.8 · 10⌉ = 8th of 9


def test_tail_beyond_the_record_by_hand() -> None:
    # |z| = 1 … 5 (n = 5): the largest is the conformal quantile at 5/6; beyond it an
    # exponential tail anchored there, scale b = mean excess of {3, 4, 5} over the 2nd
    # smallest (2) = 2, down to the tail probability 0.5 / 6 at most
    z = np.array([-1.0, 2.0, -3.0, 4.0, 5.0])
    half = {lv: calibration.fit(z, lv).scale * calibration.Z90 for lv in (0.8, 5 / 6, 0.9, 1.0)}
    assert half[0.8] == pytest.approx(5.0)  # ⌈0.8 · 6⌉ = 5th of 5: inside the record
    assert half[5 / 6] == pytest.approx(5.0)  # continuous where the record ends
    assert half[0.9] == pytest.approx(5 + 2 * np.log(1 / (6 * 0.1)))  # 6.0217
    assert half[1.0] == pytest.approx(5 + 2 * np.log(2))  # the floor: 6.3863
    assert calibration.fit(z, 0.9, tail=False).scale * calibration.Z90 == pytest.approx(5.0)
    assert calibration.tail_quantile(z, 0.9) == pytest.approx(6.021651, rel=1e-6)


def test_walk_forward_beyond_the_record_by_hand() -> None:
    # month windows, raw range P50 ± 1.2816 (σ = 1): a miss at row 4 sends the level past
    # what a five-residual record holds
    z = np.array([1.0, 2.0, 3.0, 4.0, 6.0, 7.0, 2.0])
    got = calibration.walk_forward(_periods(z, months_ahead=1))
    half = (got["hi"] - got["p50"]).to_numpy()
    # row 4: {1, 2, 3, 4} at 0.8 → 4; 6 is a miss → α = 0.2 − 0.16 = 0.04
    # row 5: {1, 2, 3, 4, 6} at 0.96: ⌈0.96 · 6⌉ = 6 > 5 → tail: u = 2, b = (1 + 2 + 4) / 3,
    #        tail probability max(0.04, 0.5 / 6) → 6 + 7/3 · ln 2 = 7.617; 7 is a hit
    # row 6: {1, 2, 3, 4, 6, 7} at 0.92: ⌈0.92 · 7⌉ = 7 > 6 → u = 3, b = (1 + 3 + 4) / 3,
    #        probability 0.08 → 7 + 8/3 · ln(1 / 0.56) = 8.546
    np.testing.assert_allclose(
        half[4:], [4.0, 6 + 7 / 3 * np.log(2), 7 + 8 / 3 * np.log(1 / 0.56)], rtol=1e-9
    )
    np.testing.assert_allclose(got["calibration_level"].iloc[4:], [0.8, 0.96, 0.92])
    # stopping at the largest past miss instead: 6 (so 7 is a second miss), then 7 at level 1
    cut = calibration.walk_forward(_periods(z, months_ahead=1), tail=False)
    np.testing.assert_allclose((cut["hi"] - cut["p50"]).iloc[4:], [4.0, 6.0, 7.0])
    np.testing.assert_allclose(cut["calibration_level"].iloc[4:], [0.8, 0.96, 1.0])


@pytest.mark.parametrize("months_ahead", [1, 3])
def test_an_extrapolated_range_never_sees_a_later_outcome(months_ahead: int) -> None:
    # errors that grow (so the level runs past the record and the tail is used): at every
    # as-of, replacing the outcomes not over by then leaves its range, level and record
    rng = np.random.default_rng(4)
    z = rng.normal(0, 1, 30) * np.linspace(1, 8, 30)
    base = calibration.walk_forward(_periods(z, months_ahead))
    cols = ["lo", "hi", "calibration_n", "calibration_level"]
    used = 0
    for k in range(len(z)):
        over = base["end"] <= base["as_of"].iloc[k]
        n = int(base["calibration_n"].iloc[k])
        lv = float(base["calibration_level"].iloc[k])
        if n >= calibration.MIN_PERIODS and np.ceil(round(lv * (n + 1), 9)) > n:
            used += 1
            assert base["hi"].iloc[k] - 100 > np.abs(z[over.to_numpy()]).max()
        changed = _periods(z, months_ahead)
        changed.loc[~over, "actual"] = 100 + rng.normal(0, 50, int((~over).sum()))
        got = calibration.walk_forward(changed)
        pd.testing.assert_frame_equal(got.loc[:k, cols], base.loc[:k, cols])
    assert used >= 2  # the tail was in play


def test_adaptation_follows_a_shrinking_error() -> None:
    # the forecast improves as history grows: residuals 6 σ at first, 1 σ at the end.
    # A fixed-level record overstates later misses (too wide); the adapted level corrects
    rng = np.random.default_rng(5)
    z = rng.normal(0, 1, 240) * np.linspace(6.0, 1.0, 240)
    split = calibration.walk_forward(_periods(z, months_ahead=3), gamma=0.0)
    got = calibration.walk_forward(_periods(z, months_ahead=3))

    def cover(f: pd.DataFrame) -> float:
        return float(((f["actual"] >= f["lo"]) & (f["actual"] <= f["hi"])).iloc[24:].mean())

    assert cover(split) > 0.86
    assert cover(got) == pytest.approx(0.8, abs=0.03)
    assert got["calibration_level"].iloc[-60:].mean() < 0.75


def test_never_below_zero() -> None:
    c = calibration.Calibration(scale=3.0, n=10)
    lo, hi = c.apply(np.array([10.0]), np.array([20.0]), np.array([30.0]))
    assert (lo[0], hi[0]) == (0.0, 50.0)


def test_provisional_periods_only_until_the_others_suffice() -> None:
    # six wild stopgap periods, then ordinary ones: the stopgaps widen the first ranges
    # and drop out once four ordinary periods are over
    z = np.r_[np.full(6, 20.0), np.random.default_rng(3).normal(0, 1, 14)]
    p = _periods(z, months_ahead=1).assign(provisional=[True] * 6 + [False] * 14)
    got = calibration.walk_forward(p)
    assert got["calibration_n"].tolist()[6:12] == [6, 7, 8, 9, 4, 5]
    assert got["hi"].iloc[8] > 115 and got["hi"].iloc[11] < 105


@pytest.mark.slow
def test_live_forecast_applies_the_latest_earlier_calibration(demo_copy: Store) -> None:
    day = date(2026, 6, 30)

    def show(as_of: date) -> run.Forecast:
        ctx = context(demo_copy, as_of=as_of)
        return run.compute(ctx, methods=("learned_timing",), months=3, draws=500, seed=2)

    def store_scales(month: float, quarter: float) -> None:
        table = pd.DataFrame(
            {"method": "learned_timing", "horizon": ["month", "quarter"],
             "calibration_scale": [month, quarter], "calibration_n": [12, 10],
             "coverage_p10_p90": [0.8, 0.75], "n_periods": [21, 20]}
        )  # fmt: skip
        assert calibration.save(demo_copy, table, day) == 2

    assert any("not calibrated" in n for n in show(day).notes)
    store_scales(1.0, 1.0)  # as simulated: the independent draws' own range
    raw = show(day).summary
    store_scales(2.0, 3.0)  # replaces the one of the same date
    f = show(day)
    assert any("calibrated on the backtest as of 2026-06-30" in n for n in f.notes)
    got = f.summary
    assert len(demo_copy.con.table("forecast_calibrations").execute()) == 2
    np.testing.assert_allclose(got["p50"], raw["p50"])
    scale = np.where(got["grain"] == "month", 2.0, 3.0)
    half = scale * (raw["p90"] - raw["p50"])  # scale 1: P50 ± half the simulated P10–P90
    np.testing.assert_allclose(got["p90"], raw["p50"] + half)
    np.testing.assert_allclose(got["p10"], np.maximum(raw["p50"] - half, 0.0))
    assert (got["p90"] - got["p10"]).sum() > 2 * (raw["p90"] - raw["p10"]).sum()
    # a forecast as of an earlier day may not use it (it learned from later periods)
    assert any("not calibrated" in n for n in show(date(2026, 5, 31)).notes)


def test_an_older_database_gets_the_calibration_record_columns(tmp_path: Path) -> None:
    # a v11 database: forecast_calibrations without coverage / coverage_n
    store = connect(tmp_path / "old.duckdb")
    store.con.raw_sql("ALTER TABLE forecast_calibrations DROP COLUMN coverage")
    store.con.raw_sql("ALTER TABLE forecast_calibrations DROP COLUMN coverage_n")
    v = next(m.version for m in MIGRATIONS if m.apply is _calibration_record)
    store.con.raw_sql(f"UPDATE schema_migrations SET version = {v - 1}")
    store.close()
    store = connect(tmp_path / "old.duckdb")
    assert store.schema_version() == SCHEMA_VERSION
    table = pd.DataFrame(
        {"method": "stage_age", "horizon": ["month", "quarter"], "calibration_scale": [1.5, 2.0],
         "calibration_n": [20, 18], "coverage_p10_p90": [0.81, 0.76], "n_periods": [21, 21]}
    )  # fmt: skip
    assert calibration.save(store, table, date(2026, 6, 30)) == 2
    got = calibration.stored(store, date(2026, 7, 1))
    assert got[("stage_age", "quarter")] == (
        calibration.Calibration(2.0, 18, 0.76, 21),
        date(2026, 6, 30),
    )
    assert got[("stage_age", "month")][0].calibrated
    assert not calibration.Calibration(1.0, calibration.MIN_PERIODS - 1).calibrated
    store.close()
