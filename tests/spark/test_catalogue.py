"""The whole KPI catalogue on Spark gives DuckDB's rows and values (demo data, rel. 1e-9).

Each KPI with its default breakdowns, through ``semantic.query.run`` on a store opened as
``spark:<snapshot>`` — the path every read command takes. Rows are compared sorted (the
engines order ties differently).
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

from salespulse.semantic.catalogue import all_kpis
from salespulse.semantic.model import Context
from salespulse.semantic.query import Query, context, run
from tests.spark.conftest import DemoPair

pytestmark = [
    pytest.mark.spark,
    pytest.mark.slow,
    pytest.mark.xdist_group("spark"),
    # PySpark 4.0 leaves the socket of each result it collects to the garbage collector
    # (SPARK-54247, fixed in Spark 4.2)
    pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning"),
]


@pytest.fixture(scope="module")
def contexts(demo_pair: DemoPair) -> Iterator[tuple[Context, Context]]:
    """One context per engine for every KPI (as of the last day with data)."""
    yield context(demo_pair.duckdb), context(demo_pair.spark)


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(list(frame.columns), na_position="last").reset_index(drop=True)


def test_spark_store_is_spark(demo_pair: DemoPair, contexts: tuple[Context, Context]) -> None:
    duck, sp = contexts
    assert demo_pair.spark.engine == "pyspark"
    assert sp.as_of == duck.as_of
    # (row counts per table: tests/spark/test_export.py, without a Spark job per table)
    assert demo_pair.spark.data_version() == demo_pair.duckdb.data_version()


@pytest.mark.parametrize("kpi_id", [k.id for k in all_kpis()])
def test_kpi_matches_duckdb(kpi_id: str, contexts: tuple[Context, Context]) -> None:
    duck, sp = contexts
    kpi = next(k for k in all_kpis() if k.id == kpi_id)
    q = Query.make(kpi_id, by=list(kpi.default_by))
    expected = run(duck.store, q, ctx=duck)
    got = run(sp.store, q, ctx=sp)
    assert got.available == expected.available, got.reason
    assert list(got.frame.columns) == list(expected.frame.columns)
    assert len(expected.frame) > 0, f"{kpi_id} has no rows on the demo data: nothing compared"
    pd.testing.assert_frame_equal(
        _sorted(got.frame),
        _sorted(expected.frame),
        check_dtype=False,
        check_exact=False,
        rtol=1e-9,
        atol=0,
    )
