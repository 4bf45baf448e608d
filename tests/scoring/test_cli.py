"""``salespulse score`` on generated data and on the Maven sample (slow: they train)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from salespulse.cli.app import main
from salespulse.ingest.importer import run_import
from tests.datasets import MAVEN, REPO


@pytest.mark.slow
def test_evaluate_json_shape_train_show_and_priorities(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "demo.duckdb")
    assert main(["generate", "--db", db, "--today", "2026-11-15", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["score", "evaluate", "--db", db, "--format", "json", "--quiet"]) == 0
    e = json.loads(capsys.readouterr().out)
    assert e["target"] == "deal_won"
    names = {m["name"] for m in e["models"]}
    assert {"stage", "naive_bayes", "logistic", "lightgbm"} == names
    for m in e["models"]:
        assert {"name", "auc", "brier", "ece"} <= set(m)
        assert all(isinstance(m[k], float) for k in ("auc", "brier", "ece"))
    assert e["chosen"] in names and isinstance(e["verdict"], str)
    # the generator's engagement signal is found (docs/demo-data.md)
    best = {m["name"]: m for m in e["models"]}[e["chosen"]]
    nb = {m["name"]: m for m in e["models"]}["naive_bayes"]
    assert e["verdict"] == "signal beyond stage"
    assert best["auc"] >= nb["auc"] + 0.05
    assert main(["score", "train", "--db", db, "--quiet"]) == 0
    capsys.readouterr()
    assert main(["score", "show", "--db", db, "--format", "json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["target"] == "deal_won" and card["data_version"]
    assert main(["priorities", "--db", db, "--rep", "R00008", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    kinds = [r["kind"] for r in rows]
    assert kinds[0] == "deal" and "lead" in kinds
    assert all(r["next_action"] for r in rows)


@pytest.mark.slow
@pytest.mark.skipif(not MAVEN.is_dir(), reason="../shared/datasets not present")
def test_maven_has_no_signal_and_its_amount_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "maven.duckdb"
    run_import(REPO / "examples" / "maven.toml", db, data_dir=MAVEN)
    assert main(["score", "evaluate", "--db", str(db), "--format", "json", "--quiet"]) == 0
    e = json.loads(capsys.readouterr().out)
    assert "amount_eur" in e["refused_features"]
    assert e["verdict"] == "no signal beyond stage" and e["chosen"] == "stage"
    chosen = {m["name"]: m for m in e["models"]}["stage"]
    assert abs(chosen["auc"] - 0.5) < 0.05
