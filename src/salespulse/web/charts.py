"""Plotly figure specs (JSON) from page figures — presentation only.

Rows already hold the numbers; this module maps columns to axes, names the series in the
page's language, draws targets and reference lines, and formats axes per unit (money in the
reporting currency's symbol). Rendered in the browser by ``static/app.js`` with the plotly.js
that ships inside the plotly package.

Every bar, point and funnel step carries, as ``customdata``, the URL of the records behind
it (the KPI explorer with the figure's query plus the point's breakdown values pinned), so
that a click opens them (see :func:`drill_url`).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup

from salespulse import i18n
from salespulse.semantic.timecal import Grain, next_period
from salespulse.services.models import Figure, Layer

COLORS = ["#1f5f8b", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#e15759"]
ACCENT, MUTED, LEAK, TARGET = "#1f5f8b", "#9fb7c9", "#d1495b", "#222222"
OVERDUE = "#c0392b"
GRAINS = tuple(g.value for g in Grain)
#: Row columns whose values come from a fixed vocabulary (shown translated).
TERMS = {
    "channel": "channel",
    "activity_type": "activity_type",
    "lead_status": "lead_status",
    "stage_name": "stage",
    "from_stage_name": "stage",
    "step": "funnel",
}
FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12}


def _grain(layer: Layer) -> str | None:
    by = str(layer.query.get("by", ""))
    for g in GRAINS:
        if g in by.split(","):
            return g
    return None


def _fig_grain(fig: Figure) -> str | None:
    return next((g for lay in fig.layers if (g := _grain(lay))), None)


def _label(
    row: dict[str, Any], col: str | None, layer: Layer, lang: str, grain: str | None = None
) -> str:
    if col is None:
        return layer.name_nl if lang == "nl" else layer.name_en
    v = row.get(col)
    if col == "period":
        return i18n.period(v, grain or _grain(layer), lang)
    if v is None:
        return "–"
    if col in TERMS:
        return i18n.term(TERMS[col], v, lang)
    return str(v)


def drill_url(layer: Layer, row: dict[str, Any], lang: str) -> str | None:
    """The KPI explorer URL listing the records behind ``row`` of ``layer``: the layer's
    query (KPI, window, as-of, filters) with each breakdown value of the row pinned — a
    period row narrows the window to that period (within the query's window)."""
    q = layer.query
    if not q.get("kpi"):
        return None
    params: dict[str, Any] = {"kpi": row.get("drill_kpi") or q["kpi"]}
    for key, v in q.items():
        if key not in ("kpi", "by"):
            params[key] = v
    for dim in str(q.get("by", "")).split(","):
        if not dim:
            continue
        v = row.get("period" if dim in GRAINS else dim)
        if v is None:
            return None  # a row without that value (e.g. "no rep") has no drill-down
        if dim in GRAINS:
            start = date.fromisoformat(str(v)[:10])
            end = next_period(start, Grain(dim)) - timedelta(days=1)
            if q.get("end"):
                end = min(end, date.fromisoformat(q["end"]))
            if q.get("start"):
                start = max(start, date.fromisoformat(q["start"]))
            params.update(start=start.isoformat(), end=end.isoformat(), period="custom")
        else:
            params[dim] = v
    if "start" in params or "end" in params:
        params["period"] = "custom"
    params["lang"] = lang
    return "/explorer?" + urlencode(params) + "#records"


def _axis(unit: str, lang: str, currency: str) -> dict[str, Any]:
    title = i18n.t(f"unit.{unit}", lang)
    if unit == "EUR":
        symbol = i18n.currency_symbol(currency)
        return {
            "title": {"text": symbol},
            "tickprefix": symbol if len(symbol) == 1 else symbol + " ",
            "tickformat": "~s",
            "automargin": True,
            "rangemode": "tozero",
        }
    if unit == "ratio":
        return {
            "title": {"text": "%"},
            "tickformat": ".0%",
            "rangemode": "tozero",
            "automargin": True,
        }
    return {
        "title": {"text": title},
        "tickformat": ",~r",
        "rangemode": "tozero",
        "automargin": True,
    }


def _hover(unit: str, currency: str, axis: str = "y") -> str:
    if unit == "EUR":
        symbol = i18n.currency_symbol(currency)
        return symbol + ("" if len(symbol) == 1 else " ") + f"%{{{axis}:,.0f}}"
    if unit == "ratio":
        return f"%{{{axis}:.1%}}"
    return f"%{{{axis}:,.1f}}"


def _layout(lang: str) -> dict[str, Any]:
    return {
        "separators": ",." if lang == "nl" else ".,",
        "margin": {"l": 60, "r": 20, "t": 10, "b": 40},
        "height": 340,
        # above the plot: never on top of the category labels (rep names) below it; Plotly
        # grows the top margin to fit a legend that wraps (on a phone)
        "legend": {
            "orientation": "h",
            "x": 0,
            "xanchor": "left",
            "y": 1.02,
            "yanchor": "bottom",
            "traceorder": "normal",
        },
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": FONT,
        "hovermode": "closest",
        "shapes": [],
        "annotations": [],
    }


def _matrix(fig: Figure, lang: str) -> dict[str, Any]:
    """Moves between stages as a from × to matrix (a heatmap with the counts written in):
    unlike a Sankey it stays readable when deals move back and forth."""
    layer = fig.layers[0]
    rows = layer.rows
    # stages in the order their moves come (the page sorts them by pipeline order), then
    # the stages only ever moved into (closed won / lost)
    order: list[str] = []
    for col in ("from_stage_name", "stage_name"):
        for r in rows:
            name = str(r.get(col))
            if name not in order:
                order.append(name)
    index = {name: i for i, name in enumerate(order)}
    z: list[list[float | None]] = [[None] * len(order) for _ in order]
    links: list[list[str | None]] = [[None] * len(order) for _ in order]
    for r in rows:
        i, j = index[str(r["from_stage_name"])], index[str(r["stage_name"])]
        z[i][j] = r.get("value")
        links[i][j] = drill_url(layer, r, lang)
    names = [i18n.term("stage", name, lang) for name in order]
    to_label, from_label = ("naar", "van") if lang == "nl" else ("to", "from")
    layout = _layout(lang)
    layout.update(
        margin={"l": 120, "r": 10, "t": 10, "b": 90},
        height=380,
        xaxis={"title": {"text": to_label}, "type": "category", "automargin": True},
        yaxis={
            "title": {"text": from_label},
            "type": "category",
            "automargin": True,
            "autorange": "reversed",
        },
    )
    return {
        "data": [
            {
                "type": "heatmap",
                "x": names,
                "y": names,
                "z": z,
                "customdata": links,
                "colorscale": [[0, "#eef3f8"], [1, COLORS[0]]],
                "texttemplate": "%{z}",
                "hovertemplate": f"{from_label} %{{y}} → {to_label} %{{x}}: %{{z}}<extra></extra>",
                "showscale": False,
            }
        ],
        "layout": layout,
    }


def _funnel(fig: Figure, lang: str) -> dict[str, Any]:
    """A funnel drawn from the engine's numbers: each step's count (``value``) and the share
    that moved on from it / came from the step before (``conversion``), written on the bar.
    The step marked ``is_leak`` (the same numbers) is drawn in red; Plotly computes nothing."""
    layer = fig.layers[0]
    rows = layer.rows
    cats, texts = [], []
    for r in rows:
        name = _label(r, fig.x, layer, lang)
        conv = r.get("conversion")
        if conv is not None:  # the share under the step's name: it never gets clipped
            share = i18n.t(f"funnel_text.{fig.id}", lang, share=i18n.percent(conv, lang))
            # markup of ours around escaped text: plotly_text leaves a Markup as it is
            name = Markup("{}<br><span style='font-size:11px'>{}</span>").format(name, share)
        cats.append(name)
        texts.append(i18n.number(r.get("value"), lang))
    colors = [LEAK if r.get("is_leak") else COLORS[0] for r in rows]
    layout = _layout(lang)
    layout.update(
        yaxis={"automargin": True, "type": "category"},
        xaxis={"visible": False},
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        height=max(260, 52 * len(rows) + 40),
        showlegend=False,
    )
    return {
        "data": [
            {
                "type": "funnel",
                "y": cats,
                "x": [r.get("value") for r in rows],
                "text": texts,
                "textinfo": "text",
                "textposition": "auto",
                "insidetextanchor": "middle",
                "constraintext": "none",
                "marker": {"color": colors},
                "customdata": [drill_url(layer, r, lang) for r in rows],
                "hovertemplate": "%{y}<br>%{text}<extra></extra>",
                "connector": {"fillcolor": "#e8eef4"},
            }
        ],
        "layout": layout,
    }


def build(fig: Figure, lang: str, currency: str = "EUR") -> dict[str, Any]:
    """The ``{data, layout}`` Plotly spec of ``fig`` in ``lang``; money in ``currency``."""
    if fig.chart == "heatmap":
        return _matrix(fig, lang)
    if fig.chart == "funnel":
        return _funnel(fig, lang)
    horizontal = fig.chart in ("hbar", "hstacked")
    grain = _fig_grain(fig)
    traces: list[dict[str, Any]] = []
    for i, layer in enumerate(fig.layers):
        name = layer.name_nl if lang == "nl" else layer.name_en
        if fig.series:
            groups: dict[str, list[dict[str, Any]]] = {}
            for row in layer.rows:
                groups.setdefault(_label(row, fig.series, layer, lang), []).append(row)
            for j, (sname, rows) in enumerate(groups.items()):
                traces.append(
                    _trace(fig, layer, rows, sname, COLORS[j % len(COLORS)], lang, currency, grain)
                )
        else:
            color = OVERDUE if layer.style == "marker" else COLORS[i % len(COLORS)]
            t = _trace(fig, layer, layer.rows, name, color, lang, currency, grain)
            if fig.highlight and layer.style == "bar" and fig.x:
                t["marker"]["color"] = [
                    LEAK if r.get(fig.x) == fig.highlight else color for r in layer.rows
                ]
            traces.append(t)
            if len(fig.layers) == 1 and any(r.get("target") is not None for r in layer.rows):
                traces.append(_target_trace(fig, layer, lang, grain))
    layout = _layout(lang)
    if fig.chart in ("stacked", "hstacked"):
        layout["barmode"] = "stack"
    elif fig.chart == "grouped" or len(fig.layers) > 1:
        layout["barmode"] = "group"
    value_axis = _axis(fig.unit, lang, currency)
    cat_axis: dict[str, Any] = {"automargin": True, "type": "category"}
    if horizontal:
        n = max((len(t.get("y") or []) for t in traces), default=0)
        if fig.series:
            n = len({c for t in traces for c in t.get("y") or []})
        layout["xaxis"], layout["yaxis"] = value_axis, {**cat_axis, "autorange": "reversed"}
        if fig.chart == "hstacked":  # the largest stack first (at the top)
            layout["yaxis"]["categoryorder"] = "total descending"
        layout["height"] = max(300, 26 * n + 110)
    else:
        layout["yaxis"], layout["xaxis"] = value_axis, cat_axis
    for ref in fig.refs:
        _reference(layout, ref.value, ref.label_nl if lang == "nl" else ref.label_en, horizontal)
    return {"data": traces, "layout": layout}


def _reference(layout: dict[str, Any], value: float, text: str, horizontal: bool) -> None:
    line = {"color": LEAK, "width": 2, "dash": "dash"}
    if horizontal:
        layout["shapes"].append(
            {"type": "line", "x0": value, "x1": value, "yref": "paper", "y0": 0, "y1": 1}
            | {"line": line}
        )
        layout["annotations"].append(
            {
                "x": value,
                "y": 0,
                "yref": "paper",
                "yanchor": "top",
                "yshift": -22,
                "text": text,
                "showarrow": False,
                "font": {"color": LEAK},
                "xanchor": "left",
            }
        )
        layout["margin"]["b"] = max(layout["margin"]["b"], 60)
    else:
        layout["shapes"].append(
            {"type": "line", "y0": value, "y1": value, "xref": "paper", "x0": 0, "x1": 1}
            | {"line": line}
        )
        layout["annotations"].append(
            {
                "y": value,
                "x": 1,
                "xref": "paper",
                "text": text,
                "showarrow": False,
                "font": {"color": LEAK},
                "xanchor": "right",
                "yanchor": "bottom",
            }
        )


def _trace(
    fig: Figure,
    layer: Layer,
    rows: list[dict[str, Any]],
    name: str,
    color: str,
    lang: str,
    currency: str,
    grain: str | None,
) -> dict[str, Any]:
    horizontal = fig.chart in ("hbar", "hstacked")
    cats = [_label(r, fig.x, layer, lang, grain) for r in rows]
    vals = [r.get("value") for r in rows]
    line = fig.chart == "line" or layer.style == "line"
    cat, val = ("y", "x") if horizontal else ("x", "y")
    t: dict[str, Any] = {
        "type": "scatter" if line else "bar",
        "name": name,
        "marker": {"color": color},
        "customdata": [drill_url(layer, r, lang) for r in rows],
        "hovertemplate": f"%{{{cat}}}: "
        + _hover(layer.unit, currency, val)
        + "<extra>%{fullData.name}</extra>",
    }
    if line:
        t["mode"] = "lines+markers"
        t["line"] = {"color": color, "width": 2}
    if layer.style == "marker":  # a bar of its own colour (overdue deals in the first period)
        t["marker"]["line"] = {"color": TARGET, "width": 1}
    if horizontal:
        t.update(orientation="h", x=vals, y=cats)
    else:
        t.update(x=cats, y=vals)
    return t


def _target_trace(fig: Figure, layer: Layer, lang: str, grain: str | None) -> dict[str, Any]:
    cats = [_label(r, fig.x, layer, lang, grain) for r in layer.rows]
    targets = [r.get("target") for r in layer.rows]
    t: dict[str, Any] = {
        "type": "scatter",
        "mode": "markers+lines",
        "name": i18n.t("legend.target", lang),
        "marker": {"color": TARGET, "symbol": "line-ew-open", "size": 18, "line": {"width": 3}},
        "line": {"color": TARGET, "width": 1, "dash": "dot"},
    }
    if fig.chart in ("hbar", "hstacked"):
        t.update(x=targets, y=cats)
    else:
        t.update(x=cats, y=targets)
    return t
