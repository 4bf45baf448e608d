"""Making untrusted text inert where it is shown or exported.

Names in the data (reps, accounts, deals, stages, …) come from CRM exports anyone can type
into. Three places would otherwise run them as code:

* JSON embedded in an HTML page (``<script type="application/json">``): a ``</script>`` in a
  name would end the block. :func:`json_for_html` escapes ``<``, ``>``, ``&`` and the line
  separators U+2028/U+2029 as ``\\uXXXX``: still the same JSON, never markup.
* Plotly labels: plotly.js renders tick labels, legends and hover text as a small HTML subset
  (``<b>``, ``<a href>``, …). :func:`plotly_text` turns ``<``, ``>``, ``&`` in a figure spec's
  strings into entities, which plotly.js shows as the characters themselves.
* CSV cells opened in a spreadsheet: a cell starting with ``= + - @``, a tab or a carriage
  return is a formula there (``=HYPERLINK(…)``, ``=cmd|…``). :func:`csv_cell` prefixes such
  *strings* with a single quote, as OWASP advises; numbers stay numbers (``-5`` is no formula).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

import pandas as pd
from markupsafe import Markup

_JSON_HTML = str.maketrans(
    {
        "<": "\\u003c",
        ">": "\\u003e",
        "&": "\\u0026",
        "\u2028": "\\u2028",
        "\u2029": "\\u2029",
    }
)


def json_for_html(data: Any) -> Markup:
    """``data`` as JSON that is safe inside ``<script type="application/json">`` (and
    inside an HTML attribute once autoescaped): no ``<``, ``>``, ``&`` or line separators."""
    text = json.dumps(data, default=str, ensure_ascii=False)
    return Markup(text.translate(_JSON_HTML))


#: Keys whose strings plotly.js interprets as templates (``%{x}``, ``<extra>``): ours, not data;
#: and ``customdata``, which plotly never shows (it holds drill-down URLs, built URL-encoded).
_TEMPLATES = frozenset({"hovertemplate", "texttemplate", "customdata"})
_PLOTLY_HTML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def plotly_text(spec: Any, key: str = "") -> Any:
    """A Plotly figure spec with every string shown as text (except the template keys,
    which the code writes, data reaching them only through ``%{…}`` substitution; and the
    drill-down URLs in ``customdata``; and a :class:`~markupsafe.Markup`, the code's own markup
    around text it escaped)."""
    if isinstance(spec, Markup):  # markup the code wrote around escaped text
        return str(spec)
    if isinstance(spec, str):
        return spec if key in _TEMPLATES else spec.translate(_PLOTLY_HTML)
    if isinstance(spec, dict):
        return {k: plotly_text(v, str(k)) for k, v in spec.items()}
    if isinstance(spec, list | tuple):
        return [plotly_text(v, key) for v in spec]
    return spec


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A cell value safe to open in a spreadsheet: strings that start like a formula get a
    leading ``'``; everything else (numbers, dates, None) is returned unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with :func:`csv_cell` applied to every text cell (and the column names)."""
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if s.dtype == object or pd.api.types.is_string_dtype(s):
            out[col] = s.map(csv_cell, na_action="ignore")
    out.columns = [csv_cell(str(c)) for c in out.columns]
    return out


def to_csv(frame: pd.DataFrame) -> str:
    """``frame`` as CSV text (no index), formula-neutralized: the one CSV writer for exports."""
    return csv_frame(frame).to_csv(index=False)


def csv_rows(rows: Iterable[Iterable[Any]]) -> str:
    """Rows (the first one a header) as formula-neutralized CSV text."""
    buf = io.StringIO()
    w = csv.writer(buf)
    for row in rows:
        w.writerow([csv_cell(v) for v in row])
    return buf.getvalue()
