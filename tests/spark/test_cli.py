"""The read commands on ``--db spark:<snapshot>``; writes refused; Spark problems as one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from salespulse.cli.app import main
from salespulse.errors import UserError
from salespulse.warehouse import spark
from salespulse.warehouse.schema import TABLES
from tests.spark.conftest import DemoPair

pytestmark = [
    pytest.mark.spark,
    pytest.mark.slow,
    pytest.mark.xdist_group("spark"),
    # PySpark 4.0 leaves the socket of each result it collects to the garbage collector
    # (SPARK-54247, fixed in Spark 4.2)
    pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning"),
]


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> object:
    assert main(list(args)) == 0
    return json.loads(capsys.readouterr().out)


def test_kpi_show_on_spark_gives_the_duckdb_output(
    demo_pair: DemoPair, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["kpi", "show", "won_revenue", "--by", "team,quarter", "--format", "json"]
    expected = _json(capsys, *args, "--db", demo_pair.db)
    got = _json(capsys, *args, "--db", demo_pair.url)
    assert isinstance(got, dict) and isinstance(expected, dict)
    assert got["rows"] and len(got["rows"]) == len(expected["rows"])

    def key(r: dict[str, object]) -> tuple[str, str]:
        return (str(r["period"]), str(r["team"]))

    def figures(r: dict[str, object]) -> set[str]:  # value, target, attainment
        return {k for k, v in r.items() if isinstance(v, int | float) and not isinstance(v, bool)}

    for g, e in zip(sorted(got["rows"], key=key), sorted(expected["rows"], key=key), strict=True):
        assert g.keys() == e.keys()
        assert "value" in figures(e) and figures(g) == figures(e)
        # sums in another order differ in the last bits: every figure to 1e-9, the rest equal
        for k in figures(e):
            assert g[k] == pytest.approx(e[k], rel=1e-9), k
        assert {k: v for k, v in g.items() if k not in figures(e)} == {
            k: v for k, v in e.items() if k not in figures(e)
        }


def test_info_on_spark(demo_pair: DemoPair, capsys: pytest.CaptureFixture[str]) -> None:
    got = _json(capsys, "info", "--format", "json", "--db", demo_pair.url)
    assert isinstance(got, dict)
    assert got["engine"] == "pyspark"
    assert {t.name for t in TABLES} <= set(got["tables"])
    assert got["tables"]["deals"]["rows"] == demo_pair.duckdb.counts()["deals"]


def test_forecast_show_on_spark(demo_pair: DemoPair, capsys: pytest.CaptureFixture[str]) -> None:
    """The learned probabilities and the seeded Monte Carlo: the same figures as DuckDB."""
    args = ["forecast", "show", "--method", "stage_learned", "--draws", "500", "--format", "json"]
    expected = _json(capsys, *args, "--db", demo_pair.db)
    got = _json(capsys, *args, "--db", demo_pair.url)
    assert isinstance(got, dict) and isinstance(expected, dict)
    assert got["rows"] and len(got["rows"]) == len(expected["rows"])
    for g, e in zip(got["rows"], expected["rows"], strict=True):
        assert g.keys() == e.keys()
        for k, v in e.items():
            assert g[k] == (pytest.approx(v, rel=1e-9) if isinstance(v, float) else v), k


@pytest.mark.parametrize(
    "args",
    [
        ["generate", "--scale", "demo", "-q"],
        ["settings", "set", "timezone", "Europe/London"],
    ],
    ids=["generate", "settings-set"],
)
def test_writes_are_refused_on_a_snapshot(
    demo_pair: DemoPair, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    before = demo_pair.spark.counts()
    assert main([*args, "--db", demo_pair.url]) == 2
    err = capsys.readouterr().err
    assert "read-only Spark snapshot" in err and "Traceback" not in err
    assert demo_pair.spark.counts() == before


def test_export_replaces_a_snapshot_and_refuses_other_folders(
    demo_pair: DemoPair, tmp_path: Path
) -> None:
    target = tmp_path / "snap"
    first = spark.export(demo_pair.duckdb, target)
    assert first["deals"] == demo_pair.duckdb.counts()["deals"]
    assert first["data_version"] == 1 and "users" not in first and "sessions" not in first
    spark.export(demo_pair.duckdb, target)  # replaces the snapshot in place
    assert sorted(p.name for p in target.iterdir()) == sorted(first)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no leftovers
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not a salespulse snapshot"):
        spark.export(demo_pair.duckdb, other)
    assert (other / "notes.txt").read_text() == "mine"


def test_bad_locations_are_user_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kpi", "show", "calls", "--db", f"spark:{tmp_path}/none"]) == 2
    assert "no salespulse snapshot" in capsys.readouterr().err
    with pytest.raises(UserError, match="unknown parameter"):
        spark.Location.parse(f"spark:{tmp_path}?threads=4")
    loc = spark.Location.parse("spark:///data/snap?master=spark://h:7077&spark.executor.cores=2")
    assert (loc.folder, loc.master, loc.conf) == (
        "/data/snap",
        "spark://h:7077",
        {"spark.executor.cores": "2"},
    )
    assert spark.Location.parse("spark:s3a://bucket/snap").local_folder is None


def test_without_java_spark_is_one_line(demo_pair: DemoPair, tmp_path: Path) -> None:
    """No Java: exit 2 and one clear line (a fresh process: no Spark context yet)."""
    env = {**os.environ, "JAVA_HOME": str(tmp_path / "no-java"), "PATH": "/nonexistent"}
    cmd = [sys.executable, "-m", "salespulse.cli.app", "kpi", "show", "calls"]
    done = subprocess.run(
        [*cmd, "--db", demo_pair.url], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr
    err = done.stderr.strip()
    assert "cannot start Spark" in err and "Java 17" in err
    assert "Traceback" not in err
