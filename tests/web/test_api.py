"""Every JSON endpoint: status, shape, and agreement with the semantic layer."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient

from salespulse.semantic.query import Query, run
from salespulse.services.pages import PAGES
from salespulse.warehouse.store import connect

pytestmark = pytest.mark.xdist_group("web")


@pytest.mark.parametrize("name", [*PAGES, "alerts"])
@pytest.mark.slow
def test_page_data(client: TestClient, name: str) -> None:
    r = client.get(f"/api/pages/{name}")
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["page"] == name
    assert data["window"]["as_of"] == "2026-06-29"  # the last day with data
    if name == "alerts":
        alerts = {a["kind"]: a for a in data["alerts"]}
        assert set(alerts) >= {"unassigned_leads", "stale_deals", "slow_responders"}
        # a look-back alert says which days it covers; a state alert has no window
        assert (alerts["sla_breaches"]["start"], alerts["sla_breaches"]["end"]) == (
            "2026-04-01",
            "2026-06-29",
        )
        assert alerts["stale_deals"]["start"] is None
        return
    assert data["figures"]
    failed = [
        (f["id"], layer["kpi"], layer["reason"])
        for f in data["figures"]
        for layer in f["layers"]
        if layer["reason"] and "could not be computed" in layer["reason"]
    ]
    assert not failed, failed


@pytest.mark.slow
def test_page_figures_match_the_semantic_layer(client: TestClient, demo_db: str) -> None:
    data = client.get("/api/pages/performance").json()
    fig = next(f for f in data["figures"] if f["id"] == "won_by_region")
    layer = fig["layers"][0]
    assert layer["query"]["kpi"] == "won_revenue"
    store = connect(demo_db)
    try:
        q = Query.make(
            "won_revenue",
            by="region",
            start=layer["query"]["start"],
            end=layer["query"]["end"],
            as_of=layer["query"]["as_of"],
        )
        expected = run(store, q).frame
    finally:
        store.close()
    got = {row["region"]: row["value"] for row in layer["rows"]}
    assert got == pytest.approx(dict(zip(expected["region"], expected["value"], strict=True)))


@pytest.mark.slow
def test_filters_change_the_figures(client: TestClient) -> None:
    options = client.get("/api/filters").json()
    team = options["team"][0]["value"]
    base = client.get("/api/pages/home").json()
    filtered = client.get(f"/api/pages/home?team={team}").json()
    card = lambda d: next(c for c in d["cards"] if c["id"] == "won_deals")["value"]  # noqa: E731
    assert card(filtered) < card(base)
    last = client.get("/api/pages/home?period=last_fy").json()
    assert last["window"]["end"] < base["window"]["start"]


@pytest.mark.slow
def test_filter_not_applicable_is_reported(client: TestClient) -> None:
    options = client.get("/api/filters").json()
    product = options["product"][0]["value"]
    data = client.get(f"/api/pages/activity?product={product}").json()
    calls = next(f for f in data["figures"] if f["id"] == "calls_emails")
    assert calls["layers"][0]["ignored_filters"] == ["product"]


def test_filter_options(client: TestClient) -> None:
    data = client.get("/api/filters").json()
    assert data["team"] and data["region"] and data["product"] and data["channel"]
    assert data["data_day"] == "2026-06-29"


@pytest.mark.slow
def test_kpi_catalogue_and_result(client: TestClient) -> None:
    kpis = client.get("/api/kpis").json()
    assert {"won_revenue", "stage_conversion", "first_response_hours"} <= {k["id"] for k in kpis}
    r = client.get("/api/kpis/win_rate?by=rep&period=12m")
    assert r.status_code == 200
    rows = r.json()["rows"]
    assert rows and {"rep", "rep_name", "value", "numerator", "denominator"} <= set(rows[0])


def test_kpi_errors_are_4xx(client: TestClient) -> None:
    assert client.get("/api/kpis/nope").status_code == 404
    assert client.get("/api/kpis/won_revenue?by=stage").status_code == 400
    assert client.get("/api/pages/home?period=forever").status_code == 422
    assert client.get("/api/pages/home?start=2026-13-01").status_code == 422


@pytest.mark.slow
def test_kpi_csv(client: TestClient) -> None:
    r = client.get("/api/kpis/won_revenue/csv?by=month")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows and "value" in rows[0] and "period" in rows[0]


def test_records_json_and_csv(client: TestClient) -> None:
    r = client.get("/api/kpis/won_deals/records?limit=5")
    assert r.status_code == 200
    body = r.json()
    assert len(body["rows"]) == 5 and "deal_id" in body["columns"]
    r = client.get("/api/kpis/won_deals/records/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    won = client.get("/api/kpis/won_deals").json()["rows"][0]["value"]
    assert len(rows) == won


def test_explain(client: TestClient) -> None:
    r = client.get("/api/kpis/win_rate/explain?by=quarter")
    assert r.status_code == 200
    assert "SELECT" in r.json()["explain"].upper()


def test_health_and_openapi(client: TestClient) -> None:
    assert client.get("/api/health").json()["status"] == "ok"
    paths = client.get("/openapi.json").json()["paths"]
    for name in [*PAGES, "alerts"]:
        assert f"/api/pages/{name}" in paths


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/pipeline",
        "/activity",
        "/performance",
        "/stages",
        "/leaderboards",
        "/alerts",
        "/explorer",
    ],
)
@pytest.mark.parametrize("lang", ["en", "nl"])
@pytest.mark.slow
def test_html_pages(client: TestClient, path: str, lang: str) -> None:
    r = client.get(f"{path}?lang={lang}")
    assert r.status_code == 200
    assert f'<html lang="{lang}">' in r.text
    assert "/static/plotly/plotly.min.js" in r.text
    assert "cdn" not in r.text.lower()


@pytest.mark.slow
def test_language_from_accept_language(client: TestClient) -> None:
    r = client.get("/pipeline", headers={"Accept-Language": "nl-NL,nl;q=0.9,en;q=0.8"})
    assert '<html lang="nl">' in r.text and "Pijplijn" in r.text
    r = client.get("/pipeline?lang=en", headers={"Accept-Language": "nl-NL"})
    assert '<html lang="en">' in r.text


@pytest.mark.slow
def test_number_formats_follow_the_language(client: TestClient) -> None:
    en = client.get("/?lang=en").text
    nl = client.get("/?lang=nl").text
    assert "€" in en and "€ " in nl
    assert "days" in en and "dagen" in nl


def test_plotly_served_locally(client: TestClient) -> None:
    r = client.get("/static/plotly/plotly.min.js")
    assert r.status_code == 200 and len(r.content) > 1_000_000


def test_explorer_unknown_kpi(client: TestClient) -> None:
    r = client.get("/explorer?kpi=nope")
    assert r.status_code == 400


@pytest.mark.slow
def test_every_kpi_has_an_explorer_page_and_an_explanation(client: TestClient) -> None:
    """Derived and period KPIs included: one compile path serves them all."""
    ids = [k["id"] for k in client.get("/api/kpis").json()]
    for kpi_id in ids:
        r = client.get(f"/explorer?kpi={kpi_id}")
        assert r.status_code == 200, (kpi_id, r.status_code)
        e = client.get(f"/api/kpis/{kpi_id}/explain")
        assert e.status_code == 200 and "SELECT" in e.json()["explain"].upper(), kpi_id
