"""The canonical store: schema round-trip, migrations, loading, key checks."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import ibis
import pandas as pd
import pytest

from salespulse.errors import UserError
from salespulse.warehouse import migrations
from salespulse.warehouse.schema import SCHEMA_VERSION, TABLES
from salespulse.warehouse.store import Store, check_keys, connect


def test_every_table_is_created_with_the_declared_columns_and_types(store: Store) -> None:
    for t in TABLES:
        got = store.con.table(t.name).schema()
        assert list(got.names) == t.column_names
        for c in t.columns:
            assert got[c.name].nullable == c.nullable, (t.name, c.name)
            assert type(got[c.name]) is type(ibis.dtype(c.dtype)), (t.name, c.name)


def test_round_trip_keeps_values_nulls_and_types(store: Store) -> None:
    deals = pd.DataFrame(
        {
            "deal_id": ["D1", "D2"],
            "pipeline_id": ["P", "P"],
            "amount": [1234.56, None],
            "created_at": [datetime(2024, 2, 29, 23, 30), datetime(2024, 3, 31, 1, 0)],
            "expected_close_on": [date(2024, 6, 30), None],
            "outcome": ["won", None],
        }
    )
    assert store.load("deals", deals) == 2
    back = store.table("deals").order_by("deal_id").execute()
    assert back["amount"].iloc[0] == pytest.approx(1234.56)
    assert pd.isna(back["amount"].iloc[1])
    assert back["created_at"].iloc[0] == pd.Timestamp("2024-02-29 23:30")
    assert str(back["expected_close_on"].iloc[0])[:10] == "2024-06-30"
    assert back["outcome"].iloc[0] == "won" and pd.isna(back["outcome"].iloc[1])
    assert back["lead_id"].isna().all()  # columns not given are null


def test_load_rejects_unknown_and_missing_required_columns(duckdb_store: Store) -> None:
    with pytest.raises(ValueError, match="unknown columns"):
        duckdb_store.load("teams", pd.DataFrame({"team_id": ["T"], "name": ["x"], "oops": [1]}))
    with pytest.raises(ValueError, match="required column 'name'"):
        duckdb_store.load("teams", pd.DataFrame({"team_id": ["T"]}))


def test_load_all_is_all_or_nothing(duckdb_store: Store) -> None:
    duckdb_store.load("teams", pd.DataFrame({"team_id": ["T1"], "name": ["North"]}))
    with pytest.raises(ValueError):
        duckdb_store.load_all(
            {
                "teams": pd.DataFrame({"team_id": ["T2"], "name": ["South"]}),
                "reps": pd.DataFrame({"rep_id": ["R1"]}),  # name is required: fails
            }
        )
    assert duckdb_store.table("teams").team_id.execute().tolist() == ["T1"]
    assert duckdb_store.counts()["reps"] == 0


def test_new_database_is_stamped_with_the_current_version(tmp_path: Path) -> None:
    store = connect(tmp_path / "a.duckdb")
    assert store.schema_version() == SCHEMA_VERSION
    store.close()
    # reopening applies nothing and keeps the data
    store = connect(tmp_path / "a.duckdb")
    assert migrations.ensure_schema(store.con) == []
    store.close()


def test_migrations_upgrade_an_older_database_in_order(tmp_path: Path) -> None:
    store = connect(tmp_path / "a.duckdb")
    store.load("teams", pd.DataFrame({"team_id": ["T1"], "name": ["North"]}))
    steps = [
        *migrations.MIGRATIONS,
        migrations.Migration(
            SCHEMA_VERSION + 1,
            "add teams.cost_center",
            lambda con: con.raw_sql("ALTER TABLE teams ADD COLUMN cost_center VARCHAR"),
        ),
        migrations.Migration(
            SCHEMA_VERSION + 2,
            "fill teams.cost_center",
            lambda con: con.raw_sql("UPDATE teams SET cost_center = 'CC-' || team_id"),
        ),
    ]
    applied = migrations.ensure_schema(store.con, steps, target=SCHEMA_VERSION + 2)
    assert applied == [SCHEMA_VERSION + 1, SCHEMA_VERSION + 2]
    assert migrations.current_version(store.con) == SCHEMA_VERSION + 2
    assert store.table("teams").cost_center.execute().tolist() == ["CC-T1"]


def test_failed_migration_leaves_the_database_as_it_was(tmp_path: Path) -> None:
    store = connect(tmp_path / "a.duckdb")

    def broken(con: object) -> None:
        store.con.raw_sql("ALTER TABLE teams ADD COLUMN half_done VARCHAR")
        raise RuntimeError("boom")

    steps = [*migrations.MIGRATIONS, migrations.Migration(SCHEMA_VERSION + 1, "broken", broken)]
    with pytest.raises(RuntimeError):
        migrations.ensure_schema(store.con, steps, target=SCHEMA_VERSION + 1)
    assert migrations.current_version(store.con) == SCHEMA_VERSION
    assert "half_done" not in store.table("teams").columns


def test_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    store = connect(tmp_path / "a.duckdb")
    store.con.raw_sql(
        f"INSERT INTO schema_migrations VALUES ({SCHEMA_VERSION + 5}, 'future', "
        "TIMESTAMP '2030-01-01 00:00:00')"
    )
    store.close()
    with pytest.raises(UserError, match="newer"):
        connect(tmp_path / "a.duckdb")


@pytest.mark.slow
def test_check_keys_finds_duplicates_and_orphans(duckdb_store: Store) -> None:
    duckdb_store.load("teams", pd.DataFrame({"team_id": ["T1", "T1"], "name": ["a", "b"]}))
    duckdb_store.load("reps", pd.DataFrame({"rep_id": ["R1"], "name": ["x"], "team_id": ["T9"]}))
    problems = check_keys(duckdb_store)
    assert any("teams: 1 duplicate key" in p for p in problems)
    assert any("reps.team_id: 1 row(s) refer to an unknown teams.team_id" in p for p in problems)


def test_missing_database_without_create_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no database at"):
        connect(tmp_path / "missing.duckdb", create=False)


def test_a_read_only_file_reads_its_version_once_a_writer_sees_each_write(
    tmp_path: Path,
) -> None:
    path = tmp_path / "a.duckdb"
    writer = connect(path)
    first = writer.data_version()
    with writer.transaction():
        writer.con.raw_sql("UPDATE deals SET amount = 1 WHERE false")
    second = writer.data_version()
    writer.close()
    assert second != first  # a writer's own commits give new versions at once

    reader = connect(path, create=False)
    assert reader.read_only and reader.data_version() == second
    reader.con.con.close()  # no writer can change the file while a reader holds it:
    assert reader.data_version() == second  # the version is not asked again
