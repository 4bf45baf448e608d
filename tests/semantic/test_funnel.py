"""The biggest leak in the stage and lead funnels (tiny data set, hand-computed)."""

from __future__ import annotations

import pandas as pd
import pytest

from salespulse.analytics.funnel import biggest_leak, lead_funnel, stage_funnel
from salespulse.warehouse.store import Store
from tests.semantic.conftest import AS_OF


def test_stage_funnel_marks_the_largest_drop(tiny_store: Store) -> None:
    f = stage_funnel(tiny_store, as_of=AS_OF)
    # S1 4/5, S2 1/2, S3 1/2: the first stage with the lowest conversion is S2
    assert list(f.stage) == ["S1", "S2", "S3"]
    assert list(f.entered) == [5.0, 2.0, 2.0]
    assert list(f[f.is_leak].stage) == ["S2"]


def test_lead_funnel_counts_and_leak(tiny_store: Store) -> None:
    f = lead_funnel(tiny_store, as_of=AS_OF)
    # 5 leads → 3 SQLs (L1-L3) → 3 with a deal → 1 won (D1): the drop deal → won is largest
    assert list(f["count"]) == [5.0, 3.0, 3.0, 1.0]
    assert f["conversion"].iloc[1] == pytest.approx(0.6)
    assert list(f[f.is_leak].step) == ["won"]


def test_no_values_no_leak() -> None:
    assert biggest_leak(pd.DataFrame({"s": ["a"], "value": [None]}), "s") is None
