"""The hand-written DuckDB SQL of ``scripts/hand_sql/`` against the engine: the same rows
and values (rel. 1e-6) for every hand query, on the generated demo data (two as-of dates,
one on the day DST ends) and on the hand-made tiny data (deals without history, foreign
currencies). Keeps both honest: the benchmark compares like with like."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from scripts.bench_hand_sql import KPIS, parameters, run_engine, run_hand, same_rows

from salespulse.demo import generate
from salespulse.semantic.catalogue import all_kpis
from salespulse.settings import Settings
from salespulse.warehouse.store import Store, connect
from tests.semantic import tiny

pytestmark = pytest.mark.xdist_group("hand_sql")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = connect(Path(tmp_path_factory.mktemp("hand_sql")) / "demo.duckdb")
    generate(store, 5, "demo", date(2026, 11, 15))
    yield store
    store.close()


@pytest.fixture(scope="module")
def tiny_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = connect(Path(tmp_path_factory.mktemp("hand_sql_tiny")) / "tiny.duckdb")
    tiny.load(store)
    yield store
    store.close()


def test_every_kpi_of_the_catalogue_has_a_hand_query() -> None:
    assert sorted(KPIS) == sorted(k.id for k in all_kpis())


@pytest.mark.parametrize(
    "as_of", [date(2026, 11, 14), pytest.param(date(2025, 10, 26), marks=pytest.mark.slow)]
)
@pytest.mark.parametrize("kpi", KPIS)
@pytest.mark.slow
def test_hand_sql_equals_engine_on_demo_data(demo: Store, kpi: str, as_of: date) -> None:
    s = Settings()
    same_rows(run_engine(demo, kpi, s, as_of), run_hand(demo, kpi, s, as_of), kpi)


#: (KPI, as-of date) pairs for which the engine itself has no rows on the tiny data (so
#: ``same_rows``, which wants rows, cannot compare), with why: both sides must be empty.
TINY_WITHOUT_ROWS = {
    ("ramp_time", date(2024, 3, 31)): "the only rep hired after the activity log starts (R4, "
    "2024-04-01) is hired after this date: no new rep, no team row",
}


@pytest.mark.parametrize("as_of", [date(2024, 6, 30), date(2024, 3, 31)])
@pytest.mark.parametrize("kpi", KPIS)
@pytest.mark.slow
def test_hand_sql_equals_engine_on_tiny_data(tiny_db: Store, kpi: str, as_of: date) -> None:
    s = Settings()
    if (kpi, as_of) in TINY_WITHOUT_ROWS:  # no rows on either side: the same (empty) answer
        why = TINY_WITHOUT_ROWS[kpi, as_of]
        assert run_engine(tiny_db, kpi, s, as_of).empty, f"{kpi}: the engine has rows ({why})"
        assert run_hand(tiny_db, kpi, s, as_of).empty, f"{kpi}: the hand query has rows ({why})"
        return
    same_rows(run_engine(tiny_db, kpi, s, as_of), run_hand(tiny_db, kpi, s, as_of), kpi)


def test_the_comparison_can_fail(demo: Store) -> None:
    """A value off by more than 1e-6, or a missing row, is reported."""
    s, as_of = Settings(), date(2026, 11, 14)
    engine = run_engine(demo, "won_revenue", s, as_of)
    hand = run_hand(demo, "won_revenue", s, as_of)
    off = hand.copy()
    off.loc[0, "value"] = off.loc[0, "value"] * (1 + 1e-5) + 1e-3
    with pytest.raises(AssertionError, match=r"won_revenue\.value"):
        same_rows(engine, off, "won_revenue")
    with pytest.raises(AssertionError, match="rows"):
        same_rows(engine, hand.iloc[1:], "won_revenue")
    shifted = pd.concat([hand.iloc[:1].assign(rep="R99999"), hand.iloc[1:]])
    with pytest.raises(AssertionError, match="rows differ"):
        same_rows(engine, shifted, "won_revenue")


def test_parameters_are_only_those_used() -> None:
    sql = "SELECT $as_of, $tz -- not $currency"
    assert parameters(sql, Settings(), date(2026, 1, 1)) == {
        "as_of": date(2026, 1, 1),
        "tz": "Europe/Amsterdam",
    }
