"""``salespulse generate`` on the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from salespulse.cli.app import main
from salespulse.demo import PLANTED
from salespulse.warehouse.store import connect


@pytest.mark.slow
def test_generate_writes_the_demo_data_and_prints_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "cli.duckdb"
    args = ["generate", "--seed", "3", "--scale", "demo", "--today", "2026-06-30"]
    assert main([*args, "--db", str(db), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "activities" in out and "deals" in out
    store = connect(db, create=False)
    try:
        counts = store.counts()
        assert counts["deals"] > 1000
        assert f"{counts['deals']:,}" in out
        latest = store.con.raw_sql("select max(occurred_at) from activities").fetchall()[0][0]
        assert str(latest) < "2026-06-30"
        planted = store.con.raw_sql(
            f"select count(*) from deals where owner_rep_id = '{PLANTED.stage_skipper_rep_id}'"
        ).fetchall()[0][0]
        assert planted > 20
    finally:
        store.close()
    # running it again replaces the data instead of adding to it
    assert main([*args, "--db", str(db), "--quiet"]) == 0
    store = connect(db, create=False)
    try:
        assert store.counts() == counts
    finally:
        store.close()


def test_generate_uses_the_workspace_database_by_default(tmp_path: Path) -> None:
    assert main(["generate", "--quiet", "--today", "2026-01-31"]) == 0
    assert (tmp_path / "workspace" / "salespulse.duckdb").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scale", "huge"], "unknown scale 'huge'"),
        (["--today", "31-12-2026"], "--today must be a date"),
        (["--seed", "abc"], "Usage: salespulse generate"),
    ],
)
def test_bad_options_give_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code = main(["generate", *args, "--db", str(tmp_path / "x.duckdb"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert not (tmp_path / "x.duckdb").exists()


def test_help_lists_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--seed", "--scale", "--today", "--db"):
        assert option in out
