"""DuckDB's threads, memory limit and spill directory: chosen defaults and overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from salespulse.errors import UserError
from salespulse.settings import store_setting
from salespulse.warehouse import tuning
from salespulse.warehouse.store import Store, connect


def _setting(store: Store, name: str) -> str:
    row = store.con.con.execute(f"SELECT current_setting('{name}')").fetchone()
    return str(row[0])


def _mib(text: str) -> float:
    number, unit = text.split()
    return float(number) * {"MiB": 1, "GiB": 1024, "KiB": 1 / 1024}[unit]


def test_defaults(tmp_path: Path) -> None:
    path = tmp_path / "d.duckdb"
    store = connect(path)
    try:
        assert int(_setting(store, "threads")) == tuning.cores()
        assert _setting(store, "temp_directory") == f"{path}.tmp"
        total = tuning.physical_memory()
        assert total is not None
        limit = _mib(_setting(store, "memory_limit"))
        assert limit == pytest.approx(total * tuning.MEMORY_SHARE / 2**20, rel=0.01)
    finally:
        store.close()
    ro = connect(path, create=False)  # read-only readers get the same
    try:
        assert int(_setting(ro, "threads")) == tuning.cores()
    finally:
        ro.close()


def test_in_memory_spills_into_the_workspace(_isolated_workspace: Path) -> None:
    store = connect(":memory:")
    try:
        assert _setting(store, "temp_directory") == str(_isolated_workspace / "tmp")
    finally:
        store.close()


def test_settings_file_overrides(tmp_path: Path, _isolated_workspace: Path) -> None:
    _isolated_workspace.mkdir(parents=True, exist_ok=True)
    spill = tmp_path / "spill"
    (_isolated_workspace / "settings.toml").write_text(
        f'duckdb_threads = 1\nduckdb_memory_limit = "512MB"\nduckdb_temp_directory = "{spill}"\n'
    )
    store = connect(tmp_path / "o.duckdb")
    try:
        assert _setting(store, "threads") == "1"
        assert _mib(_setting(store, "memory_limit")) == pytest.approx(512e6 / 2**20, rel=0.01)
        assert _setting(store, "temp_directory") == str(spill)
    finally:
        store.close()


def test_a_wrong_memory_limit_is_a_user_error(tmp_path: Path, _isolated_workspace: Path) -> None:
    _isolated_workspace.mkdir(parents=True, exist_ok=True)
    (_isolated_workspace / "settings.toml").write_text('duckdb_memory_limit = "lots"\n')
    with pytest.raises(UserError, match="duckdb_memory_limit"):
        connect(tmp_path / "w.duckdb")


def test_negative_threads_are_refused(tmp_path: Path, _isolated_workspace: Path) -> None:
    _isolated_workspace.mkdir(parents=True, exist_ok=True)
    (_isolated_workspace / "settings.toml").write_text("duckdb_threads = -2\n")
    with pytest.raises(UserError, match="duckdb_threads"):
        connect(tmp_path / "n.duckdb")


def test_engine_settings_are_not_stored_in_a_database(tmp_path: Path) -> None:
    store = connect(tmp_path / "s.duckdb")
    try:
        with pytest.raises(UserError, match=r"settings\.toml"):
            store_setting(store, "duckdb_threads", 1)
    finally:
        store.close()
