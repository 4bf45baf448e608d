"""One JSON form for every output (CLI ``--format json``, HTTP API, Python API, report).

Strict JSON: NaN, NaT and infinities become ``null``; dates ISO strings (midnight
timestamps as plain dates); NumPy scalars plain numbers.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from typing import Any

import pandas as pd


def jsonable(v: Any) -> Any:
    """``v`` (a value of a result frame, or a list/dict of them) as plain JSON."""
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [jsonable(x) for x in v]
    if v is None or v is pd.NaT:
        return None
    if hasattr(v, "item") and not isinstance(v, pd.Timestamp):
        v = v.item()  # NumPy scalar → Python
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, pd.Timestamp | datetime):
        if pd.isna(v):
            return None
        return v.isoformat() if v.time() != datetime.min.time() else v.date().isoformat()
    if isinstance(v, date):
        return v.isoformat()
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return v


def rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A result frame as JSON-ready rows."""
    return [jsonable(rec) for rec in frame.to_dict(orient="records")]


def dumps(data: Any, indent: int | None = 2) -> str:
    """``data`` as strict JSON text (no NaN/Infinity constants)."""
    return json.dumps(jsonable(data), indent=indent, ensure_ascii=False, allow_nan=False)
