"""Versioned models in the database (``score_models``): one row per training run; the
newest row per target is the model in use."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import pandas as pd

from salespulse import serialize
from salespulse.errors import UserError
from salespulse.scoring import models
from salespulse.scoring.train import Trained
from salespulse.warehouse.engine import insert_arrow
from salespulse.warehouse.schema import SYSTEM_TABLES
from salespulse.warehouse.store import Store, conform, utcnow

TABLE = next(t for t in SYSTEM_TABLES if t.name == "score_models")


@dataclass
class Stored:
    """A stored model: its card (metrics, features, when) and the model itself."""

    model_id: str
    target: str
    trained_at: pd.Timestamp
    data_version: str
    chosen: str
    verdict: str
    features: list[str]
    metrics: dict[str, Any]
    model: models.Model
    calibrator: models.Calibrator

    def predict(self, x: pd.DataFrame) -> Any:
        """Calibrated probabilities for a feature frame."""
        return self.calibrator(self.model.predict(x))

    def card(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "target": self.target,
            "trained_at": self.trained_at.isoformat(),
            "data_version": self.data_version,
            **self.metrics,
        }


def save(store: Store, trained: Trained) -> str:
    """Store a training run; returns its model id."""
    model_id = uuid.uuid4().hex[:12]
    row = {
        "model_id": model_id,
        "target": trained.target,
        "trained_at": utcnow(),
        "data_version": store.data_version(),
        "chosen": trained.chosen,
        "verdict": trained.verdict,
        "features": json.dumps(trained.features),
        "metrics": serialize.dumps(trained.evaluation()),
        "model_blob": models.dump(
            trained.models[trained.chosen], trained.calibrators[trained.chosen]
        ),
        "stage_blob": models.dump(trained.models["stage"], trained.calibrators["stage"]),
    }
    with store.transaction():
        insert_arrow(store.con, TABLE.name, conform(TABLE, pd.DataFrame([row])))
    return model_id


def history(store: Store, target: str | None = None) -> pd.DataFrame:
    """All runs (newest first): model_id, target, trained_at, data_version, chosen, verdict."""
    t = store.con.table(TABLE.name)
    if target:
        t = t.filter(t.target == target)
    cols = ["model_id", "target", "trained_at", "data_version", "chosen", "verdict"]
    return t.select(*cols).order_by(t.trained_at.desc()).execute()


def latest(store: Store, target: str, required: bool = True) -> Stored | None:
    """The model in use for ``target`` (the newest run)."""
    t = store.con.table(TABLE.name)
    t = t.filter(t.target == target).order_by(t.trained_at.desc()).limit(1)
    f = t.execute()
    if f.empty:
        if required:
            raise UserError(
                f"no {target} model has been trained on this database yet",
                hint="run `salespulse score train`",
            )
        return None
    r = f.iloc[0]
    model, cal = models.load(str(r["model_blob"]))
    return Stored(
        model_id=str(r["model_id"]),
        target=str(r["target"]),
        trained_at=pd.Timestamp(r["trained_at"]),
        data_version=str(r["data_version"]),
        chosen=str(r["chosen"]),
        verdict=str(r["verdict"]),
        features=json.loads(str(r["features"])),
        metrics=json.loads(str(r["metrics"])),
        model=model,
        calibrator=cal,
    )
