"""Plotly figure specs (JSON) from page figures — presentation only.

Rows already hold the numbers; this module maps columns to axes, names the series in the
page's language, draws targets and reference lines, and formats axes per unit. Rendered in the
browser by ``static/app.js`` with the plotly.js that ships inside the plotly package.
"""

from __future__ import annotations

from typing import Any

from salespulse import i18n
from salespulse.services.models import Figure, Layer

COLORS = ["#1f5f8b", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#e15759"]
ACCENT, MUTED, LEAK, TARGET = "#1f5f8b", "#9fb7c9", "#d1495b", "#222222"


def _grain(layer: Layer) -> str | None:
    by = str(layer.query.get("by", ""))
    for g in ("day", "week", "month", "quarter", "year"):
        if g in by.split(","):
            return g
    return None


def _label(row: dict[str, Any], col: str | None, layer: Layer, lang: str) -> str:
    if col is None:
        return layer.name_nl if lang == "nl" else layer.name_en
    v = row.get(col)
    if col == "period":
        return i18n.period(v, _grain(layer), lang)
    if v is None:
        return "–"
    return (
        str(v).replace("_", " ") if col in ("channel", "activity_type", "lead_status") else str(v)
    )


def _axis(unit: str, lang: str) -> dict[str, Any]:
    title = i18n.t(f"unit.{unit}", lang)
    if unit == "EUR":
        return {"title": {"text": "€"}, "tickprefix": "€", "tickformat": "~s", "automargin": True}
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


def _hover(unit: str) -> str:
    if unit == "EUR":
        return "€%{y:,.0f}"
    if unit == "ratio":
        return "%{y:.1%}"
    return "%{y:,.1f}"


def _matrix(fig: Figure, lang: str) -> dict[str, Any]:
    """Moves between stages as a from × to matrix (a heatmap with the counts written in):
    unlike a Sankey it stays readable when deals move back and forth."""
    rows = fig.layers[0].rows
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
    for r in rows:
        z[index[str(r["from_stage_name"])]][index[str(r["stage_name"])]] = r.get("value")
    to_label, from_label = ("naar", "van") if lang == "nl" else ("to", "from")
    return {
        "data": [
            {
                "type": "heatmap",
                "x": order,
                "y": order,
                "z": z,
                "colorscale": [[0, "#eef3f8"], [1, COLORS[0]]],
                "texttemplate": "%{z}",
                "hovertemplate": f"{from_label} %{{y}} → {to_label} %{{x}}: %{{z}}<extra></extra>",
                "showscale": False,
            }
        ],
        "layout": {
            "separators": ",." if lang == "nl" else ".,",
            "margin": {"l": 120, "r": 10, "t": 10, "b": 90},
            "height": 380,
            "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "rgba(0,0,0,0)",
            "xaxis": {"title": {"text": to_label}, "type": "category", "automargin": True},
            "yaxis": {
                "title": {"text": from_label},
                "type": "category",
                "automargin": True,
                "autorange": "reversed",
            },
            "font": {
                "family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif",
                "size": 12,
            },
        },
    }


def build(fig: Figure, lang: str) -> dict[str, Any]:
    """The ``{data, layout}`` Plotly spec of ``fig`` in ``lang``."""
    if fig.chart == "heatmap":
        return _matrix(fig, lang)
    horizontal = fig.chart == "hbar"
    traces: list[dict[str, Any]] = []
    for i, layer in enumerate(fig.layers):
        name = layer.name_nl if lang == "nl" else layer.name_en
        if fig.series:
            groups: dict[str, list[dict[str, Any]]] = {}
            for row in layer.rows:
                groups.setdefault(_label(row, fig.series, layer, lang), []).append(row)
            for j, (sname, rows) in enumerate(groups.items()):
                traces.append(_trace(fig, layer, rows, sname, COLORS[j % len(COLORS)], lang))
        elif fig.x is None:  # one bar per layer (e.g. the lead funnel): added below
            continue
        else:
            color = COLORS[i % len(COLORS)]
            t = _trace(fig, layer, layer.rows, name, color, lang)
            if fig.highlight and layer.style == "bar":
                cats = [_label(r, fig.x, layer, lang) for r in layer.rows]
                t["marker"]["color"] = [LEAK if x == fig.highlight else color for x in cats]
            traces.append(t)
            if len(fig.layers) == 1 and any(r.get("target") is not None for r in layer.rows):
                traces.append(_target_trace(fig, layer, lang))
    if fig.x is None and not fig.series:
        names = [lay.name_nl if lang == "nl" else lay.name_en for lay in fig.layers]
        values = [lay.rows[0].get("value") if lay.rows else None for lay in fig.layers]
        traces.append(
            {
                "type": "funnel" if fig.chart == "funnel" else "bar",
                "y": names,
                "x": values,
                "orientation": "h",
                "marker": {"color": COLORS[: len(names)]},
                "textinfo": "value+percent previous",
                "showlegend": False,
            }
        )
    layout: dict[str, Any] = {
        "separators": ",." if lang == "nl" else ".,",
        "margin": {"l": 60, "r": 20, "t": 10, "b": 60},
        "height": 340,
        "legend": {"orientation": "h", "y": -0.25},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12},
        "hovermode": "closest",
        "shapes": [],
        "annotations": [],
    }
    if fig.chart in ("stacked",):
        layout["barmode"] = "stack"
    elif fig.chart == "grouped" or len(fig.layers) > 1:
        layout["barmode"] = "group"
    value_axis = _axis(fig.unit, lang)
    cat_axis: dict[str, Any] = {"automargin": True, "type": "category"}
    if horizontal:
        layout["xaxis"], layout["yaxis"] = value_axis, {**cat_axis, "autorange": "reversed"}
        layout["height"] = max(300, 28 * max((len(lay.rows) for lay in fig.layers), default=0) + 80)
    else:
        layout["yaxis"], layout["xaxis"] = value_axis, cat_axis
    if fig.chart == "funnel":  # categories top-down on y, widths on x; Plotly lays it out
        layout["yaxis"], layout["xaxis"] = {"automargin": True}, {"visible": False}
    for ref in fig.refs:
        text = ref.label_nl if lang == "nl" else ref.label_en
        line = {"color": LEAK, "width": 2, "dash": "dash"}
        if horizontal:
            layout["shapes"].append(
                {
                    "type": "line",
                    "x0": ref.value,
                    "x1": ref.value,
                    "yref": "paper",
                    "y0": 0,
                    "y1": 1,
                    "line": line,
                }
            )
            layout["annotations"].append(
                {
                    "x": ref.value,
                    "y": 1.02,
                    "yref": "paper",
                    "text": text,
                    "showarrow": False,
                    "font": {"color": LEAK},
                    "xanchor": "left",
                }
            )
        else:
            layout["shapes"].append(
                {
                    "type": "line",
                    "y0": ref.value,
                    "y1": ref.value,
                    "xref": "paper",
                    "x0": 0,
                    "x1": 1,
                    "line": line,
                }
            )
            layout["annotations"].append(
                {
                    "y": ref.value,
                    "x": 1,
                    "xref": "paper",
                    "text": text,
                    "showarrow": False,
                    "font": {"color": LEAK},
                    "xanchor": "right",
                    "yanchor": "bottom",
                }
            )
    return {"data": traces, "layout": layout}


def _trace(
    fig: Figure, layer: Layer, rows: list[dict[str, Any]], name: str, color: str, lang: str
) -> dict[str, Any]:
    cats = [_label(r, fig.x, layer, lang) for r in rows]
    vals = [r.get("value") for r in rows]
    line = fig.chart == "line" or layer.style == "line"
    t: dict[str, Any] = {
        "type": "scatter" if line else ("funnel" if fig.chart == "funnel" else "bar"),
        "name": name,
        "marker": {"color": color},
        "hovertemplate": f"%{{{'y' if fig.chart == 'hbar' else 'x'}}}: "
        + (_hover(layer.unit).replace("%{y", "%{x") if fig.chart == "hbar" else _hover(layer.unit))
        + "<extra>%{fullData.name}</extra>",
    }
    if line:
        t["mode"] = "lines+markers"
        t["line"] = {"color": color, "width": 2}
    if fig.chart == "hbar":
        t.update(orientation="h", x=vals, y=cats)
    elif fig.chart == "funnel":
        t.update(x=vals, y=cats, textinfo="value+percent initial")
        t.pop("hovertemplate")
    else:
        t.update(x=cats, y=vals)
    return t


def _target_trace(fig: Figure, layer: Layer, lang: str) -> dict[str, Any]:
    cats = [_label(r, fig.x, layer, lang) for r in layer.rows]
    targets = [r.get("target") for r in layer.rows]
    t: dict[str, Any] = {
        "type": "scatter",
        "mode": "markers+lines",
        "name": i18n.t("legend.target", lang),
        "marker": {"color": TARGET, "symbol": "line-ew-open", "size": 18, "line": {"width": 3}},
        "line": {"color": TARGET, "width": 1, "dash": "dot"},
    }
    if fig.chart == "hbar":
        t.update(x=targets, y=cats)
    else:
        t.update(x=cats, y=targets)
    return t
