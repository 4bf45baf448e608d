"""All-or-nothing (also when killed), newer exports update, history from snapshots."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime
from pathlib import Path

import pytest

from salespulse.ingest import run_import
from salespulse.warehouse.store import connect
from tests.ingest.conftest import DEALS_CSV, REPO


def _snapshot(db: Path) -> dict[str, object]:
    store = connect(db)
    out = {}
    for t in ("deals", "reps", "stages", "deal_stage_history", "import_log", "import_files"):
        tbl = store.con.table(t)
        out[t] = tbl.order_by(tbl.columns[0]).to_pyarrow()
    store.close()
    return out


@pytest.mark.slow
def test_killed_import_leaves_the_store_unchanged(simple: Path, tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    run_import(simple, db)
    before = _snapshot(db)
    # a newer export with many rows; the child pauses after writing the deals, then is killed
    rows = "".join(f"N{i},R1,Proposal,{i},2024-03-01,\n" for i in range(20000))
    (simple.parent / "deals.csv").write_text(DEALS_CSV.replace("Qualify", "Proposal") + rows)
    marker = tmp_path / "written"
    child = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from salespulse.ingest import load, importer
        real = load.write
        def slow_write(store, t, rows, **kw):
            real(store, t, rows, **kw)
            if t.name == "deals":
                Path({str(marker)!r}).write_text("x")
                time.sleep(60)
        load.write = slow_write
        importer.run_import({str(simple)!r}, {str(db)!r})
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", child], env=env)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, "the import ended before it was killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    after = _snapshot(db)
    for t, data in before.items():
        assert after[t].equals(data), t  # type: ignore[attr-defined]


@pytest.mark.slow
def test_failed_write_rolls_back_everything(simple: Path, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from salespulse.ingest import load

    db = tmp_path / "x.duckdb"
    run_import(simple, db)
    before = _snapshot(db)
    (simple.parent / "deals.csv").write_text(DEALS_CSV.replace("Qualify", "Proposal"))
    real = load.write

    def broken(store, t, rows, **kw):  # type: ignore[no-untyped-def]
        real(store, t, rows, **kw)
        if t.name == "deal_stage_history":
            raise RuntimeError("disk full")

    monkeypatch.setattr(load, "write", broken)
    with contextlib.suppress(RuntimeError):
        run_import(simple, db)
    after = _snapshot(db)
    for t, data in before.items():
        assert after[t].equals(data), t  # type: ignore[attr-defined]


@pytest.mark.slow
def test_newer_export_updates_changed_records_and_builds_history(
    simple: Path, tmp_path: Path
) -> None:
    db = tmp_path / "x.duckdb"
    first = run_import(simple, db, as_of=datetime(2024, 3, 1))
    assert first.counts["deals"].inserted == 3
    assert first.counts["deal_stage_history"].inserted == 0  # one snapshot: no history yet
    # a month later: D1 moved on, D2 was won (closed 2024-03-20), D4 is new
    newer = (
        "id,owner,stage,amount,created,closed\n"
        "D1,R1,Proposal,1000,2024-01-05,\n"
        "D2,R2,Closed Won,2600,2024-02-10,2024-03-20\n"
        "D3,R1,Closed Won,4000,2024-01-20,2024-03-01\n"
        "D4,R2,Qualify,700,2024-03-15,\n"
    )
    (simple.parent / "deals.csv").write_text(newer)
    second = run_import(simple, db, as_of=datetime(2024, 4, 1))
    c = second.counts["deals"]
    assert (c.inserted, c.updated, c.unchanged, c.rejected) == (1, 2, 1, 0)
    assert second.counts["deal_stage_history"].inserted == 2
    store = connect(db)
    deals = store.table("deals").order_by("deal_id").execute()
    assert deals["stage_id"].tolist() == ["proposal", "closed_won", "closed_won", "qualify"]
    assert deals["amount"].tolist()[1] == 2600
    hist = store.table("deal_stage_history").order_by("deal_id").execute()
    assert list(
        zip(
            hist["deal_id"],
            hist["stage_id"],
            hist["entered_at"].dt.strftime("%Y-%m-%d %H:%M:%S"),
            strict=True,
        )
    ) == [
        ("D1", "proposal", "2024-04-01 00:00:00"),  # seen at the snapshot
        ("D2", "closed_won", "2024-03-20 12:00:00"),  # closed: the close date (date-only)
    ]
    store.close()
    # the same newer export again: nothing changes
    third = run_import(simple, db, as_of=datetime(2024, 4, 2))
    assert third.totals()["inserted"] == 0 and third.totals()["updated"] == 0
    store = connect(db)
    assert store.counts()["deal_stage_history"] == 2
    assert store.con.table("import_log").count().execute() == 3
    store.close()


@pytest.mark.slow
def test_current_stage_is_recorded_only_when_the_mapping_says_so(
    simple: Path, tmp_path: Path
) -> None:
    simple.write_text(simple.read_text() + "\n[history]\ncurrent_stage = true\n")
    run_import(simple, tmp_path / "x.duckdb")
    store = connect(tmp_path / "x.duckdb")
    hist = store.table("deal_stage_history").order_by("deal_id").execute()
    assert hist["stage_id"].tolist() == ["qualify", "proposal", "closed_won"]
    assert hist["entered_at"].dt.strftime("%Y-%m-%d %H:%M:%S").tolist() == [
        "2024-01-05 12:00:00",  # open: created (a date-only value is noon UTC)
        "2024-02-10 12:00:00",
        "2024-03-01 12:00:00",  # closed: closed_at
    ]
    store.close()
