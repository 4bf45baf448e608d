"""Untrusted text made inert: embedded JSON, Plotly labels, CSV cells (CLI and files)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from salespulse.cli.app import app as cli
from salespulse.escape import csv_cell, csv_frame, csv_rows, json_for_html, plotly_text, to_csv
from salespulse.ingest.validate import ImportProblem, write_report


def test_json_for_html_has_no_markup_and_round_trips() -> None:
    data = {"name": "</script><script>alert(1)</script> & \u2028\u2029 <!--", "n": [1, -2.5]}
    text = str(json_for_html(data))
    for ch in "<>&\u2028\u2029":
        assert ch not in text
    assert json.loads(text) == data


def test_plotly_text_escapes_data_but_not_templates() -> None:
    spec = {
        "data": [
            {
                "x": ["<b>x</b>", "a & b", 3],
                "name": "<a href=javascript:alert(1)>n</a>",
                "hovertemplate": "%{x}: %{y}<extra>%{fullData.name}</extra>",
            }
        ],
        "layout": {"height": 340},
    }
    out = plotly_text(spec)
    assert out["data"][0]["x"] == ["&lt;b&gt;x&lt;/b&gt;", "a &amp; b", 3]
    assert out["data"][0]["name"] == "&lt;a href=javascript:alert(1)&gt;n&lt;/a&gt;"
    assert out["data"][0]["hovertemplate"] == spec["data"][0]["hovertemplate"]
    assert out["layout"] == {"height": 340}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1", "'+1"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Jansen BV", "Jansen BV"),
        ("", ""),
        (-5, -5),
        (-2.5, -2.5),
        (None, None),
    ],
)
def test_csv_cell(value: object, expected: object) -> None:
    assert csv_cell(value) == expected


def test_csv_frame_keeps_numbers_numbers() -> None:
    frame = pd.DataFrame(
        {
            "name": ["=cmd|x", "ok", None],
            "value": [-1.5, 2.0, -3.0],
            "n": pd.array([-1, 2, None], dtype="Int64"),
            "s": pd.array(["@x", "-y", None], dtype="string"),
        }
    )
    rows = list(csv.reader(io.StringIO(to_csv(frame))))
    assert rows[0] == ["name", "value", "n", "s"]
    assert rows[1] == ["'=cmd|x", "-1.5", "-1", "'@x"]
    assert rows[2] == ["ok", "2.0", "2", "'-y"]
    assert rows[3] == ["", "-3.0", "", ""]
    assert csv_frame(frame)["value"].tolist() == [-1.5, 2.0, -3.0]
    assert list(csv_frame(pd.DataFrame({"=x": [1]})).columns) == ["'=x"]


def test_csv_rows() -> None:
    rows = list(csv.reader(io.StringIO(csv_rows([["a", "b"], ["=1+1", -4]]))))
    assert rows == [["a", "b"], ["'=1+1", "-4"]]


def test_import_problem_report_csv_is_inert(tmp_path: Path) -> None:
    p = ImportProblem("deals.csv", 3, "name", '=HYPERLINK("http://evil")', "-fix it")
    write_report([p], tmp_path / "problems.csv")
    rows = list(csv.reader(io.StringIO((tmp_path / "problems.csv").read_text("utf-8"))))
    assert rows[1] == ["deals.csv", "3", "name", '\'=HYPERLINK("http://evil")', "'-fix it", "error"]


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.web.hostile import make_hostile

    path = tmp_path_factory.mktemp("hostile-cli") / "h.duckdb"
    make_hostile(path)
    return path


@pytest.mark.parametrize(
    "args",
    [
        ["kpi", "show", "won_revenue", "--by", "rep", "--format", "csv"],
        ["kpi", "show", "open_pipeline", "--by", "region", "--format", "csv"],
        ["kpi", "show", "won_revenue", "--by", "account", "--format", "csv"],
        ["priorities", "--rep", "R00006", "--format", "csv"],
    ],
)
@pytest.mark.slow
def test_cli_csv_output_is_inert(hostile_db: Path, args: list[str]) -> None:
    result = CliRunner().invoke(cli, [*args, "--db", str(hostile_db)])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert len(rows) > 1
    cells = [c for row in rows for c in row]
    for c in cells:
        try:
            float(c)
        except ValueError:
            assert c[:1] not in ("=", "+", "-", "@", "\t", "\r"), c
    assert any(c.startswith("'=") or c.startswith("'-") or c.startswith("'+") for c in cells)
