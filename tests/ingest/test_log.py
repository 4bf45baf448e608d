"""The import log is a schema change: version 2 adds it to version-1 databases."""

from __future__ import annotations

from pathlib import Path

import ibis
import pytest

from salespulse.ingest import run_import
from salespulse.warehouse import migrations
from salespulse.warehouse.schema import SCHEMA_VERSION, SYSTEM_TABLES, TABLES
from salespulse.warehouse.store import connect


@pytest.mark.slow
def test_version_1_database_gets_the_import_log(tmp_path: Path, simple: Path) -> None:
    db = tmp_path / "v1.duckdb"
    con = ibis.duckdb.connect(str(db))
    con.raw_sql(
        "CREATE TABLE schema_migrations (version BIGINT NOT NULL, description VARCHAR NOT NULL, "
        "applied_at TIMESTAMP NOT NULL)"
    )
    for t in TABLES:
        con.raw_sql(t.create_sql())
    con.raw_sql("INSERT INTO schema_migrations VALUES (1, 'v1', TIMESTAMP '2026-01-01 00:00:00')")
    con.disconnect()
    store = connect(db)
    assert store.schema_version() == SCHEMA_VERSION
    for t in SYSTEM_TABLES:
        assert list(store.con.table(t.name).columns) == t.column_names
    assert "import_log" not in store.counts()  # TABLES stays "the canonical CRM tables"
    assert migrations.ensure_schema(store.con) == []
    store.close()
    result = run_import(simple, db)
    assert result.written
    store = connect(db)
    log = store.con.table("import_log").to_pyarrow().to_pylist()
    assert log[0]["inserted"] == result.totals()["inserted"]
    files = store.con.table("import_files").to_pyarrow().to_pylist()
    assert {Path(f["path"]).name for f in files} == {"reps.csv", "deals.csv"}
    assert all(len(f["sha256"]) == 64 for f in files)
    store.close()
