"""The KPI engine against hand-written DuckDB SQL (``scripts/hand_sql/``) and the pandas
reference (``tests/semantic/reference_pandas.py``), interleaved on one database.

    .venv/bin/python scripts/bench_hand_sql.py --db /tmp/bench-large.duckdb --as-of 2026-11-14 -n 5

Every KPI of ``hand_sql/`` runs with its default breakdowns (``Kpi.default_by``), as of one
date, round after round: engine cold (compiled-SQL cache emptied: Ibis builds and renders
the SQL), engine warm (the same query again: cached SQL), the hand SQL, the pandas
reference (tables loaded once beforehand, not timed; each KPI then computed from them from
scratch). Before timing, each hand query's rows and values are checked against the
engine's (rel. 1e-6, :func:`same_rows`). Prints the median of each and the ratios.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from salespulse.semantic import sqlcache
from salespulse.semantic.catalogue import get_kpi
from salespulse.semantic.query import Query, run
from salespulse.settings import Settings
from salespulse.warehouse.store import Store, connect

HAND_SQL = Path(__file__).resolve().parent / "hand_sql"

#: The KPIs with a hand-written query (one ``<kpi>.sql`` each).
KPIS = tuple(sorted(p.stem for p in HAND_SQL.glob("*.sql")))


def hand_sql(kpi: str) -> str:
    return (HAND_SQL / f"{kpi}.sql").read_text()


def parameters(sql: str, settings: Settings, as_of: date) -> dict[str, Any]:
    """The ``$name`` parameters ``sql`` uses, from the settings and the as-of date."""
    known: dict[str, Any] = {
        "as_of": as_of,
        "tz": settings.timezone,
        "currency": settings.reporting_currency,
        "fiscal_shift": settings.fiscal_year_start_month - 1,
        "stale_factor": settings.stale_p90_factor,
        "min_history": settings.stale_min_history,
        "default_days": float(settings.stale_days_default),
        "window_days": settings.customer_window_days,
        "sla_hours": settings.first_response_sla_hours,
        "day_start_hour": settings.business_day_start_hour,
        "day_end_hour": settings.business_day_end_hour,
        "business_days": list(settings.business_days),
        "not_updated_days": float(settings.not_updated_days),
        "dormant_days": settings.lead_dormant_days,
    }
    used = set(re.findall(r"\$([a-z_]+)", re.sub(r"--[^\n]*", "", sql)))
    return {k: known[k] for k in sorted(used)}


def run_hand(store: Store, kpi: str, settings: Settings, as_of: date) -> pd.DataFrame:
    """The hand query's rows (DuckDB only)."""
    sql = hand_sql(kpi)
    raw = store.con.con  # type: ignore[attr-defined]  # the DuckDB connection
    return raw.execute(sql, parameters(sql, settings, as_of)).df()


def run_engine(store: Store, kpi: str, settings: Settings, as_of: date) -> pd.DataFrame:
    q = Query(kpi, by=get_kpi(kpi).default_by, as_of=as_of)
    return run(store, q, settings).frame


def _keys(kpi: str) -> list[str]:
    by = get_kpi(kpi).default_by
    return [("period" if b in ("day", "week", "month", "quarter", "year") else b) for b in by]


def _norm(frame: pd.DataFrame, keys: list[str], columns: list[str]) -> pd.DataFrame:
    f = frame[columns].copy()
    for k in keys:
        f[k] = [
            None if pd.isna(v) else str(pd.Timestamp(v).date() if k == "period" else v)
            for v in f[k]
        ]
    return f.sort_values(keys, na_position="last").reset_index(drop=True) if keys else f


def same_rows(engine: pd.DataFrame, hand: pd.DataFrame, kpi: str, rel: float = 1e-6) -> None:
    """AssertionError unless ``hand`` has the engine's rows (the breakdown keys) and, in
    every column it has, the engine's values (numbers to ``rel``, the rest equal)."""
    keys = _keys(kpi)
    cols = [c for c in hand.columns]
    missing = [c for c in cols if c not in engine.columns]
    assert not missing, f"{kpi}: the engine has no column {missing}"
    e, h = _norm(engine, keys, cols), _norm(hand, keys, cols)
    assert len(e) == len(h), f"{kpi}: {len(e)} engine rows, {len(h)} hand rows"
    assert len(e) > 0, f"{kpi}: no rows"
    if keys:
        ek, hk = e[keys].astype(object).values.tolist(), h[keys].astype(object).values.tolist()
        diff = [a for a, b in zip(ek, hk, strict=True) if a != b]
        assert not diff, f"{kpi}: rows differ, e.g. engine {diff[0]}"
    for c in cols:
        if c in keys:
            continue
        for i, (g, w) in enumerate(zip(e[c], h[c], strict=True)):
            if pd.isna(g) or pd.isna(w):
                assert pd.isna(g) and pd.isna(w), f"{kpi}.{c} row {i}: {g!r} vs {w!r}"
            elif isinstance(g, int | float) and not isinstance(g, bool):
                assert abs(float(g) - float(w)) <= rel * max(1.0, abs(float(w))), (
                    f"{kpi}.{c} row {i} ({e.loc[i, keys].tolist()}): engine {g!r}, hand {w!r}"
                )
            else:
                assert pd.Timestamp(g) == pd.Timestamp(w) if c.endswith("_on") else g == w, (
                    f"{kpi}.{c} row {i}: {g!r} vs {w!r}"
                )


def _pandas(ref: Any, data: Any, kpi: str, by: Any, as_of: date, kw: dict[str, Any]) -> object:
    """One reference KPI from the loaded tables, its derived state (deal states, lead
    owners) built again: each call computes from scratch, as the engine does."""
    data._cache.clear()
    return getattr(ref, kpi)(data, by, as_of, **kw)


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True)
    ap.add_argument("--as-of", type=date.fromisoformat, required=True)
    ap.add_argument("-n", "--repeat", type=int, default=5, help="rounds (median of these)")
    ap.add_argument("--kpis", default="", help="comma-separated (default: every hand query)")
    ap.add_argument("--no-pandas", action="store_true")
    a = ap.parse_args(argv)
    kpis = [k for k in a.kpis.split(",") if k] or list(KPIS)
    store = connect(a.db, create=False)
    settings = Settings()
    print(f"database {a.db}, as of {a.as_of}, {a.repeat} rounds", flush=True)

    for k in kpis:  # the same rows and values, or no figures at all
        same_rows(run_engine(store, k, settings, a.as_of), run_hand(store, k, settings, a.as_of), k)
    print(f"same rows and values (rel 1e-6): {', '.join(kpis)}", flush=True)

    ref_fns: dict[str, Callable[[], object]] = {}
    if not a.no_pandas:
        from tests.semantic import reference_pandas as ref

        from scripts.bench_kpis import reference_cases

        t0 = time.perf_counter()
        data = ref.load_duckdb(a.db)
        print(f"pandas reference: load {time.perf_counter() - t0:.1f} s", flush=True)
        cases = reference_cases(a.as_of)
        for k in kpis:  # the reference has the 22 KPIs
            if k in cases:
                by, kw = cases[k]
                ref_fns[k] = partial(_pandas, ref, data, k, by, a.as_of, kw)

    times: dict[str, dict[str, list[float]]] = {k: {} for k in kpis}
    for r in range(a.repeat):
        for k in kpis:
            t = times[k]
            engine = partial(run_engine, store, k, settings, a.as_of)
            sqlcache.clear()
            t.setdefault("cold", []).append(_timed(engine))
            t.setdefault("warm", []).append(_timed(engine))
            t.setdefault("hand", []).append(_timed(partial(run_hand, store, k, settings, a.as_of)))
            if k in ref_fns:
                t.setdefault("pandas", []).append(_timed(ref_fns[k]))
        print(f"  round {r + 1}/{a.repeat} done", file=sys.stderr, flush=True)

    rows = []
    for k in kpis:
        med = {side: statistics.median(v) for side, v in times[k].items()}
        row = {
            "kpi": k,
            "by": ",".join(get_kpi(k).default_by),
            **{f"{s}_s": v for s, v in med.items()},
        }
        row["cold/hand"] = med["cold"] / med["hand"]
        row["warm/hand"] = med["warm"] / med["hand"]
        if "pandas" in med:
            row["pandas/warm"] = med["pandas"] / med["warm"]
        rows.append(row)
    table = pd.DataFrame(rows)
    total = table.select_dtypes("number").sum()
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table.to_string(index=False, float_format="%.3f"))
    line = (
        f"\ntotal (sum of medians): engine cold {total.cold_s:.2f} s, warm {total.warm_s:.2f} s, "
        f"hand {total.hand_s:.2f} s; cold/hand {total.cold_s / total.hand_s:.2f}, "
        f"warm/hand {total.warm_s / total.hand_s:.2f}"
    )
    if "pandas_s" in table:  # over the KPIs the reference has
        ref = table[table.pandas_s.notna()]
        p_s, w_s, h_s = ref.pandas_s.sum(), ref.warm_s.sum(), ref.hand_s.sum()
        line += (
            f"\nthe {len(ref)} KPIs of the pandas reference: pandas {p_s:.2f} s, engine warm "
            f"{w_s:.2f} s, hand {h_s:.2f} s; pandas/warm {p_s / w_s:.2f}, "
            f"pandas/hand {p_s / h_s:.2f}"
        )
    line += f"\nKPIs above 1.5x their hand SQL, warm: {int((table['warm/hand'] > 1.5).sum())}"
    print(line)
    store.close()


if __name__ == "__main__":
    main()
