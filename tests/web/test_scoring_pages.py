"""The Scoring and My day pages: render without a model, and (slow) with trained models on a
demo company whose names are attacks — inert, in Dutch and English, scoped to the rep."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI

from salespulse.cli.app import main
from salespulse.settings import Settings
from tests.web.conftest import USERS, add_users, make_client
from tests.web.hostile import make_hostile

pytestmark = pytest.mark.xdist_group("web")


@pytest.mark.slow
def test_pages_say_no_model_yet(demo_db: str) -> None:
    from salespulse.web.app import create_app

    app = create_app(demo_db, Settings(), warm=False)  # its own app: no model stored
    app.state.test_tokens = add_users(app)
    client = make_client(app, "admin")
    r = client.get("/scoring?lang=nl")
    assert r.status_code == 200
    assert "Er is nog geen model getraind" in r.text
    assert client.get("/api/scoring").json()["cards"] == {"deal_won": None, "lead_won": None}
    r = client.get("/my-day?lang=en")
    assert r.status_code == 200 and "My day" in r.text
    # a manager picks a rep: looked up in the served (read-only, shared) database
    assert client.get("/api/my-day?rep=R00002").status_code == 200
    r = client.get("/api/my-day?rep=R99999")
    assert r.status_code == 400 and "R99999" in r.json()["detail"]


@pytest.fixture(scope="module")
def trained_app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    from salespulse.web.app import create_app

    path = tmp_path_factory.mktemp("scoring") / "hostile.duckdb"
    make_hostile(Path(path))
    assert main(["score", "train", "--db", str(path), "--quiet"]) == 0
    app = create_app(path, Settings(), warm=False)
    app.state.test_tokens = add_users(app)
    return app


@pytest.mark.slow
def test_scoring_page_shows_the_model_card_and_escapes_names(trained_app: FastAPI) -> None:
    c = make_client(trained_app, "admin")
    for lang, words in (("en", "Model card"), ("nl", "Modelkaart")):
        r = c.get(f"/scoring?lang={lang}")
        assert r.status_code == 200
        assert words in r.text and "AUC" in r.text and "naive_bayes" in r.text
        assert 'data-for="reliability-deal_won"' in r.text
        assert "<svg onload=alert(3)>" not in r.text and "<script>alert(1)" not in r.text
        assert "&lt;svg onload=alert(3)&gt;" in r.text
    data = c.get("/api/scoring").json()
    assert data["deals"] and all(0 <= d["p_win"] <= 1 and d["reasons"] for d in data["deals"])


@pytest.mark.slow
def test_a_rep_sees_only_their_own_deals_and_day(trained_app: FastAPI) -> None:
    rep_id = USERS["rep"][3]
    c = make_client(trained_app, "rep")
    data = c.get("/api/scoring").json()
    assert data["deals"] and {d["rep_id"] for d in data["deals"]} == {rep_id}
    assert {ld["rep_id"] for ld in data["leads"]} <= {rep_id}
    day = c.get("/api/my-day?rep=R00002").json()  # asking for another rep: still their own
    assert day and {r["rep_id"] for r in day} == {rep_id}
    assert day[0]["kind"] == "deal" and all(r["next_action"] for r in day)
    r = c.get("/my-day?lang=nl")
    assert r.status_code == 200 and "Mijn dag" in r.text
    assert "<img src=x onerror" not in r.text
