"""A DuckDB result (an Arrow table) as the pandas frame Ibis's ``execute`` gives for it.

Ibis builds a frame from the Arrow columns, converts each column to the pandas type of its
Ibis type (``DuckDBPandasData.convert_table``) and builds a second frame: 1–22 ms for a
KPI's result at ``large``, as much as DuckDB takes for a small KPI's query. The column kinds a
KPI result consists of — float64, int64 without nulls, date32 and string columns under the
same Ibis type — are converted here directly to the dtype Ibis's conversion ends with
(float64 with NaN for nulls, int64, ``datetime64[s]`` with NaT, pandas ``str``); every other
column goes through Ibis's own conversion. ``tests/test_frames.py`` holds each
kind, with and without nulls, to Ibis's result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.types as pat

if TYPE_CHECKING:
    import ibis.expr.datatypes as dt
    import ibis.expr.schema as sch


def arrow_frame(table: pa.Table, schema: sch.Schema) -> pd.DataFrame:
    """``table``'s columns (in ``schema``'s order and names) in the pandas types Ibis gives
    ``schema``'s types (a nested column as Ibis's first pass leaves it: its second,
    ``expr.__pandas_result__``, is the caller's)."""
    if tuple(table.column_names) != schema.names:
        raise ValueError("the result's columns don't match the schema")
    return pd.DataFrame(
        {
            name: _column(col, dtype, name)
            for (name, dtype), col in zip(schema.items(), table.columns, strict=True)
        }
    )


def _column(col: pa.ChunkedArray, dtype: dt.DataType, name: str) -> Any:
    typ = col.type
    if dtype.is_float64() and pat.is_float64(typ):
        return col.to_numpy()  # nulls become NaN, as in Ibis's float64 column
    if dtype.is_int64() and pat.is_int64(typ) and not col.null_count:
        return col.to_numpy()  # with nulls Ibis gives float64: its own conversion below
    if dtype.is_date() and pat.is_date32(typ):
        return col.to_numpy().astype("datetime64[s]")  # nulls become NaT
    if dtype.is_string() and pat.is_string(typ):
        return col.to_pandas()  # pandas ``str``, nulls NaN
    return _ibis_column(col, dtype, name)


def _ibis_column(col: pa.ChunkedArray, dtype: dt.DataType, name: str) -> pd.Series:
    """One column as Ibis's DuckDB backend converts it (``execute``)."""
    from ibis.backends.duckdb.converter import DuckDBPandasData

    raw = (
        col.to_pylist()
        if pat.is_nested(col.type) or pat.is_dictionary(col.type) or col.null_count
        else col.to_pandas()
    )
    return DuckDBPandasData.convert_column(pd.Series(raw, name=name), dtype)
