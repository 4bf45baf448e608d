"""``salespulse spark export``: the snapshot's layout and contents (no Spark needed)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.dataset as pads
import pytest

from salespulse.cli.app import main
from salespulse.warehouse import spark
from salespulse.warehouse.schema import TABLES
from salespulse.warehouse.store import connect
from tests.semantic import tiny


@pytest.mark.slow
def test_export_writes_every_table_but_the_accounts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "tiny.duckdb"
    store = connect(db)
    tiny.load(store)
    counts = store.counts()
    version = store.data_version()
    store.close()
    snap = tmp_path / "snap"
    assert main(["spark", "export", str(snap), "--db", str(db), "-q"]) == 0
    assert f"--db spark:{snap.resolve()}" in capsys.readouterr().out.replace("\n", "")
    names = {p.name for p in snap.iterdir()}
    assert {t.name for t in TABLES} | {"data_version", "schema_migrations"} <= names
    assert not names & spark.NOT_EXPORTED  # no users, sessions, tokens, audit log
    for name, n in counts.items():
        assert pads.dataset(snap / name, format="parquet").count_rows() == n, name
    versions = pads.dataset(snap / "data_version", format="parquet").to_table()
    assert versions.column("version").to_pylist() == [version]


def test_export_from_a_snapshot_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["spark", "export", str(tmp_path / "b"), "--db", f"spark:{tmp_path}/a"]) == 2
    assert "not from a snapshot" in capsys.readouterr().err
