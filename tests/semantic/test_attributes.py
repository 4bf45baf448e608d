"""Custom attributes as breakdowns and filters (``deal.contract_type``, ``lead.lead_type``,
``account.segment``), on the runnable lookups example (3 leads, 3 deals, 3 accounts).

The example's data, worked by hand:

| deal | lead (lead_type, landing_page) | account (segment) | contract_type | amount | state |
|---|---|---|---|---|---|
| N1 | L1 (inbound, /pricing) | A1 (SMB) | monthly | 4,500 | open |
| N2 | L2 (partner, empty) | A2 (Enterprise) | annual | 38,000 | won 2024-04-12 |
| N3 | L3 (inbound, /demo) | A3 (SMB) | monthly | 1,200 | lost 2024-04-18 |
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import salespulse
from salespulse.errors import UserError
from salespulse.ingest import run_import
from salespulse.semantic.query import Query, records, run
from salespulse.warehouse.store import Store, connect

EXAMPLE = Path(__file__).parents[2] / "examples" / "lookups" / "mapping.toml"
AFTER = "2024-05-01"  # every deal closed or not by then


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("attrs") / "lookups.duckdb"
    run_import(EXAMPLE, path)  # its [settings]: reporting_currency = "BRL"
    return path


@pytest.fixture
def store(db: Path) -> Iterator[Store]:
    s = connect(db, create=False)
    yield s
    s.close()


def _values(store: Store, kpi: str, by: str, **kw: object) -> dict[object, float]:
    r = run(store, Query.make(kpi, by=by, start="2024-01-01", **kw))  # type: ignore[arg-type]
    assert r.available, r.reason
    return {
        None if pd.isna(k) else k: v for k, v in zip(r.frame[by], r.frame["value"], strict=True)
    }


@pytest.mark.slow
def test_breakdowns_by_each_records_attributes(store: Store) -> None:
    assert _values(store, "new_leads", "lead.lead_type") == {"inbound": 2, "partner": 1}
    # a lead exported with an empty landing page is in the empty group
    assert _values(store, "new_leads", "lead.landing_page") == {"/demo": 1, "/pricing": 1, None: 1}
    # deals by their own attribute, by their lead's and by their account's
    assert _values(store, "open_pipeline", "deal.contract_type", as_of="2024-03-31") == {
        "annual": 38000.0,
        "monthly": 5700.0,
    }
    assert _values(store, "won_revenue", "account.segment", as_of=AFTER) == {"Enterprise": 38000.0}
    win = run(store, Query.make("win_rate", by="lead.lead_type", start="2024-01-01", as_of=AFTER))
    got = {r["lead.lead_type"]: (r["numerator"], r["denominator"]) for _, r in win.frame.iterrows()}
    assert got == {"inbound": (0.0, 1.0), "partner": (1.0, 1.0)}


@pytest.mark.slow
def test_filters_and_their_records(store: Store) -> None:
    q = Query.make("new_leads", start="2024-01-01", where={"lead.lead_type": "inbound"})
    assert run(store, q).frame["value"].tolist() == [2]
    rec = records(store, q)
    assert sorted(rec["lead_id"]) == ["L1", "L3"]
    assert set(rec["lead.lead_type"]) == {"inbound"}  # the column is named as mapped
    q = Query.make(
        "open_pipeline",
        as_of="2024-03-31",
        where={"account.segment": "SMB", "lead.lead_type": "inbound"},
    )
    assert run(store, q).frame["value"].tolist() == [5700.0]  # N1 and N3


def test_mistakes_say_what_exists(store: Store) -> None:
    with pytest.raises(UserError, match=r"no custom attribute 'lead\.type'") as e:
        run(store, Query.make("new_leads", by="lead.type"))
    assert "lead.lead_type" in str(e.value.hint)
    with pytest.raises(UserError, match=r"no lead\.lead_type 'inbund'") as e:
        run(store, Query.make("new_leads", where={"lead.lead_type": "inbund"}))
    assert "inbound" in str(e.value.hint)
    with pytest.raises(UserError, match="not linked to deals"):
        run(store, Query.make("new_leads", by="deal.contract_type"))
    with pytest.raises(UserError, match="computed from other KPIs or per period"):
        run(store, Query.make("quota_attainment", by="deal.contract_type"))
    with pytest.raises(UserError, match="cannot be broken down by 'dealcontract_type'"):
        run(store, Query.make("won_deals", by="dealcontract_type"))


@pytest.mark.slow
def test_cli_and_python_api(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from salespulse.cli.app import main

    code = main(
        ["kpi", "show", "new_leads", "--by", "lead.lead_type", "--format", "csv", "--db", str(db)]
    )
    assert code == 0
    assert capsys.readouterr().out.splitlines() == [
        "lead.lead_type,value",
        "inbound,2.0",
        "partner,1.0",
    ]
    assert main(["kpi", "show", "new_leads", "--by", "lead.nope", "--db", str(db)]) == 2
    sp = salespulse.open(db)
    try:
        frame = sp.kpi("won_deals", by="deal.contract_type", as_of=AFTER, start="2024-01-01")
    finally:
        sp.close()
    assert dict(zip(frame["deal.contract_type"], frame["value"], strict=True)) == {"annual": 1}
