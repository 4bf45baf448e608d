"""Bad input the import used to let through (issue #9): each case names file, row, column."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from datetime import datetime
from pathlib import Path

import pytest

from salespulse.cli.app import main
from salespulse.errors import UserError
from salespulse.ingest import ImportProblem, run_import, workdir
from salespulse.ingest.importer import ImportFailed
from salespulse.warehouse.store import connect
from tests.ingest.conftest import DEALS_CSV, REPO


def _problems(mapping: Path, db: Path) -> list[ImportProblem]:
    with pytest.raises(ImportFailed) as exc:
        run_import(mapping, db)
    return exc.value.result.problems


def _deals(simple: Path, text: str | bytes) -> Path:
    path = simple.parent / "deals.csv"
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


@pytest.mark.parametrize("value", ["NaN", "inf", "-inf", "1e400", "Infinity"])
def test_non_finite_amounts_are_refused(simple: Path, tmp_path: Path, value: str) -> None:
    _deals(simple, DEALS_CSV.replace("2500.5", value))
    [p] = _problems(simple, tmp_path / "x.duckdb")
    assert p.file.endswith("deals.csv") and p.row == 3 and p.column == "amount"
    assert f"cannot read {value!r} as a number" in p.problem
    assert "NaN" in (p.hint or "") or "too large" in (p.hint or "")


@pytest.mark.parametrize(
    ("old", "new", "row", "column"),
    [
        ("2024-03-01", "2099-03-01", 4, "closed"),  # a won deal closing in 2099
        ("2024-01-05", "1900-01-05", 2, "created"),  # an engage date in 1900
    ],
)
def test_implausible_dates_are_problems(
    simple: Path, tmp_path: Path, old: str, new: str, row: int, column: str
) -> None:
    _deals(simple, DEALS_CSV.replace(old, new))
    [p] = _problems(simple, tmp_path / "x.duckdb")
    assert (p.row, p.column) == (row, column)
    assert f"implausible date {new!r}" in p.problem and "1990-01-01" in p.problem
    assert "[checks]" in (p.hint or "")


@pytest.mark.slow
def test_the_plausible_window_is_a_mapping_option(simple: Path, tmp_path: Path) -> None:
    _deals(simple, DEALS_CSV.replace("2024-01-05", "1900-01-05"))
    simple.write_text(simple.read_text() + '\n[checks]\nearliest_date = "1899-01-01"\n')
    assert run_import(simple, tmp_path / "x.duckdb").written
    # and the future side: 2 years ahead at most
    _deals(simple, DEALS_CSV.replace("2024-03-01", "2029-03-01"))
    simple.write_text(simple.read_text() + "max_years_ahead = 2\n")
    with pytest.raises(ImportFailed) as exc:
        run_import(simple, tmp_path / "x.duckdb", as_of=datetime(2026, 1, 1))
    [p] = exc.value.result.problems
    assert "outside 1899-01-01 … 2028-01-01" in p.problem
    simple.write_text(simple.read_text().replace("max_years_ahead = 2", "max_years_ahead = -3"))
    with pytest.raises(UserError, match="max_years_ahead must be a whole number"):
        run_import(simple, tmp_path / "x.duckdb")


@pytest.mark.slow
def test_header_only_file_imports_with_a_warning(
    simple: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _deals(simple, DEALS_CSV.splitlines()[0] + "\n")
    db = tmp_path / "x.duckdb"
    assert main(["import", str(simple), "--db", str(db), "-q"]) == 0
    err = capsys.readouterr().err
    assert "1 warning" in err
    assert "deals.csv" in err and "header but no data rows" in err
    result = run_import(simple, db)
    [w] = result.warnings
    assert w.file.endswith("deals.csv") and not result.problems


def test_ragged_row_is_one_problem_naming_the_row(simple: Path, tmp_path: Path) -> None:
    _deals(simple, DEALS_CSV.replace("2024-02-10,\n", "2024-02-10,,extra\n"))
    [p] = _problems(simple, tmp_path / "x.duckdb")
    assert p.file.endswith("deals.csv") and p.row == 3
    assert "row has 7 fields, the header has 6" in p.problem


def test_bracketed_names_survive_in_the_final_error_line(
    simple: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = simple.read_text()
    simple.write_text(
        text.replace('[sources.deals]\nfile = "deals.csv"', '[sources.deals]\nfyle = "x"')
    )
    assert main(["import", str(simple), "--db", str(tmp_path / "x.duckdb"), "-q"]) == 2
    assert "in [sources.deals]" in capsys.readouterr().err
    simple.write_text(text[text.index("[sources.reps]") :])  # deals without a [pipeline]
    assert main(["import", str(simple), "--db", str(tmp_path / "x.duckdb"), "-q"]) == 2
    assert "need a [pipeline]" in capsys.readouterr().err
    simple.write_text(text)
    _deals(simple, DEALS_CSV.replace("D2,R2", "D2,R9"))
    assert main(["import", str(simple), "--db", str(tmp_path / "x.duckdb"), "-q"]) == 2
    last = capsys.readouterr().err.strip().splitlines()
    assert any("[unknown_references] reps" in line for line in last[-3:])


@pytest.mark.slow
def test_a_huge_field_reports_its_real_row(simple: Path, tmp_path: Path) -> None:
    _deals(simple, DEALS_CSV.replace("D2,R2,Proposal", "D2,R2," + "x" * 3_000_000))
    [p] = _problems(simple, tmp_path / "x.duckdb")
    assert p.row == 3 and "3.0 MB long" in p.problem and "quote" in (p.hint or "")


@pytest.mark.slow
def test_utf16_exports_import_and_problems_name_the_users_file(
    simple: Path, tmp_path: Path
) -> None:
    path = _deals(simple, DEALS_CSV.encode("utf-16"))
    assert run_import(simple, tmp_path / "x.duckdb").counts["deals"].inserted == 3
    _deals(simple, DEALS_CSV.replace("2024-02-10,\n", "2024-02-10,,extra\n").encode("utf-16"))
    [p] = _problems(simple, tmp_path / "x.duckdb")
    assert p.file == str(path) and p.row == 3
    assert str(workdir.base_dir()) not in str(p)
    _deals(simple, DEALS_CSV.replace("2500.5", "lots").encode("utf-16"))
    [p] = _problems(simple, tmp_path / "x.duckdb")
    assert p.file == str(path) and p.row == 3 and p.column == "amount"


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        ('"$ 1,054"', 'format.thousands = ","'),
        ('"1,054,300.50"', 'format.thousands = ","'),
        ('"2,5"', 'format.decimal = ","'),
    ],
)
def test_number_hints_fit_the_value(simple: Path, tmp_path: Path, value: str, hint: str) -> None:
    _deals(simple, DEALS_CSV.replace("2500.5", value))
    [p] = _problems(simple, tmp_path / "x.duckdb")
    assert hint in (p.hint or ""), p.hint


@pytest.mark.slow
def test_disk_full_while_writing_is_one_clear_line(
    simple: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Simulated: ENOSPC raised at the write boundary (load.write)."""
    from salespulse.ingest import load

    db = tmp_path / "x.duckdb"
    run_import(simple, db)
    _deals(simple, DEALS_CSV.replace("Qualify", "Proposal"))

    def full(*args: object, **kw: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(load, "write", full)
    assert main(["import", str(simple), "--db", str(db), "-q"]) == 2
    err = capsys.readouterr().err
    assert "disk is full" in err and "nothing was imported" in err and "Traceback" not in err
    monkeypatch.undo()
    store = connect(db)
    assert store.table("deals").filter(lambda t: t.stage_id == "qualify").count().execute() == 1
    store.close()


def _mount_tmpfs(where: Path, size: str) -> bool:
    if os.geteuid() != 0:
        return False
    where.mkdir()
    return (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
            capture_output=True,
        ).returncode
        == 0
    )


@pytest.mark.slow
def test_a_really_full_disk_is_one_clear_line(
    simple: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real full disk: the database on a 3 MB tmpfs, an export that does not fit."""
    mnt = tmp_path / "small"
    if not _mount_tmpfs(mnt, "4m"):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        db = mnt / "x.duckdb"
        assert main(["import", str(simple), "--db", str(db), "-q"]) == 0
        rows = "".join(
            f"N{i},R1,Proposal,{i},2024-03-01,,{uuid.uuid4().hex}\n" for i in range(100_000)
        )
        (simple.parent / "deals.csv").write_text(
            "id,owner,stage,amount,created,closed,note\n" + rows
        )
        code = main(["import", str(simple), "--db", str(db), "-q"])
        err = capsys.readouterr().err
        assert code == 2, err
        assert "disk is full" in err and "Traceback" not in err
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.slow
def test_killed_import_leaves_no_transcoded_copy_behind(
    simple: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    (simple.parent / "deals.csv").write_bytes(
        DEALS_CSV.encode("cp1252") + "D9,R1,Café,1,2024-01-01,\n".encode("cp1252")
    )
    marker = tmp_path / "transcoded"
    child = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from salespulse.ingest import readers, importer
        real = readers._transcode
        def slow(path, encoding, workdir):
            out = real(path, encoding, workdir)
            Path({str(marker)!r}).write_text(str(out))
            time.sleep(60)
            return out
        readers._transcode = slow
        importer.run_import({str(simple)!r}, {str(tmp_path / "x.duckdb")!r})
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(tmp)}
    proc = subprocess.Popen([sys.executable, "-c", child], env=env)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() or not marker.read_text():
            assert proc.poll() is None, "the import ended before it was killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    copy = Path(marker.read_text())
    assert copy.is_file() and copy.is_relative_to(workdir.base_dir())  # left by the dead child
    assert b"Caf\xc3\xa9" in copy.read_bytes()
    with pytest.raises(ImportFailed):  # unknown stage 'Café'; the import still cleans up
        run_import(simple, tmp_path / "x.duckdb")
    assert not copy.exists() and not any(workdir.base_dir().iterdir())
    assert not [p for p in tmp.iterdir() if p.name.startswith("salespulse-import-")]


def test_a_live_imports_scratch_folder_is_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    base = workdir.base_dir()
    base.mkdir()
    mine = base / f"{os.getppid()}-abc"  # a running process (pytest's parent)
    dead = base / "999999999-abc"
    mine.mkdir()
    dead.mkdir()
    assert workdir.clean_stale() == [dead]
    assert mine.is_dir()


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("read_text('/etc/hostname')", "may not call read_text()"),
        ("(SELECT content FROM read_text('/etc/hostname'))", "only be an expression"),
        ("glob('/etc/*')", "may not call glob()"),
        ("x) FROM read_csv('/etc/passwd') --", "only be an expression"),
        ("getenv('HOME')", "may not call getenv()"),
        ("concat_ws(' ', (", "not a valid SQL expression"),
    ],
)
def test_mapping_sql_cannot_read_files(
    simple: Path, tmp_path: Path, expr: str, fragment: str
) -> None:
    simple.write_text(simple.read_text().replace('name = "name"', "name = " + _toml_table(expr)))
    with pytest.raises(UserError) as exc:
        run_import(simple, tmp_path / "x.duckdb")
    assert fragment in exc.value.message and "[sources.reps] name" in exc.value.message


def test_filters_are_checked_too(simple: Path, tmp_path: Path) -> None:
    text = simple.read_text().replace(
        '[sources.reps]\nfile = "reps.csv"',
        '[sources.reps]\nfile = "reps.csv"\n'
        "filter = \"id IN (SELECT content FROM read_text('/etc/hostname'))\"",
    )
    simple.write_text(text)
    with pytest.raises(UserError, match=r"\[sources.reps\] filter"):
        run_import(simple, tmp_path / "x.duckdb")


def test_staging_has_no_file_access_even_past_the_check(
    simple: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defense in depth: were the check fooled, the staging database cannot read files."""
    from salespulse.ingest import mapping

    monkeypatch.setattr(mapping, "check_sql", lambda *a: None)
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    expr = f"(SELECT content FROM read_text('{secret}'))"
    simple.write_text(simple.read_text().replace('name = "name"', "name = " + _toml_table(expr)))
    [p] = _problems(simple, tmp_path / "x.duckdb")
    assert "file system operations are disabled" in p.problem
    assert "TOPSECRET" not in str(p)


def _toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _toml_table(expr: str) -> str:
    return "{ sql = " + _toml_str(expr) + " }"
