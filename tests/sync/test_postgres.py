"""The HubSpot sync on a real PostgreSQL server: upserts, deletions and a rolled-back crash."""

from __future__ import annotations

from datetime import timedelta

import pytest

from salespulse.errors import UserError
from salespulse.sync import hubspot
from salespulse.warehouse.store import check_keys, connect
from tests.sync.conftest import Sleeps
from tests.sync.fake_hubspot import BASE, T0, iso, portal


@pytest.mark.postgres
@pytest.mark.slow
def test_hubspot_sync_on_postgres(pg_url: str) -> None:
    hs = portal()

    def sync() -> hubspot.loader.SyncResult:
        return hubspot.sync(
            pg_url, token=hs.token, base_url=BASE, transport=hs.transport, sleep=Sleeps()
        )

    assert sync().counts["deals"]["inserted"] == 4
    assert not sync().written
    hs.archive("deals", "302", T0 + timedelta(days=2))
    hs.archive("contacts", "202", T0 + timedelta(days=2))
    assert sync().deleted == {"leads": 1, "deals": 1}
    at = T0 + timedelta(days=3)
    hs.objects["deals"]["304"]["properties"].update(amount="1", hs_lastmodifieddate=iso(at))
    hs.drop_after = len(hs.calls) + 10
    with pytest.raises(UserError):
        sync()
    store = connect(pg_url)
    try:
        assert check_keys(store) == []
        deals = store.con.table("deals").to_pyarrow().to_pylist()
        assert {d["deal_id"]: d["amount"] for d in deals} == {
            "301": 10_000.0,
            "303": 2_500.0,
            "304": 7_000.0,
        }
        acts = store.con.table("activities").to_pyarrow().to_pylist()
        assert next(a for a in acts if a["activity_id"] == "702")["lead_id"] is None
        assert store.con.table("import_log").count().execute() == 2
    finally:
        store.close()
