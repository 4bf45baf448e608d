"""As-of honesty (a later change never alters an earlier forecast), the backtest's JSON
shape, and what the forecast says without stage history."""

from __future__ import annotations

import json
import shutil
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from typer.testing import CliRunner, Result

from salespulse.cli.app import app, main
from salespulse.forecast import calibration, inputs, replay, run
from salespulse.semantic.query import context
from salespulse.settings import load_settings
from salespulse.warehouse.store import Store

T = date(2025, 11, 30)


def _forecast(store: Store) -> tuple[inputs.Inputs, pd.DataFrame]:
    ctx = context(store, as_of=T)
    inp = inputs.load(ctx)
    f = run.compute(ctx, inp, months=3, draws=500, seed=1)
    return inp, f.summary


@pytest.mark.slow
def test_a_later_change_never_alters_an_earlier_forecast(demo_copy: Store) -> None:
    before_inp, before = _forecast(demo_copy)
    before_replay = replay.Replay(demo_copy, load_settings()).load(T)
    deal = before_inp.open.iloc[0]
    later = datetime(2025, 12, 3, 10, 0)
    con = demo_copy.con
    # after T: the deal is won, its close date and amount change, and a new deal appears
    demo_copy.load(
        "deal_stage_history",
        pa.table({"deal_id": [deal.deal_id], "stage_id": ["won"], "entered_at": [later],
                  "changed_by_rep_id": [deal.rep_id]}),
    )  # fmt: skip
    demo_copy.load(
        "deal_field_history",
        pa.table({"deal_id": [deal.deal_id], "changed_at": [later], "amount": [1e9],
                  "currency": ["EUR"], "expected_close_on": [date(2025, 12, 3)],
                  "probability": [None], "changed_by_rep_id": [deal.rep_id]}),
    )  # fmt: skip
    con.raw_sql(
        "INSERT INTO deals (deal_id, owner_rep_id, pipeline_id, stage_id, product_id, amount,"
        " currency, created_at, expected_close_on) SELECT 'DLATE', owner_rep_id, pipeline_id,"
        " 'negotiation', product_id, 5e8, 'EUR', TIMESTAMP '2025-12-02 09:00',"
        f" DATE '2025-12-20' FROM deals WHERE deal_id = '{deal.deal_id}'"
    )
    after_inp, after = _forecast(demo_copy)
    pd.testing.assert_frame_equal(before_inp.open, after_inp.open)
    pd.testing.assert_frame_equal(before_inp.history, after_inp.history)
    pd.testing.assert_frame_equal(before, after)
    # the backtest's replay of the history (read after the change) is as honest
    rp = replay.Replay(demo_copy, load_settings())
    after_replay = rp.load(T)
    pd.testing.assert_frame_equal(before_replay.open, after_replay.open)
    pd.testing.assert_frame_equal(before_replay.history, after_replay.history)
    later_ids = set(rp.load(date(2025, 12, 5)).open["deal_id"])
    assert deal.deal_id not in later_ids and "DLATE" in later_ids
    # ... while a forecast after the change sees it
    now = inputs.load(context(demo_copy, as_of=date(2025, 12, 5))).open
    assert deal.deal_id not in set(now["deal_id"]) and "DLATE" in set(now["deal_id"])


@pytest.mark.slow
def test_replay_gives_the_semantic_models_rows(demo: Store) -> None:
    # the backtest's one-read replay of the history against the semantic model's SQL
    rp = replay.Replay(demo, load_settings())
    for d in (date(2024, 12, 31), date(2025, 3, 31), date(2026, 6, 30), date(2026, 11, 14)):
        a, b = rp.load(d), inputs.load(context(demo, as_of=d))
        assert len(a.open) > 100 and len(a.history) > 1000
        pd.testing.assert_frame_equal(a.open, b.open, check_dtype=False)
        pd.testing.assert_frame_equal(a.history, b.history, check_dtype=False)


def _cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


@pytest.mark.slow
def test_backtest_json_shape(demo_path: Path) -> None:
    # a short walk (as-of early in the history) keeps this quick
    r = _cli("forecast", "backtest", "--db", str(demo_path), "--as-of", "2025-04-30",
             "--draws", "300", "--format", "json")  # fmt: skip
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert isinstance(out["recommended"], str)
    methods = out["methods"]
    assert {m["method"] for m in methods} >= {"stage_default", "stage_learned"}
    for m in methods:
        assert m["horizon"] in ("month", "quarter")
        assert isinstance(m["wape"], float) and isinstance(m["bias"], float)
        assert m["coverage_p10_p90"] is None or 0.0 <= m["coverage_p10_p90"] <= 1.0
        assert isinstance(m["n_periods"], int) and m["n_periods"] >= 1
        # the calibration's adapted quantile level at the backtest's as-of
        assert 0.0 <= m["calibration_level"] <= 1.0
    assert out["recommended"] in {m["method"] for m in methods}
    assert {"as_of", "methods", "recommended", "periods"} <= set(out)


@pytest.mark.slow
def test_show_and_errors(demo_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = _cli("forecast", "show", "--db", str(demo_path), "--as-of", "2026-10-31",
             "--draws", "500", "--by", "team", "--format", "json")  # fmt: skip
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    rows = [x for x in out["rows"] if x["method"] == "learned_timing"]
    assert rows and all(x["p10"] <= x["p50"] <= x["p90"] for x in rows)
    assert {x["by"] for x in out["rows"]} == {"team"}
    code = main(["forecast", "show", "--db", str(demo_path), "--method", "crystal_ball"])
    assert code == 2
    assert "unknown forecast method" in capsys.readouterr().err


@pytest.mark.slow
def test_without_stage_history_no_range_is_invented(tmp_path: Path) -> None:
    from tests.datasets import MAVEN, REPO

    if not MAVEN.is_dir():
        pytest.skip("../shared/datasets not present")
    from salespulse.ingest import run_import

    db = tmp_path / "maven.duckdb"
    run_import(REPO / "examples" / "maven.toml", db, data_dir=MAVEN)
    r = _cli("forecast", "show", "--db", str(db), "--as-of", "2017-06-30", "--format", "json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["methods"] == ["stage_default"]
    assert "no stage history" in out["reason"]
    assert out["rows"] and all(x["p10"] is None and x["p90"] is None for x in out["rows"])
    b = _cli("forecast", "backtest", "--db", str(db), "--format", "json")
    out = json.loads(b.output)
    assert out["recommended"] is None and "no stage history" in out["reason"]


@pytest.mark.slow
def test_backtest_calibrates_each_period_from_windows_already_over(demo: Store) -> None:
    from salespulse.forecast import backtest

    as_of = date(2025, 9, 30)
    r = backtest.run(demo, load_settings(), as_of, methods=("learned_timing",), draws=300)
    first = pd.Timestamp(demo.table("deals").created_at.min().execute())
    lead = backtest.WARMUP_MONTHS - backtest.CALIBRATION_LEAD_MONTHS
    made = backtest.month_ends((first + pd.DateOffset(months=lead)).date(), as_of)
    scored = r.periods[r.periods["horizon"].isin(["month", "quarter"])]
    assert len(scored) >= 6 and scored["as_of"].min() > made[0]
    start: date = scored["as_of"].min()
    for row in scored.itertuples():
        months = backtest.HORIZONS[str(row.horizon)]
        t_row: date = row.as_of  # type: ignore[assignment]
        over = [t for t in made if run.month_periods(t, months)[-1].end <= t_row]
        # the lead's forecasts count only until the scored ones have a record of their own
        own = [t for t in over if t >= start]
        want = len(own) if len(own) >= calibration.MIN_PERIODS else len(over)
        assert row.calibration_n == want, row
        assert float(row.lo) <= float(row.p50) <= float(row.hi)  # type: ignore[arg-type]
        assert 0.0 <= float(row.calibration_level) <= 1.0  # type: ignore[arg-type]
    assert (scored["calibration_n"] >= 4).all()  # the lead gives every scored period a record
    # the adapted level: the scored rows' own feedback once the stopgaps are out of the
    # record, in the order the windows ended (a row over counts; one still running not)
    checked = 0
    for horizon, g in scored.groupby("horizon"):
        g = g.sort_values("as_of")
        before = g["calibration_level"].iloc[0]
        for i in range(len(g)):
            t_row = g["as_of"].iloc[i]
            fed = g[g["end"] <= t_row].sort_values(["end", "as_of"])
            hits = (fed["actual"] >= fed["lo"]) & (fed["actual"] <= fed["hi"])
            if fed.empty:
                assert g["calibration_level"].iloc[i] == before  # only the stopgaps' feedback
                continue
            # the level after the stopgaps' feedback, then each scored window as it ended
            a = 1 - before
            for e in (~hits).astype(float):
                a = min(max(a + calibration.GAMMA * (0.2 - e), 0.0), 1.0)
            assert g["calibration_level"].iloc[i] == pytest.approx(1 - a), (horizon, i)
            checked += 1
    assert checked >= 4 and scored["calibration_level"].nunique() > 1
    # the stopgaps are exposed: the lead's month ends only, unscored; with the scored rows
    # they are the whole record, so walking it forward again gives the same ranges
    stop = r.stopgaps
    assert not stop.empty and not stop["scored"].any()
    assert set(stop["as_of"]) == {t for t in made if t < start}
    for horizon, g in scored.groupby("horizon"):
        rec = pd.concat([stop[stop["horizon"] == horizon], g], ignore_index=True)
        again = calibration.walk_forward(rec.assign(provisional=~rec["scored"]))
        again = again[again["scored"]].set_index("as_of")
        mine = g.set_index("as_of")
        for col in ("lo", "hi", "calibration_n", "calibration_level"):
            assert np.allclose(again[col].to_numpy(float), mine[col].to_numpy(float)), col


@pytest.mark.slow
def test_backtest_save_calibrates_later_forecasts(demo_path: Path, tmp_path: Path) -> None:
    db = tmp_path / "calibrated.duckdb"
    shutil.copy(demo_path, db)
    r = _cli("forecast", "backtest", "--db", str(db), "--as-of", "2025-09-30", "--draws",
             "300", "--method", "learned_timing", "--save", "--format", "json")  # fmt: skip
    assert r.exit_code == 0, r.output
    # stdout only: a "waiting for another process" line (stderr) may precede the JSON when
    # the previous command's connection is still being released on a loaded machine
    scales = {m["horizon"]: m["calibration_scale"] for m in json.loads(r.stdout)["methods"]}
    for as_of, calibrated in (("2025-10-31", True), ("2025-08-31", False)):
        s = _cli("forecast", "show", "--db", str(db), "--as-of", as_of, "--method",
                 "learned_timing", "--draws", "300", "--format", "json")  # fmt: skip
        notes = " ".join(json.loads(s.stdout)["notes"])
        assert ("calibrated on the backtest as of 2025-09-30" in notes) is calibrated, notes
        if calibrated:
            assert f"month ×{scales['month']:.2f}" in notes
