"""What the pages show: KPIs placed on pages, the rep filter, drill-down links and lists,
the forecast's overdue deals, the engine's funnels, the reporting currency, Dutch terms."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from fastapi.testclient import TestClient

from salespulse.analytics.funnel import lead_funnel, stage_funnel
from salespulse.demo.patterns import PLANTED
from salespulse.semantic.query import Query, run
from salespulse.services.models import Layer
from salespulse.services.pages import PAGES
from salespulse.settings import Settings
from salespulse.warehouse.store import connect
from salespulse.web import charts
from salespulse.web.app import create_app
from tests.web.conftest import add_users, make_client

pytestmark = pytest.mark.xdist_group("web")


def fig(data: dict[str, Any], fid: str) -> dict[str, Any]:
    return next(f for f in data["figures"] if f["id"] == fid)


def table(data: dict[str, Any], tid: str) -> dict[str, Any]:
    return next(t for t in data["tables"] if t["id"] == tid)


def layer_kpis(data: dict[str, Any]) -> set[str]:
    kpis = {c["layer"]["kpi"] for c in data["cards"]}
    kpis |= {lay["kpi"] for f in data["figures"] for lay in f["layers"]}
    kpis |= {c["id"] for t in data["tables"] for c in t["columns"]}
    return kpis


def specs(html: str) -> dict[str, dict[str, Any]]:
    """The Plotly specs embedded in a page, by figure id."""
    found = re.findall(
        r'<script type="application/json" class="chart-spec" data-for="([^"]+)">(.*?)</script>',
        html,
        re.S,
    )
    return {fid: json.loads(body) for fid, body in found}


class Cells(HTMLParser):
    """Header and body cell texts of the tables inside one element (by id)."""

    def __init__(self, element_id: str):
        super().__init__()
        self.target, self.depth = element_id, 0
        self.headers: list[str] = []
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self._in_head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.depth:
            self.depth += 1
        elif dict(attrs).get("id") == self.target:
            self.depth = 1
        if not self.depth:
            return
        if tag == "thead":
            self._in_head = True
        elif tag == "tr" and not self._in_head:
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if not self.depth:
            return
        if tag in ("td", "th") and self._cell is not None:
            text = "".join(self._cell).strip()
            (self.headers if self._in_head else self.rows[-1]).append(text)
            self._cell = None
        elif tag == "thead":
            self._in_head = False
        self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def cells(html: str, element_id: str) -> Cells:
    p = Cells(element_id)
    p.feed(html)
    return p


# -- 1. KPIs that were on no page ------------------------------------------------------------
@pytest.mark.parametrize(
    ("page", "kpis"),
    [
        ("home", {"deal_velocity"}),
        (
            "pipeline",
            {
                "deal_velocity",
                "forecast",
                "skipped_stage_deals",
                "overdue_close_deals",
                "deals_without_amount",
                "deals_not_updated",
                "avg_lead_age",
            },
        ),
        ("activity", {"staff_retention", "ramp_time"}),
        (
            "performance",
            {"clv", "referrals", "sqls", "sql_owner_share", "sql_followup_share", "new_leads"},
        ),
        ("leaderboards", {"avg_lead_age", "referrals", "ramp_time", "staff_retention"}),
    ],
)
@pytest.mark.slow
def test_kpis_reach_a_page(client: TestClient, page: str, kpis: set[str]) -> None:
    data = client.get(f"/api/pages/{page}").json()
    assert kpis <= layer_kpis(data), kpis - layer_kpis(data)


def test_the_planted_stage_skipper_stands_out_on_the_pipeline_page(client: TestClient) -> None:
    data = client.get("/api/pages/pipeline").json()
    hygiene = fig(data, "hygiene")
    skips = next(x for x in hygiene["layers"] if x["kpi"] == "skipped_stage_deals")
    by_rep = {r["rep"]: r["value"] for r in skips["rows"]}
    skipper = PLANTED.stage_skipper_rep_id
    others = [v for rep, v in by_rep.items() if rep != skipper]
    assert by_rep[skipper] > 5 * max(others)
    # … beside the per-rep forecast, in the table
    t = table(data, "hygiene")
    assert [c["id"] for c in t["columns"]][:3] == ["rep_name", "forecast", "skipped_stage_deals"]
    assert t["rows"][0]["rep"] == skipper  # sorted by skipped deals
    assert t["rows"][0]["forecast"] is not None


@pytest.mark.slow
def test_channel_volume_beside_channel_conversion(client: TestClient) -> None:
    data = client.get("/api/pages/performance").json()
    t = table(data, "channels")
    ids = [c["id"] for c in t["columns"]]
    assert ids[:5] == ["channel", "new_leads", "sqls", "sql_owner_share", "sql_followup_share"]
    assert "lead_to_won_rate" in ids
    assert {r["channel"] for r in t["rows"]} >= {"trade_fair", "referral", "web_form"}
    order = [f["id"] for f in data["figures"]]
    assert order.index("conversion_channel") == order.index("leads_by_channel") + 1


# -- 2. the rep filter ------------------------------------------------------------------------
@pytest.mark.parametrize("page", [*PAGES])
@pytest.mark.slow
def test_rep_filter_is_honoured_by_every_kpi(client: TestClient, page: str) -> None:
    rep = PLANTED.stage_skipper_rep_id
    data = client.get(f"/api/pages/{page}?rep={rep}").json()
    assert data["filters"]["rep"] == rep
    layers = [c["layer"] for c in data["cards"]]
    layers += [lay for f in data["figures"] for lay in f["layers"]]
    for lay in layers:
        assert lay["query"].get("rep") == rep or "rep" in lay["ignored_filters"], lay["kpi"]
    html = client.get(f"{'/' if page == 'home' else '/' + page}?rep={rep}&lang=en").text
    assert re.search(rf'<option value="{rep}"\s+selected>', html)


@pytest.mark.slow
def test_rep_filter_changes_the_numbers(client: TestClient) -> None:
    rep = PLANTED.stage_skipper_rep_id
    base = client.get("/api/pages/pipeline").json()
    mine = client.get(f"/api/pages/pipeline?rep={rep}").json()
    value = lambda d, k: next(c for c in d["cards"] if c["id"] == k)["value"]  # noqa: E731
    assert 0 < value(mine, "open_deals") < value(base, "open_deals")
    reps = {r["rep"] for r in table(mine, "reps")["rows"]}
    assert reps == {rep}
    options = client.get("/api/filters").json()["rep"]
    assert {"value": rep, "label": "Noor van Dijk"} in options or rep in {
        o["value"] for o in options
    }
    # a KPI without a rep breakdown says so on its card
    act = client.get(f"/activity?rep={rep}&lang=en").text
    assert "not filtered by Rep" in act


# -- 3. a click on a bar opens its records ---------------------------------------------------
@pytest.mark.slow
def test_every_bar_links_to_its_records(client: TestClient) -> None:
    html = client.get("/pipeline?lang=en").text
    spec = specs(html)["pipeline_by_stage"]
    trace = spec["data"][0]
    assert len(trace["customdata"]) == len(trace["y"])
    url = trace["customdata"][0]
    q = parse_qs(urlparse(url).query)
    assert q["kpi"] == ["open_pipeline"] and q["rep"] and q["stage"]
    page = client.get(url)
    assert page.status_code == 200
    rec = cells(page.text, "records")
    rep_col = rec.headers.index("Rep")
    stage_col = rec.headers.index("Stage")
    assert rec.rows
    assert {row[rep_col] for row in rec.rows} == {trace["y"][0]}
    assert {row[stage_col] for row in rec.rows} == {trace["name"]}


@pytest.mark.slow
def test_a_period_bar_narrows_the_window(client: TestClient) -> None:
    data = client.get("/api/pages/home").json()
    won = Layer.model_validate(fig(data, "won_by_quarter")["layers"][0])
    row = won.rows[0]
    url = charts.drill_url(won, row, "en")
    assert url is not None
    q = parse_qs(urlparse(url).query)
    assert q["kpi"] == ["won_revenue"] and q["period"] == ["custom"]
    assert q["start"] == [row["period"]] and q["end"] == ["2026-03-31"]
    rec = cells(client.get(url).text, "records")
    closed = rec.headers.index("Closed")
    days = {datetime.strptime(r[closed], "%d %b %Y").date() for r in rec.rows}
    assert days and min(days) >= date(2026, 1, 1) and max(days) <= date(2026, 3, 31)


# -- 4. drill-down lists a manager reads ------------------------------------------------------
@pytest.mark.parametrize(
    ("kpi", "headers"),
    [
        ("won_deals", ["Deal", "Rep", "Account", "Stage", "Product", "Channel", "Amount"]),
        ("activities", ["Rep", "Account", "Type", "Direction", "Date"]),
        ("sqls", ["Company", "Rep", "Channel", "SQL on", "First contact"]),
    ],
)
@pytest.mark.slow
def test_drill_down_lists_show_names(client: TestClient, kpi: str, headers: list[str]) -> None:
    html = client.get(f"/explorer?kpi={kpi}&lang=en").text
    rec = cells(html, "records")
    assert set(headers) <= set(rec.headers), rec.headers
    assert not [h for h in rec.headers if h.endswith("_id") or "_" in h], rec.headers
    assert rec.rows
    # names, not ids
    for col in ("Rep", "Account"):
        if col in rec.headers:
            i = rec.headers.index(col)
            assert not any(re.fullmatch(r"[RC]\d{5,}", row[i]) for row in rec.rows)


@pytest.mark.slow
def test_alert_lists_show_names(client: TestClient) -> None:
    html = client.get("/alerts?lang=en").text
    rec = cells(html, "alert-stage_skipping")
    assert {"Deal", "Rep", "Stage", "Stages skipped"} <= set(rec.headers)
    assert "Noor van Dijk" in {row[rec.headers.index("Rep")] for row in rec.rows}


# -- 5. Dutch ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_dutch_terms_headers_and_dates(client: TestClient) -> None:
    nl = client.get("/explorer?kpi=activities&lang=nl").text
    rec = cells(nl, "records")
    assert {"Verkoper", "Klant", "Soort", "Richting", "Datum"} <= set(rec.headers)
    kinds = {row[rec.headers.index("Soort")] for row in rec.rows}
    assert kinds <= {"Telefoongesprek", "E-mail", "Afspraak", "Taak", "Notitie"}, kinds
    dates = {row[rec.headers.index("Datum")] for row in rec.rows}
    assert all(re.fullmatch(r"\d{2}-\d{2}-\d{4}( \d{2}:\d{2})?", d) for d in dates), dates
    perf = client.get("/performance?lang=nl").text
    assert "01-01-2026 – 29-06-2026" in perf  # the window line
    spec = specs(perf)["leads_by_channel"]
    assert {"Beurs", "Webformulier", "Doorverwijzing"} <= set(spec["data"][0]["x"])
    stages = specs(client.get("/stages?lang=nl").text)
    assert "Offerte<br>" in " ".join(stages["funnel"]["data"][0]["y"])
    mix = {t["name"] for t in specs(client.get("/activity?lang=nl").text)["activity_mix"]["data"]}
    assert "Telefoongesprek" in mix
    en = client.get("/performance?lang=en").text
    assert "Trade fair" in specs(en)["leads_by_channel"]["data"][0]["x"]


# -- 7. the home forecast, the funnels, the currency ----------------------------------------
def test_overdue_open_deals_are_shown_in_the_first_period(client: TestClient, demo_db: str) -> None:
    data = client.get("/api/pages/home").json()
    f = fig(data, "forecast")
    overdue = next(x for x in f["layers"] if x["style"] == "marker")
    forecast = next(x for x in f["layers"] if x["style"] == "line")
    as_of = data["window"]["as_of"]
    store = connect(demo_db)
    try:
        expected = run(store, Query.make("forecast", start=as_of, end=as_of, as_of=as_of)).frame
    finally:
        store.close()
    assert overdue["rows"][0]["value"] == pytest.approx(float(expected["value"].iloc[0]))
    assert overdue["rows"][0]["value"] > 0
    assert overdue["rows"][0]["period"] == forecast["rows"][0]["period"]  # the first period
    spec = specs(client.get("/?lang=en").text)["forecast"]
    bar = next(t for t in spec["data"] if t["name"] == "Overdue open deals (weighted)")
    assert bar["x"] == ["Jun 2026"] and bar["marker"]["color"] == charts.OVERDUE


@pytest.mark.slow
def test_funnels_are_the_engines_and_the_leak_agrees(client: TestClient, demo_db: str) -> None:
    data = client.get("/api/pages/stages").json()
    w = {k: date.fromisoformat(v) for k, v in data["window"].items()}
    store = connect(demo_db)
    try:
        sf = stage_funnel(store, w["start"], w["end"], w["as_of"], settings=Settings())
        lf = lead_funnel(store, w["start"], w["end"], w["as_of"], settings=Settings())
    finally:
        store.close()
    funnel = fig(data, "funnel")["layers"][0]["rows"]
    assert [r["value"] for r in funnel] == sf["entered"].tolist()
    assert [r["conversion"] for r in funnel] == pytest.approx(sf["conversion"].tolist())
    leak = sf.loc[sf["is_leak"], "stage_name"].item()
    assert [r["stage_name"] for r in funnel if r["is_leak"]] == [leak]
    conv = fig(data, "stage_conversion")
    assert conv["highlight"] == leak
    assert min(conv["layers"][0]["rows"], key=lambda r: r["value"])["stage_name"] == leak
    assert leak in fig(data, "funnel")["note_en"] and leak in conv["note_en"]
    lead = fig(data, "lead_funnel")["layers"][0]["rows"]
    assert [r["value"] for r in lead] == lf["count"].tolist()
    # drawn as computed: no percentages left for Plotly to invent, the leak in red
    html = client.get("/stages?lang=en").text
    for fid in ("funnel", "lead_funnel"):
        trace = specs(html)[fid]["data"][0]
        assert trace["textinfo"] == "text" and "percent" not in json.dumps(trace)
        leak_at = [r["is_leak"] for r in fig(data, fid)["layers"][0]["rows"]]
        assert [c == charts.LEAK for c in trace["marker"]["color"]] == leak_at
    bars = specs(html)["stage_conversion"]["data"][0]["marker"]["color"]
    assert bars.count(charts.LEAK) == 1


@pytest.mark.slow
def test_money_shows_the_reporting_currency(demo_db: str) -> None:
    app = create_app(demo_db, Settings(reporting_currency="USD"), warm=False)
    app.state.test_tokens = add_users(app)
    with make_client(app) as c:
        html = c.get("/?lang=en").text
        data = c.get("/api/pages/home").json()
    assert data["currency"] == "USD"
    card = re.search(r'id="card-won_revenue".*?<span class="value">([^<]+)</span>', html, re.S)
    assert card and card.group(1).startswith("$")
    assert "€" not in html
    assert '<span class="unit">USD</span>' in html and '<span class="unit">EUR</span>' not in html
    spec = specs(html)["won_by_quarter"]
    assert spec["layout"]["yaxis"]["tickprefix"] == "$"


@pytest.mark.slow
def test_drill_down_lists_the_counted_records_first(client: TestClient) -> None:
    rep = PLANTED.stage_skipper_rep_id
    html = client.get(f"/explorer?kpi=skipped_stage_deals&rep={rep}&lang=en").text
    rec = cells(html, "records")
    assert rec.headers[0] == "Counted in the figure"
    flags = [row[0] for row in rec.rows]
    counted = client.get(f"/api/kpis/skipped_stage_deals?rep={rep}").json()["rows"][0]["value"]
    assert flags == ["✓"] * int(counted) + ["·"] * (len(flags) - int(counted))


@pytest.mark.slow
def test_leaderboards_show_only_reps_on_staff_in_the_period(
    client: TestClient, demo_db: str
) -> None:
    data = client.get("/api/pages/leaderboards?period=qtd").json()
    start = data["window"]["start"]
    reps = {row["rep"] for row in table(data, "reps")["rows"]}
    store = connect(demo_db, create=False)
    try:
        r = store.table("reps").execute()
    finally:
        store.close()
    gone = set(r[r.left_on.notna() & (r.left_on.astype(str) < start)].rep_id)
    assert gone, "the demo data has reps who left before this quarter"
    assert reps and not reps & gone


@pytest.mark.slow
def test_explorer_compiles_its_sql_only_when_asked(app: Any, client: TestClient) -> None:
    """The explorer page does not compile the KPI's SQL: "How is this computed?" fetches
    it from the page's data-explain URL (the explain API, same KPI, breakdown, filters)."""

    def explained() -> list[Any]:
        return [k for k in list(app.state.service.cache._entries) if k[1][0] == "explain"]

    before = len(explained())
    html = client.get("/explorer?kpi=new_deals&grain=week&by=product&lang=en").text
    assert len(explained()) == before
    found = re.search(r'<details data-explain="([^"]+)"', html)
    assert found, "no data-explain URL on the explorer page"
    url = found.group(1).replace("&amp;", "&")
    assert url.startswith("/api/kpis/new_deals/explain?") and "by=week%2Cproduct" in url
    r = client.get(url)
    assert r.status_code == 200 and "SELECT" in r.json()["explain"].upper()
    assert len(explained()) == before + 1
