"""Custom attributes in the web app: the explorer breaks down by them, a click on a bar
pins the value, pages and the API filter by them (the demo data's ``deal.contract_type``
and ``lead.landing_page``)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest
from fastapi.testclient import TestClient

from tests.web.test_content import specs

pytestmark = pytest.mark.xdist_group("web")


def test_filters_offer_the_attributes(client: TestClient) -> None:
    assert {"deal.contract_type", "lead.landing_page"} <= set(
        client.get("/api/filters").json()["attributes"]
    )


@pytest.mark.slow
def test_explorer_breakdown_and_drill_down(client: TestClient) -> None:
    html = client.get("/explorer?kpi=won_deals&by=deal.contract_type&grain=&lang=en").text
    assert 'value="deal.contract_type" selected' in html
    trace = specs(html)["explorer"]["data"][0]
    assert set(trace["x"]) == {"purchase", "lease", "rental"}
    url = trace["customdata"][trace["x"].index("lease")]
    assert parse_qs(urlparse(url).query)["deal.contract_type"] == ["lease"]
    page = client.get(url).text
    assert 'data-dim="deal.contract_type"' in page  # the pinned value is shown
    # the records behind the bar: all leases, as many as the bar says
    q = urlparse(url).query
    rows = client.get(f"/api/kpis/won_deals/records?{q}&limit=5000").json()["rows"]
    assert rows and {r["deal.contract_type"] for r in rows} == {"lease"}
    assert len(rows) == trace["y"][trace["x"].index("lease")]


@pytest.mark.slow
def test_a_page_filtered_by_an_attribute(client: TestClient) -> None:
    base = client.get("/api/pages/home").json()
    lease = client.get("/api/pages/home?deal.contract_type=lease").json()
    card = lambda d, k: next(c for c in d["cards"] if c["id"] == k)  # noqa: E731
    assert 0 < card(lease, "won_deals")["value"] < card(base, "won_deals")["value"]
    assert card(lease, "won_deals")["layer"]["ignored_filters"] == []
    # a lead KPI cannot be filtered by a deal's attribute: its card says so
    leads = [c for c in lease["cards"] if "deal.contract_type" in c["layer"]["ignored_filters"]]
    assert leads and all(c["value"] == card(base, c["id"])["value"] for c in leads)
    html = client.get("/?deal.contract_type=lease&lang=en").text
    assert re.search(r"not filtered by [^<]*deal\.contract_type", html)
