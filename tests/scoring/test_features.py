"""Features as known on the as-of date, on the hand-made tiny data set (tests/semantic/tiny.py)."""

from __future__ import annotations

from datetime import date

import pytest

from salespulse.cli.app import main
from salespulse.scoring import features as F
from salespulse.semantic.query import context
from salespulse.warehouse.store import Store
from tests.semantic import tiny


def _deals(store: Store, as_of: date) -> dict[str, dict[str, object]]:
    f = F.open_deals(context(tiny.load(store), as_of=as_of)).execute()
    return {str(r["deal_id"]): r for r in f.to_dict(orient="records")}


@pytest.mark.slow
def test_deal_features_are_as_known_on_the_date(duckdb_store: Store) -> None:
    d = _deals(duckdb_store, date(2024, 3, 4))
    # D4 was won on 10 March: still open on the 4th, in its first stage
    assert set(d) == {"D1", "D2", "D3", "D4", "D5"}
    d1 = d["D1"]
    assert d1["stage_id"] == "S3" and d1["stage_changes"] == 2
    # entered S3 on 1 March 09:00 UTC; the 4th ends at 23:00 UTC (Amsterdam, winter)
    assert d1["days_in_stage"] == pytest.approx(3 + 14 / 24)
    # the meeting of 5 March and the e-mail of 20 March are not known yet
    assert d1["meetings_held"] == 0 and d1["emails"] == 0
    assert d["D2"]["moves_back"] == 1  # S2 -> S1 on 1 March
    assert d["D3"]["stages_skipped"] == 1  # S1 -> S3 without the required S2
    assert d["D1"]["stages_skipped"] == 0
    later = _deals(duckdb_store, date(2024, 3, 6))
    assert later["D1"]["meetings_held"] == 1


@pytest.mark.slow
def test_a_deal_without_stage_history_has_no_known_stage(duckdb_store: Store) -> None:
    store = tiny.load(duckdb_store)
    with store.transaction():  # a write as imports make them (derived tables follow)
        store.con.raw_sql("DELETE FROM deal_stage_history WHERE deal_id = 'D4'")
    f = F.open_deals(context(store, as_of=date(2024, 3, 4))).execute().set_index("deal_id")
    # its current stage column says WON: that must not leak into the features
    assert f.loc["D4", "stage_id"] == F.NOT_KNOWN
    assert f.loc["D4", "stage_order"] != f.loc["D4", "stage_order"]  # NaN


@pytest.mark.slow
def test_train_on_too_little_data_says_so_and_exits_2(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    db = str(tmp_path / "empty.duckdb")
    assert main(["score", "train", "--db", db, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "too few closed" in err and "no model trained" in err
    assert main(["score", "show", "--db", db]) == 2
    assert "score train" in capsys.readouterr().err
