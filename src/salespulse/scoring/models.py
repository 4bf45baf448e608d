"""The models side by side, each fitted on a training frame and stored as plain JSON (no
pickle: a stored model is data, never code).

* ``stage`` — the baseline: the share won per stage in the training samples, smoothed
  toward the overall share (``PRIOR`` samples); an unknown stage gets the overall share.
* ``naive_bayes`` — Odoo-style predictive lead scoring (odoo/odoo ``crm_lead._pls_*``):
  per team, a frequency table of won and lost counts per (variable, value), each count
  plus 0.1; P(won | values) ∝ P(won) · Π P(value | won). A team with fewer than
  ``NB_MIN_TEAM`` closed samples uses the tables of all teams.
* ``logistic`` — logistic regression on one-hot categories and standardised numbers
  (missing numbers: the training median, plus a "missing" indicator).
* ``lightgbm`` — gradient-boosted trees (LightGBM, native categorical splits); its
  ``pred_contrib`` gives each feature's contribution per row, which the reasons use.

Every model maps a frame to a raw probability; :class:`Calibrator` (isotonic, or Platt
with few rows) is fitted afterwards on data the test never sees.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

FloatArray = npt.NDArray[np.float64]

PRIOR = 20.0
NB_SMOOTHING = 0.1
NB_MIN_TEAM = 50
#: Standardised numbers are clipped to ± this many standard deviations (no wild
#: extrapolation by the logistic model on an extreme value).
CLIP_Z = 4.0
#: Isotonic calibration needs at least this many rows; below, Platt scaling.
ISOTONIC_MIN_ROWS = 5000


class Model(Protocol):
    name: str

    def predict(self, x: pd.DataFrame) -> FloatArray: ...

    def to_json(self) -> dict[str, Any]: ...


def _cat(x: pd.DataFrame, col: str) -> pd.Series:
    return x[col].astype("string").fillna("not_set").astype(str)


# -- stage -----------------------------------------------------------------------------
@dataclass
class StageModel:
    rates: dict[str, float]
    overall: float
    column: str = "stage_id"
    name: str = "stage"

    @classmethod
    def fit(cls, x: pd.DataFrame, y: FloatArray, column: str = "stage_id") -> StageModel:
        overall = float(np.mean(y))
        g = pd.DataFrame({"s": _cat(x, column), "y": y}).groupby("s")["y"].agg(["sum", "size"])
        rates = ((g["sum"] + PRIOR * overall) / (g["size"] + PRIOR)).to_dict()
        return cls({str(k): float(v) for k, v in rates.items()}, overall, column)

    def predict(self, x: pd.DataFrame) -> FloatArray:
        s = _cat(x, self.column).map(self.rates)
        return np.asarray(s.fillna(self.overall).to_numpy(float), dtype=np.float64)

    def to_json(self) -> dict[str, Any]:
        return {"rates": self.rates, "overall": self.overall, "column": self.column}


# -- naive Bayes -----------------------------------------------------------------------
@dataclass
class NaiveBayes:
    """Frequency tables per team: ``tables[team][variable][value] = [won, lost]``."""

    variables: list[str]
    tables: dict[str, dict[str, dict[str, list[float]]]]
    totals: dict[str, list[float]]
    name: str = "naive_bayes"

    @classmethod
    def fit(cls, x: pd.DataFrame, y: FloatArray, variables: list[str]) -> NaiveBayes:
        team = _cat(x, "team_id") if "team_id" in x.columns else pd.Series("all", index=x.index)
        tables: dict[str, dict[str, dict[str, list[float]]]] = {}
        totals: dict[str, list[float]] = {}
        groups: list[tuple[str, pd.Index]] = [("*", x.index)]
        for t, idx in team.groupby(team).groups.items():
            if len(idx) >= NB_MIN_TEAM:
                groups.append((str(t), pd.Index(idx)))
        yy = pd.Series(y, index=x.index)
        for t, idx in groups:
            sub, ys = x.loc[idx], yy.loc[idx]
            totals[t] = [float(ys.sum()), float((1 - ys).sum())]
            tables[t] = {}
            for v in variables:
                g = pd.DataFrame({"v": _cat(sub, v), "y": ys}).groupby("v")["y"]
                won, n = g.sum(), g.size()
                tables[t][v] = {str(k): [float(won[k]), float(n[k] - won[k])] for k in won.index}
        return cls(variables, tables, totals)

    def predict(self, x: pd.DataFrame) -> FloatArray:
        team = _cat(x, "team_id") if "team_id" in x.columns else pd.Series("*", index=x.index)
        team = team.where(team.isin(list(self.tables)), "*")
        out = np.zeros(len(x))
        for t, idx in team.groupby(team).groups.items():
            pos = x.index.get_indexer(idx)
            won_t, lost_t = self.totals[str(t)]
            lw = np.full(len(pos), np.log(won_t + NB_SMOOTHING))
            ll = np.full(len(pos), np.log(lost_t + NB_SMOOTHING))
            sub = x.iloc[pos]
            for v in self.variables:
                table = self.tables[str(t)][v]
                vals = _cat(sub, v)
                w = vals.map(lambda k, table=table: table.get(k, [0.0, 0.0])[0]).to_numpy(float)
                lo = vals.map(lambda k, table=table: table.get(k, [0.0, 0.0])[1]).to_numpy(float)
                lw += np.log((w + NB_SMOOTHING) / (won_t + NB_SMOOTHING))
                ll += np.log((lo + NB_SMOOTHING) / (lost_t + NB_SMOOTHING))
            out[pos] = 1.0 / (1.0 + np.exp(np.clip(ll - lw, -50, 50)))
        return out

    def to_json(self) -> dict[str, Any]:
        return {"variables": self.variables, "tables": self.tables, "totals": self.totals}


# -- the numeric design of the learned models --------------------------------------------
@dataclass
class Design:
    """How a feature frame becomes numbers: categories (with the values seen in training),
    numeric medians and scales."""

    categorical: list[str]
    numeric: list[str]
    levels: dict[str, list[str]]
    medians: dict[str, float]
    means: dict[str, float]
    scales: dict[str, float]

    @classmethod
    def fit(cls, x: pd.DataFrame, categorical: list[str], numeric: list[str]) -> Design:
        levels = {c: sorted(_cat(x, c).unique().tolist()) for c in categorical}
        med = {c: _median(x[c].to_numpy(float)) for c in numeric}
        filled = {c: x[c].astype(float).fillna(med[c]) for c in numeric}
        means = {c: float(filled[c].mean()) for c in numeric}
        scales = {c: float(filled[c].std() or 1.0) for c in numeric}
        return cls(list(categorical), list(numeric), levels, med, means, scales)

    def codes(self, x: pd.DataFrame) -> pd.DataFrame:
        """Categories as integer codes (-1 = unseen), numbers as they are (NaN = missing)."""
        out = {}
        for c in self.categorical:
            m = {v: i for i, v in enumerate(self.levels[c])}
            out[c] = _cat(x, c).map(m).fillna(-1).astype(float)
        for c in self.numeric:
            out[c] = x[c].astype(float)
        return pd.DataFrame(out, index=x.index)

    def matrix(self, x: pd.DataFrame) -> tuple[FloatArray, list[str]]:
        """One-hot categories, standardised numbers, missing indicators; column owners."""
        cols: list[FloatArray] = []
        owners: list[str] = []
        for c in self.categorical:
            vals = _cat(x, c).to_numpy()
            for level in self.levels[c]:
                cols.append((vals == level).astype(float))
                owners.append(c)
        for c in self.numeric:
            v = x[c].to_numpy(float)
            missing = np.isnan(v)
            z = (np.where(missing, self.medians[c], v) - self.means[c]) / self.scales[c]
            cols.append(np.clip(z, -CLIP_Z, CLIP_Z))
            owners.append(c)
            cols.append(missing.astype(float))
            owners.append(c)
        return np.column_stack(cols) if cols else np.zeros((len(x), 0)), owners

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass
class Logistic:
    design: Design
    coef: list[float]
    intercept: float
    name: str = "logistic"

    @classmethod
    def fit(cls, x: pd.DataFrame, y: FloatArray, design: Design) -> Logistic:
        m, _ = design.matrix(x)
        lr = LogisticRegression(C=0.5, max_iter=2000)
        lr.fit(m, y)
        return cls(design, [float(c) for c in lr.coef_[0]], float(lr.intercept_[0]))

    def logit_parts(self, x: pd.DataFrame) -> tuple[FloatArray, pd.DataFrame]:
        """Intercept-free contributions per feature (columns) and the total logit."""
        m, owners = self.design.matrix(x)
        parts = m * np.asarray(self.coef)[None, :]
        frame = pd.DataFrame(parts, columns=owners, index=x.index)
        contrib = frame.T.groupby(level=0, sort=False).sum().T
        return parts.sum(axis=1) + self.intercept, contrib

    def predict(self, x: pd.DataFrame) -> FloatArray:
        z, _ = self.logit_parts(x)
        return 1.0 / (1.0 + np.exp(-z))

    def to_json(self) -> dict[str, Any]:
        return {"design": self.design.to_json(), "coef": self.coef, "intercept": self.intercept}


@dataclass
class LightGBM:
    design: Design
    booster: lgb.Booster
    name: str = "lightgbm"

    PARAMS = {  # noqa: RUF012 - read-only defaults
        "objective": "binary",
        "learning_rate": 0.05,
        "num_leaves": 15,
        "min_data_in_leaf": 40,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "cat_smooth": 20.0,
        "verbose": -1,
        "num_threads": 2,
        "seed": 1,
        "deterministic": True,
        "force_row_wise": True,
    }

    @classmethod
    def fit(cls, x: pd.DataFrame, y: FloatArray, design: Design, rounds: int = 300) -> LightGBM:
        data = lgb.Dataset(
            design.codes(x), label=y, categorical_feature=design.categorical, free_raw_data=True
        )
        booster = lgb.train(cls.PARAMS, data, num_boost_round=rounds)
        return cls(design, booster)

    def predict(self, x: pd.DataFrame) -> FloatArray:
        return np.asarray(self.booster.predict(self.design.codes(x)), float)

    def contributions(self, x: pd.DataFrame) -> pd.DataFrame:
        """Per row and feature: the contribution to the log-odds (``pred_contrib``)."""
        c = np.asarray(self.booster.predict(self.design.codes(x), pred_contrib=True))
        names = [*self.design.categorical, *self.design.numeric]
        return pd.DataFrame(c[:, : len(names)], columns=names, index=x.index)

    def to_json(self) -> dict[str, Any]:
        return {"design": self.design.to_json(), "booster": self.booster.model_to_string()}


# -- calibration -----------------------------------------------------------------------
@dataclass
class Calibrator:
    """Maps a raw probability to a calibrated one: isotonic (``xs``/``ys`` breakpoints,
    linear in between) or Platt (``a``, ``b`` on the logit)."""

    method: str
    xs: list[float]
    ys: list[float]
    a: float = 1.0
    b: float = 0.0

    @classmethod
    def fit(cls, p: FloatArray, y: FloatArray) -> Calibrator:
        if len(y) >= ISOTONIC_MIN_ROWS:
            iso = IsotonicRegression(out_of_bounds="clip", y_min=0.005, y_max=0.995)
            iso.fit(p, y)
            return cls("isotonic", iso.X_thresholds_.tolist(), iso.y_thresholds_.tolist())
        z = _logit(p).reshape(-1, 1)
        lr = LogisticRegression(C=1e6, max_iter=1000).fit(z, y)
        return cls("platt", [], [], float(lr.coef_[0][0]), float(lr.intercept_[0]))

    def __call__(self, p: FloatArray) -> FloatArray:
        if self.method == "isotonic":
            return np.interp(p, self.xs, self.ys)
        return 1.0 / (1.0 + np.exp(-(self.a * _logit(p) + self.b)))

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _median(v: FloatArray) -> float:
    """Median of the known values (0 when none is known)."""
    known = v[~np.isnan(v)]
    return float(np.median(known)) if known.size else 0.0


def _logit(p: FloatArray) -> FloatArray:
    q = np.clip(np.asarray(p, float), 1e-6, 1 - 1e-6)
    return np.log(q / (1 - q))


# -- storage -------------------------------------------------------------------------
def dump(model: Model, calibrator: Calibrator) -> str:
    return json.dumps(
        {"kind": model.name, "model": model.to_json(), "calibrator": calibrator.to_json()}
    )


def load(blob: str) -> tuple[Model, Calibrator]:
    """A stored model (see :func:`dump`)."""
    raw = json.loads(blob)
    kind, m = raw["kind"], raw["model"]
    model: Model
    if kind == "stage":
        model = StageModel(m["rates"], m["overall"], m["column"])
    elif kind == "naive_bayes":
        model = NaiveBayes(m["variables"], m["tables"], m["totals"])
    elif kind == "logistic":
        model = Logistic(Design(**m["design"]), m["coef"], m["intercept"])
    elif kind == "lightgbm":
        model = LightGBM(Design(**m["design"]), lgb.Booster(model_str=m["booster"]))
    else:  # pragma: no cover - only what dump writes
        raise ValueError(f"unknown model kind {kind!r}")
    return model, Calibrator(**raw["calibrator"])
