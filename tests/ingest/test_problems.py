"""Bad input: clear problems naming file, row and column; nothing written; never a traceback."""

from __future__ import annotations

import csv
import json
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from salespulse.cli.app import main
from salespulse.errors import UserError
from salespulse.ingest import ImportProblem, run_import
from salespulse.ingest.importer import ImportFailed
from salespulse.warehouse.store import connect
from tests.ingest.conftest import DEALS_CSV


def _problems(mapping: Path, db: Path) -> list[ImportProblem]:
    with pytest.raises(ImportFailed) as exc:
        run_import(mapping, db)
    return exc.value.result.problems


def _deals(simple: Path, text: str) -> None:
    (simple.parent / "deals.csv").write_bytes(
        text.encode("utf-8") if isinstance(text, str) else text
    )


@pytest.mark.parametrize(
    ("deals_csv", "row", "column", "fragment"),
    [
        (DEALS_CSV.replace("2024-02-10", "10/02/2024"), 3, "created", "cannot read '10/02/2024'"),
        (DEALS_CSV.replace("2500.5", '"2.500,5"'), 3, "amount", "as a number"),
        (DEALS_CSV.replace("Proposal", "Proposl"), 3, "stage", "unknown stage 'Proposl'"),
        (DEALS_CSV.replace("D2,", "D1,"), 3, "id", "duplicate deal_id 'D1' (also in row 2)"),
        (DEALS_CSV.replace("4000", "-4000"), 4, "amount", "negative value"),
        (DEALS_CSV.replace("D2,R2", "D2,R9"), 3, "owner", "unknown rep 'R9'"),
        (DEALS_CSV.replace("2024-01-05", ""), 2, "created", "missing value for deals.created_at"),
    ],
)
def test_each_kind_of_bad_value_names_file_row_and_column(
    simple: Path, tmp_path: Path, deals_csv: str, row: int, column: str, fragment: str
) -> None:
    _deals(simple, deals_csv)
    problems = _problems(simple, tmp_path / "x.duckdb")
    assert len(problems) == 1, problems
    p = problems[0]
    assert p.file.endswith("deals.csv") and p.row == row and p.column == column
    assert fragment in p.problem and p.hint


def test_missing_column_empty_file_and_undecodable_text(simple: Path, tmp_path: Path) -> None:
    _deals(simple, DEALS_CSV.replace("amount", "amuont"))
    [p] = _problems(simple, tmp_path / "x.duckdb")
    assert "missing column 'amount'" in p.problem and "amuont" in (p.hint or "")
    (simple.parent / "deals.csv").write_bytes(b"")
    [p] = _problems(simple, tmp_path / "x.duckdb")
    assert "empty" in p.problem and p.file.endswith("deals.csv")
    (simple.parent / "deals.csv").write_bytes(
        DEALS_CSV.encode() + b"D4,R1,Qualify,1,2024-01-01,\x81\x8d\n"
    )
    [p] = _problems(simple, tmp_path / "x.duckdb")
    assert "undecodable" in p.problem and p.row == 5


@pytest.mark.slow
def test_report_lists_every_problem_and_nothing_is_written(simple: Path, tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    assert main(["import", str(simple), "--db", str(db), "-q"]) == 0
    bad = DEALS_CSV.replace("2024-02-10", "gisteren").replace("Qualify,1000", "Qualify,-5")
    bad += "".join(f"N{i},R1,Nope,1,2024-01-01,\n" for i in range(30))
    _deals(simple, bad)
    report = tmp_path / "problems.csv"
    code = main(["import", str(simple), "--db", str(db), "-q", "--report", str(report)])
    assert code == 2
    with report.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 32
    assert {r["column"] for r in rows} == {"created", "amount", "stage"}
    assert all(r["file"].endswith("deals.csv") and r["row"] and r["hint"] for r in rows)
    store = connect(db)
    assert store.counts()["deals"] == 3  # the first import only
    assert store.con.table("import_log").count().execute() == 1
    store.close()
    json_report = tmp_path / "p.json"
    main(["import", str(simple), "--db", str(db), "-q", "--report", str(json_report)])
    assert len(json.loads(json_report.read_text())) == 32


@pytest.mark.slow
def test_dry_run_validates_without_writing(simple: Path, tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    result = run_import(simple, db, dry_run=True)
    assert result.counts["deals"].inserted == 3 and not result.written
    assert not db.exists()
    assert main(["import", str(simple), "--db", str(db), "-q", "--dry-run"]) == 0
    assert not db.exists()
    connect(db).close()
    result = run_import(simple, db, dry_run=True)
    assert result.counts["deals"].inserted == 3 and not result.written
    store = connect(db)
    assert store.counts()["deals"] == 0
    assert store.con.table("import_log").count().execute() == 0
    store.close()


def test_skip_bad_rows_imports_the_rest_and_counts_rejected(simple: Path, tmp_path: Path) -> None:
    _deals(simple, DEALS_CSV.replace("Proposal", "Proposl"))
    result = run_import(simple, tmp_path / "x.duckdb", skip_bad_rows=True)
    assert result.counts["deals"].inserted == 2 and result.counts["deals"].rejected == 1
    assert len(result.problems) == 1 and result.written


def test_mapping_mistakes_are_user_errors(simple: Path, tmp_path: Path) -> None:
    text = simple.read_text()
    for broken, fragment in [
        (text.replace("owner_rep_id", "owner_id"), "did you mean 'owner_rep_id'"),
        (text.replace("[sources.reps]", "[sources.repz]"), "unknown table 'repz'"),
        (text.replace('file = "reps.csv"', 'file = "nope.csv"'), "file not found"),
        ("bogus = 1\n" + text, "unknown key 'bogus'"),
        ("this is = not toml [", "not a valid TOML"),
    ]:
        simple.write_text(broken)
        with pytest.raises(UserError, match=fragment.replace("(", r"\(")):
            run_import(simple, tmp_path / "x.duckdb")


@pytest.mark.slow
def test_unknown_references_can_be_emptied_instead(simple: Path, tmp_path: Path) -> None:
    _deals(simple, DEALS_CSV.replace("D2,R2", "D2,R9"))
    simple.write_text(simple.read_text() + '\n[unknown_references]\nreps = "empty"\n')
    run_import(simple, tmp_path / "x.duckdb")
    store = connect(tmp_path / "x.duckdb")
    owners = store.table("deals").order_by("deal_id").owner_rep_id.to_pyarrow().to_pylist()
    assert owners == ["R1", None, "R1"]
    store.close()


_cells = st.text(alphabet=string.ascii_letters + string.digits + ',;"\n\r\t -.éü€\x00', max_size=12)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    raw=st.one_of(
        st.binary(max_size=200),
        st.lists(st.lists(_cells, min_size=0, max_size=8), max_size=6).map(
            lambda rows: "\n".join(",".join(r) for r in rows)
        ),
        st.lists(_cells, min_size=6, max_size=6).map(
            lambda r: "id,owner,stage,amount,created,closed\n" + ",".join(r) + "\n"
        ),
    )
)
@pytest.mark.slow
def test_malformed_csv_never_crashes_and_never_changes_stored_data(
    simple: Path, tmp_path: Path, raw: bytes | str
) -> None:
    db = tmp_path / "h.duckdb"
    if not db.exists():
        assert main(["import", str(simple), "--db", str(db), "-q"]) == 0
    store = connect(db)
    before = {t: store.con.table(t).to_pyarrow() for t in ("deals", "reps", "import_log")}
    store.close()
    (simple.parent / "deals.csv").write_bytes(raw if isinstance(raw, bytes) else raw.encode())
    code = main(["import", str(simple), "--db", str(db), "-q"])
    assert code in (0, 2)
    store = connect(db)
    for t in ("deals", "reps"):
        assert (
            store.con.table(t)
            .to_pyarrow()
            .sort_by(store.con.table(t).columns[0])
            .equals(before[t].sort_by(before[t].column_names[0]))
            or code == 0
        )
    if code == 2:
        assert store.con.table("import_log").count().execute() == before["import_log"].num_rows
    store.close()
    (simple.parent / "deals.csv").write_text(DEALS_CSV)
