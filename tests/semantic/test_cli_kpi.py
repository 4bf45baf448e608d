"""The KPI command line: kpi list/show, alerts, priorities (on the tiny data set)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from salespulse.cli.app import main
from salespulse.warehouse.store import connect
from tests.semantic import tiny


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = tmp_path / "tiny.duckdb"
    store = connect(path)
    tiny.load(store)
    store.close()
    return str(path)


def test_kpi_list_json_has_every_kpi(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kpi", "list", "--format", "json"]) == 0
    kpis = json.loads(capsys.readouterr().out)
    ids = {k["id"] for k in kpis}
    assert {"sqls", "won_revenue", "stage_conversion", "customer_retention"} <= ids
    assert all(k["definition"] and k["name_nl"] for k in kpis)


def test_kpi_show_json_shape(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "kpi",
        "show",
        "win_rate",
        "--by",
        "rep",
        "--as-of",
        "2024-06-30",
        "--db",
        db,
        "--format",
        "json",
    ]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kpi"] == "win_rate" and out["unit"] == "ratio"
    by_rep = {r["rep"]: r for r in out["rows"]}
    assert by_rep["R2"] == {
        "rep": "R2",
        "numerator": 1.0 - 1.0,
        "denominator": 1.0,
        "value": 0.0,
        "rep_name": "Bram",
        "rep_left_on": None,
    }


def test_kpi_show_source_id_filters_and_csv(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "kpi",
        "show",
        "W1",
        "--by",
        "channel",
        "--where",
        "channel=web_form",
        "--from",
        "2024-01-01",
        "--to",
        "2024-01-31",
        "--as-of",
        "2024-06-30",
        "--db",
        db,
        "--format",
        "csv",
    ]
    assert main(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("channel,value")
    assert lines[1].startswith("web_form,2.0")


@pytest.mark.slow
def test_kpi_show_explain_and_records(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kpi", "show", "win_rate", "--explain", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "Won / (won + lost)" in out and "SELECT" in out
    assert (
        main(
            [
                "kpi",
                "show",
                "stale_deals",
                "--records",
                "--as-of",
                "2024-06-30",
                "--db",
                db,
                "--format",
                "csv",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("deal_id,") and "D2," in out and "D5," in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["kpi", "show", "nope"], "unknown KPI"),
        (["kpi", "show", "sqls", "--by", "stage"], "cannot be broken down"),
        (["kpi", "show", "sqls", "--as-of", "31-12-2024"], "not a date"),
        (["kpi", "show", "sqls", "--where", "team"], "FIELD=VALUE"),
        (["alerts", "--as-of", "yesterday"], "not a date"),
        (["kpi", "show", "won_revenue", "--where", "team=T99"], "no team 'T99'"),
        (["kpi", "show", "won_revenue", "--where", "rep=R9"], "known: R1, R2, R3, R4"),
        (["priorities", "--rep", "Annaa"], "did you mean 'Anna'?"),
    ],
)
def test_user_mistakes_give_one_line_and_exit_2(
    db: str, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main([*args, "--db", db]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_missing_database_is_a_user_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["kpi", "show", "sqls", "--db", str(tmp_path / "none.duckdb")]) == 2
    assert "no database at" in capsys.readouterr().err


@pytest.mark.slow
def test_alerts_and_priorities(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["alerts", "--as-of", "2024-06-30", "--db", db, "--format", "json"]) == 0
    alerts = {a["kind"]: a for a in json.loads(capsys.readouterr().out)}
    assert alerts["stale_deals"]["count"] == 2
    assert alerts["unassigned_leads"]["records"][0]["lead_id"] == "L4"
    assert (
        main(["priorities", "--rep", "R2", "--as-of", "2024-02-25", "--db", db, "--format", "csv"])
        == 0
    )
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith("1,deal,D3") and out[2].startswith("2,lead,L2")


@pytest.mark.slow
def test_priorities_take_a_rep_name_and_say_what_a_stage_probability_is(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["priorities", "--rep", "bram", "--as-of", "2024-02-25", "--db", db, "--format", "json"]
    assert main(args) == 0
    rows = json.loads(capsys.readouterr().out)
    deal = next(r for r in rows if r["kind"] == "deal")
    assert deal["stage_probability"] is not None and deal["score"] is None
    assert "configured win probability" in deal["why"] and "likely" not in deal["why"]


@pytest.mark.slow
def test_every_json_output_is_strict_json(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    def refuse(name: str) -> None:
        raise AssertionError(f"non-JSON constant {name}")

    as_of = ["--as-of", "2024-06-30"]
    for args in (
        ["kpi", "show", "open_deals", "--records", *as_of, "--db", db],
        ["kpi", "show", "clv", *as_of, "--db", db],
        ["kpi", "list"],
        ["info", "--db", db],
        ["alerts", *as_of, "--db", db],
        ["priorities", "--rep", "R1", *as_of, "--db", db],
    ):
        assert main([*args, "--format", "json"]) == 0, args
        json.loads(capsys.readouterr().out, parse_constant=refuse)
