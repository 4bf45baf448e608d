"""The Forecast page (en, nl), the HTTP API, the Python API and the category rule."""

from __future__ import annotations

import re
import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

import salespulse
from salespulse.errors import UserError
from salespulse.forecast import categories
from salespulse.warehouse.store import Store
from salespulse.web.app import create_app
from tests.web.conftest import add_users, make_client


def test_category_rule() -> None:
    deals = pd.DataFrame(
        {
            "p_win": [0.9, 0.9, 0.5, 0.2, 0.05, 0.9, 0.9],
            "amount_eur": [1.0, 1.0, 1.0, 1.0, 1.0, None, 1.0],
            "expected_close_on": [date(2026, 12, 1), date(2026, 11, 1), date(2026, 12, 1),
                                  date(2026, 12, 1), date(2026, 12, 1), date(2026, 12, 1),
                                  date(2027, 1, 5)],
        }
    )  # fmt: skip
    got = categories.rule(deals, as_of=date(2026, 11, 14), period_end=date(2026, 12, 31))
    # commit; overdue → best case at most; best case; pipeline; too unlikely; no amount; later
    assert got.tolist() == [
        "commit", "best_case", "best_case", "pipeline", "omitted", "omitted", "omitted"
    ]  # fmt: skip


@pytest.mark.slow
def test_overrides_are_stored_with_who_and_when(demo_copy: Store) -> None:
    deal = demo_copy.table("deals").limit(1).execute().iloc[0]
    categories.set_category(demo_copy, deal.deal_id, "commit", "R00001", note="PO promised")
    categories.set_adjustment(demo_copy, deal.owner_rep_id, date(2026, 10, 1), 12345.0, "R00001")
    rows = demo_copy.con.table("forecast_overrides").execute()
    assert set(rows["kind"]) == {"category", "adjustment"}
    assert rows["set_by"].eq("R00001").all() and rows["set_at"].notna().all()
    adj = categories.adjustments(demo_copy, date(2026, 10, 1))
    assert adj.loc[deal.owner_rep_id, "amount"] == 12345.0
    with pytest.raises(UserError, match="unknown forecast category"):
        categories.set_category(demo_copy, deal.deal_id, "sure thing", "R00001")
    with pytest.raises(UserError, match="no deal"):
        categories.set_category(demo_copy, "NOPE", "commit", "R00001")


@pytest.mark.slow
def test_forecast_page_and_api(demo_path: Path) -> None:
    app = create_app(demo_path, warm=False)
    app.state.test_tokens = add_users(app)
    client = make_client(app)
    for lang, word in (("en", "Forecast"), ("nl", "Prognose")):
        r = client.get(f"/forecast?lang={lang}&as_of=2026-11-14")
        assert r.status_code == 200
        assert word in r.text and 'data-chart="forecast-fan"' in r.text
        assert 'id="forecast-reps"' in r.text and 'id="forecast-accuracy"' in r.text
        # no backtest was saved: the page says the range is not calibrated
        assert 'data-calibrated="no"' in r.text
        assert ("Not calibrated" if lang == "en" else "Niet gekalibreerd") in r.text
    page = client.get("/api/forecast/page?as_of=2026-11-14").json()
    s = page["summary"]
    assert s["p10"] <= s["p50"] <= s["p90"] and s["won_to_date"] > 0
    assert page["reps"] and {"commit", "best_case", "overdue"} <= set(page["reps"][0])
    bad = client.get("/api/forecast/show?method=bogus")
    assert bad.status_code == 400 and "unknown forecast method" in bad.json()["detail"]
    ch = client.get("/api/forecast/changes?since=2026-10-01&as_of=2026-11-14").json()
    flows = sum(x["amount"] for x in ch["steps"])
    assert ch["start"] + flows == pytest.approx(ch["end"], abs=0.005)
    # one forecast computed, shown by each breakdown in turn (the kept one is not narrowed)
    show = "/api/forecast/show?as_of=2026-11-14&method=stage_default&draws=200"
    for by in ("rep", "team", "rep", "total"):
        rows = client.get(f"{show}&by={by}").json()["rows"]
        assert rows and {r["by"] for r in rows} == {by}


@pytest.mark.slow
def test_python_api(demo_path: Path) -> None:
    with salespulse.open(demo_path) as sp:
        f = sp.forecast("stage_learned", as_of="2026-06-30", months=3, draws=200)
        assert f.methods == ("stage_learned",) and not f.summary.empty
        ch = sp.pipeline_changes("2026-04-01", as_of="2026-06-30")
        w = ch.waterfall()
        assert w["amount"].iloc[0] + w["amount"].iloc[1:-1].sum() == pytest.approx(
            w["amount"].iloc[-1], abs=0.005
        )


@pytest.mark.slow
def test_python_backtest_save_calibrates_later_forecasts_and_the_page(
    demo_path: Path, tmp_path: Path
) -> None:
    path = tmp_path / "copy.duckdb"
    shutil.copy(demo_path, path)
    day = date(2026, 10, 31)
    with salespulse.open(path) as sp:
        sp.forecast_backtest(as_of=day)  # without save: nothing stored
        assert sp.store.con.table("forecast_calibrations").count().execute() == 0
        r = sp.forecast_backtest(as_of=day, save=True)
        rows = sp.store.con.table("forecast_calibrations").execute()
        assert len(rows) == len(r.methods) == 8
        got = rows.merge(r.methods, on=["method", "horizon"])
        assert (pd.to_datetime(got["as_of"]).dt.date == day).all()
        assert got["scale"].tolist() == got["calibration_scale"].tolist()
        assert got["n_periods_x"].tolist() == got["calibration_n"].tolist()
        assert got["coverage"].tolist() == got["coverage_p10_p90"].tolist()
        assert got["coverage_n"].tolist() == got["n_periods_y"].tolist()
        f = sp.forecast("learned_timing", as_of="2026-11-14", months=3, draws=200)
        q = f.calibration["learned_timing"]["quarter"]
        want = r.methods.set_index(["method", "horizon"]).loc[("learned_timing", "quarter")]
        assert q["as_of"] == day.isoformat() and q["calibrated"]
        assert (q["n_periods"], q["coverage"]) == (want["calibration_n"], want["coverage_p10_p90"])
    app = create_app(path, warm=False)
    app.state.test_tokens = add_users(app)
    client = make_client(app)
    for lang, words in (("en", "past quarters"), ("nl", "afgelopen kwartalen")):
        text = client.get(f"/forecast?lang={lang}&as_of=2026-11-14").text
        m = re.search(r'<div class="note" id="forecast-calibration".*?</div>', text, re.S)
        assert m, text
        section = m.group(0)
        assert 'data-calibrated="yes"' in section and words in section
        assert f"{int(q['n_periods'])} {words}" in section
        assert f"{int(q['coverage_n'])} " in section
    # the same in the page's JSON
    page = client.get("/api/forecast/page?as_of=2026-11-14").json()
    assert page["calibration"]["calibrated"] and page["calibration"]["quarter"] == q
    # a date before the stored calibration may not use it
    early = client.get("/api/forecast/page?as_of=2026-10-30").json()
    assert early["calibration"] == {"calibrated": False, "as_of": None, "month": None,
                                    "quarter": None}  # fmt: skip
