"""DuckDB results as pandas frames (``warehouse/frames.py``): every column kind, with and
without nulls and in an empty result, exactly as Ibis's own ``execute`` converts it."""

from __future__ import annotations

import ibis
import pandas as pd
import pytest

from salespulse.warehouse.frames import arrow_frame

COLUMNS = {  # name: SQL type, two values
    "f": ("DOUBLE", "1.5", "-2.25"),
    "i": ("BIGINT", "3", "-4"),
    "i32": ("INTEGER", "3", "4"),
    "d": ("DATE", "DATE '2026-11-14'", "DATE '1999-12-31'"),
    "s": ("VARCHAR", "'Jansen <b>'", "''"),
    "b": ("BOOLEAN", "true", "false"),
    "ts": ("TIMESTAMP", "TIMESTAMP '2026-11-14 10:15:00'", "TIMESTAMP '2026-03-29 02:30:00'"),
    "dec": ("DECIMAL(18, 3)", "12.345", "1"),
}


def _sql(nulls: bool, where: str = "") -> str:
    """Two rows of every column kind; with ``nulls`` the second row is all NULL."""
    rows = [
        ", ".join(
            f"CAST({'NULL' if nulls and i else v[i]} AS {typ}) AS {name}"
            for name, (typ, *v) in COLUMNS.items()
        )
        for i in range(2)
    ]
    return f"SELECT * FROM (SELECT {rows[0]} UNION ALL SELECT {rows[1]}) {where}"


@pytest.mark.parametrize(
    ("nulls", "where"),
    [(False, ""), (True, ""), (False, "WHERE false"), (True, "WHERE i IS NULL")],
    ids=["values", "nulls", "empty", "only-nulls"],
)
def test_every_column_kind_converts_as_ibis_does(nulls: bool, where: str) -> None:
    con = ibis.duckdb.connect()
    expr = con.sql(_sql(nulls, where))
    ours = arrow_frame(con.con.sql(_sql(nulls, where)).to_arrow_table(), expr.schema())
    pd.testing.assert_frame_equal(ours, expr.execute(), check_exact=True)
    con.disconnect()


@pytest.mark.parametrize("empty", [False, True])
def test_a_column_of_another_sql_type_gets_its_declared_type(empty: bool) -> None:
    """As when Ibis declares a DECIMAL sum or an untyped NULL (DuckDB: INTEGER) float64."""
    con = ibis.duckdb.connect()
    sql = (
        "SELECT CAST(x AS DECIMAL(38, 2)) AS f, NULL AS n, CAST(x AS INTEGER) AS i, "
        "CAST(x AS DATE) AS d FROM (SELECT CAST(NULL AS TIMESTAMP) AS x) WHERE false"
        if empty
        else "SELECT 1.25::DECIMAL(38, 2) AS f, NULL AS n, 3::INTEGER AS i, "
        "TIMESTAMP '2026-11-14 10:00' AS d FROM range(3)"
    )
    schema = ibis.schema({"f": "float64", "n": "float64", "i": "int64", "d": "date"})
    ours = arrow_frame(con.con.sql(sql).to_arrow_table(), schema)
    pd.testing.assert_frame_equal(ours, con.sql(sql, schema=schema).execute(), check_exact=True)
    assert list(ours.dtypes.astype(str)) == ["float64", "float64", "int64", "datetime64[s]"]
    con.disconnect()


def test_columns_out_of_the_schemas_order_are_refused() -> None:
    con = ibis.duckdb.connect()
    table = con.con.sql("SELECT 1.0 AS a, 2.0 AS b").to_arrow_table()
    with pytest.raises(ValueError, match="don't match"):
        arrow_frame(table, ibis.schema({"b": "float64", "a": "float64"}))
    con.disconnect()
