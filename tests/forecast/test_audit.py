"""Forecast overrides from the command line land in the audit log (who, what, when)."""

from __future__ import annotations

import shutil
from pathlib import Path

from salespulse.auth import audit
from salespulse.cli.app import main
from salespulse.warehouse.store import connect


def test_category_and_adjustment_are_audited(demo_path: Path, tmp_path: Path) -> None:
    db = tmp_path / "copy.duckdb"
    shutil.copy(demo_path, db)
    store = connect(db, create=False)
    open_deal = store.table("deals").filter(lambda t: t.closed_at.isnull()).limit(1).execute()
    store.close()
    deal, rep = open_deal.deal_id[0], open_deal.owner_rep_id[0]
    assert main(["forecast", "category", deal, "commit", "--by", "R00001", "--db", str(db)]) == 0
    period = ["--period", "2026-07-01"]
    assert (
        main(["forecast", "adjust", rep, "125000", "--by", "R00001", *period, "--db", str(db)]) == 0
    )
    store = connect(db, create=False)
    try:
        got = {e["event"]: e for e in audit.entries(store, 10, event="forecast.")}
    finally:
        store.close()
    assert got["forecast.category"]["subject"] == deal
    assert got["forecast.category"]["actor"] == "R00001"
    assert '"value": "commit"' in got["forecast.category"]["detail"]
    assert got["forecast.adjust"]["subject"] == rep
    assert '"amount": 125000.0' in got["forecast.adjust"]["detail"]
    assert '"period": "2026-07-01"' in got["forecast.adjust"]["detail"]
