"""The time-to-close model against a hand-computed censored example."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salespulse.forecast import timing


def test_aalen_johansen_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    # days to close: won on day 1, lost on day 2, still open after 2 days (censored),
    # won on day 3 (2.4 → whole day 3), still open after 4 days
    days = np.array([1.0, 2.0, 2.0, 2.4, 4.0])
    outcome = np.array([1, 2, 0, 1, 0], np.int8)
    c = timing.aalen_johansen(days, outcome, max_days=6)
    # day 1: 5 at risk, 1 won                  S = 4/5        W = 1/5
    # day 2: 4 at risk, 1 lost                 S = 4/5·3/4    W = 1/5
    # day 3: 2 at risk (censored one gone), 1 won   S = 0.6·1/2   W = 1/5 + 0.6·1/2
    np.testing.assert_allclose(c.still_open[:5], [1.0, 0.8, 0.6, 0.3, 0.3])
    np.testing.assert_allclose(c.won[:5], [0.0, 0.2, 0.2, 0.5, 0.5])
    # "average the closed deals" would say 2 of 3 won; with censoring W(∞) = 0.5 and 0.3
    # is still undecided. A deal open after 1 day: P(won eventually) = (0.5 − 0.2) / 0.8,
    # none of it within the next day, all of it within two.
    monkeypatch.setattr(timing, "MAX_DAYS", 6)
    model = timing.TimingModel({("4", "s"): c})
    monkeypatch.setattr(timing, "MIN_DEALS", 5)
    deals = pd.DataFrame(
        {"pipeline_id": ["p"], "product_id": ["x"], "product_line": ["l"], "stage_id": ["s"],
         "age_days": [1.0], "deal_age_days": [1.0]}
    )  # fmt: skip
    shares, p_age, evidence, found = timing.bucket_shares(model, deals, np.array([1.0, 2.0]))
    assert found[0]
    assert p_age[0] == pytest.approx(0.3 / 0.8)
    np.testing.assert_allclose(shares[0], [0.0, 1.0])
    assert evidence[0] == pytest.approx(0.8 * 5)


def test_bucket_shares_split_the_win_over_periods() -> None:
    days = np.array([1.0, 2.0, 2.0, 2.4, 4.0] * 10)
    outcome = np.array([1, 2, 0, 1, 0] * 10, np.int8)
    model = timing.fit(
        pd.DataFrame(
            {
                "pipeline_id": "p",
                "product_id": "x",
                "product_line": "l",
                "stage_id": "s",
                "outcome": pd.Series([{1: "won", 2: "lost", 0: None}[o] for o in outcome]),
                "days": days,
                "deal_id": [f"D{i}" for i in range(days.shape[0])],
                "days_created": days,
            }
        )
    )
    deals = pd.DataFrame(
        {"pipeline_id": ["p", "p"], "product_id": ["x", "y"], "product_line": ["l", "l"],
         "stage_id": ["s", "t"], "age_days": [0.0, 0.0], "deal_age_days": [0.0, 0.0]}
    )  # fmt: skip
    shares, p_age, _, found = timing.bucket_shares(model, deals, np.array([1.0, 3.0]))
    assert found.tolist() == [True, False]  # no curve for stage t
    # from day 0: won by day 1 = 0.2, by day 3 = 0.5 = everything that will be won
    np.testing.assert_allclose(shares[0], [0.2 / 0.5, 0.3 / 0.5])
    assert p_age[0] == pytest.approx(0.5)
    np.testing.assert_allclose(shares[1], [0.0, 0.0])
