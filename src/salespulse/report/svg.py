"""Static charts as inline SVG (bars, stacked bars, grouped bars, lines) — presentation only.

The report's charts must print and mail without JavaScript, fonts or files, so they are drawn
here as plain SVG from a page :class:`~salespulse.services.models.Figure`'s rows (the same
rows the interactive Plotly charts show). Text is XML-escaped: names from the CRM are data,
never markup. Every chart has a fixed width (``HALF`` or ``WIDE``) and a height that grows
with its rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

from salespulse import i18n
from salespulse.services.models import Figure, Layer

#: viewBox widths: a chart in the two-column grid, and a full-width chart (in CSS pixels,
#: so that 10-unit text prints at about 7.5 pt).
HALF, WIDE = 340, 680
COLORS = ["#1f5f8b", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#e15759"]
LEAK, REF, GRID, TEXT, MUTED = "#d1495b", "#222222", "#e3e8ee", "#1d2733", "#5b6b7b"
#: Category axes that read best sorted by value (stages and periods keep their order).
SORTED_AXES = {"rep_name", "team_name", "product_name", "industry", "account_name", "region"}
MAX_CATEGORIES = 20
FONT = 'font-family="Helvetica, Arial, sans-serif"'


@dataclass
class Series:
    name: str
    values: list[float | None]
    color: str
    line: bool = False


@dataclass
class Chart:
    """A figure reduced to categories × series (what every chart type here draws)."""

    categories: list[str]
    series: list[Series]
    unit: str
    refs: list[tuple[float, str]]
    highlight: str | None
    periods: bool  # categories are periods (drawn left to right)
    stacked: bool
    truncated: int = 0  # categories left out (beyond MAX_CATEGORIES)
    missing: int = 0  # categories left out because they have no value


def _grain(layer: Layer) -> str | None:
    for g in ("day", "week", "month", "quarter", "year"):
        if g in str(layer.query.get("by", "")).split(","):
            return g
    return None


def category(row: dict[str, Any], col: str | None, layer: Layer, lang: str) -> str:
    """The label of a row on the category axis, in ``lang``."""
    if col is None:
        return layer.name_nl if lang == "nl" else layer.name_en
    v = row.get(col)
    if v is None and col.endswith("_name"):  # a result without labels: show the id
        v = row.get(col[: -len("_name")])
    if col == "period":
        return i18n.period(v, _grain(layer), lang)
    if v is None:
        return "–"
    return str(v).replace("_", " ") if col in ("channel", "activity_type") else str(v)


def reduce(fig: Figure, lang: str, order: list[str] | None = None) -> Chart:
    """Categories and series of ``fig`` (layers, or one layer split by ``fig.series``);
    series named in ``order`` (e.g. stages in pipeline order) come in that order."""
    layers = [x for x in fig.layers if x.rows]
    periods = fig.x == "period"
    cats: list[str] = []
    series: list[Series] = []

    def add_cat(c: str) -> None:
        if c not in cats:
            cats.append(c)

    if fig.series and layers:
        layer = layers[0]
        values: dict[str, dict[str, float | None]] = {}
        for row in layer.rows:
            c = category(row, fig.x, layer, lang)
            add_cat(c)
            name = category(row, fig.series, layer, lang)
            values.setdefault(name, {})[c] = row.get("value")
        rank = {name: i for i, name in enumerate(order or [])}
        names = sorted(values, key=lambda name: rank.get(name, len(rank)))
        series = [
            Series(name, [values[name].get(c) for c in cats], COLORS[i % len(COLORS)])
            for i, name in enumerate(names)
        ]
    elif fig.x is None and len(layers) > 1:  # one total per layer (e.g. the lead funnel)
        cats = [x.name_nl if lang == "nl" else x.name_en for x in layers]
        values_ = [x.rows[0].get("value") for x in layers]
        series = [Series(fig.title_nl if lang == "nl" else fig.title_en, values_, COLORS[0])]
    else:
        per_layer: list[dict[str, float | None]] = []
        for layer in layers:
            got: dict[str, float | None] = {}
            for row in layer.rows:
                c = category(row, fig.x, layer, lang)
                add_cat(c)
                got[c] = row.get("value")
            per_layer.append(got)
        series = [
            Series(
                layer.name_nl if lang == "nl" else layer.name_en,
                [got.get(c) for c in cats],
                COLORS[i % len(COLORS)],
                line=layer.style == "line" and len(layers) > 1 and periods,
            )
            for i, (layer, got) in enumerate(zip(layers, per_layer, strict=True))
        ]
    stacked = fig.chart == "stacked"
    if fig.x in SORTED_AXES and series:

        def total(i: int) -> float:
            vals = [s.values[i] or 0.0 for s in series] if stacked else [series[0].values[i] or 0]
            return float(sum(vals))

        by_total = sorted(range(len(cats)), key=total, reverse=True)
        cats = [cats[i] for i in by_total]
        for s in series:
            s.values = [s.values[i] for i in by_total]
    missing = 0
    if not periods and not stacked:
        keep = [i for i in range(len(cats)) if any(s.values[i] is not None for s in series)]
        missing = len(cats) - len(keep)
        cats = [cats[i] for i in keep]
        for s in series:
            s.values = [s.values[i] for i in keep]
    truncated = max(0, len(cats) - MAX_CATEGORIES) if not periods else 0
    if truncated:
        cats = cats[:MAX_CATEGORIES]
        for s in series:
            s.values = s.values[:MAX_CATEGORIES]
    refs = [(r.value, r.label_nl if lang == "nl" else r.label_en) for r in fig.refs]
    return Chart(cats, series, fig.unit, refs, fig.highlight, periods, stacked, truncated, missing)


def tick(v: float, unit: str, lang: str) -> str:
    if unit == "ratio":
        return i18n.number(v * 100, lang, 0) + "%"
    if unit == "EUR":
        return i18n.money(v, lang, compact=True)
    return i18n.number(v, lang, 0 if abs(v) >= 10 or float(v).is_integer() else 1)


def _ticks(v: float) -> list[float]:
    """Axis ticks from 0 past ``v`` in round steps (1, 1.5, 2, 2.5, 3 or 5 × 10^k)."""
    import math

    if v <= 0:
        return [0.0, 1.0]
    raw = v / 4
    exp = 10 ** math.floor(math.log10(raw))
    step = next(m * exp for m in (1, 1.5, 2, 2.5, 3, 5, 10) if m * exp >= raw)
    n = math.ceil(v / step - 1e-9)
    return [round(k * step, 12) for k in range(n + 1)]


def _t(x: float, y: float, text: str, anchor: str = "start", size: float = 11) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
        f'fill="{TEXT}">{escape(text)}</text>'
    )


def _legend(series: list[Series], y: float, width: int) -> tuple[list[str], float]:
    """Legend items in rows from the left; returns the parts and the height used."""
    if len(series) < 2:
        return [], 0
    parts, x, row = [], 8.0, 0
    for s in series:
        w = 18 + 5.6 * len(s.name) + 12
        if x + w > width - 8:
            x, row = 8.0, row + 1
        yy = y + row * 16
        if s.line:
            parts.append(
                f'<line x1="{x:.1f}" y1="{yy - 4:.1f}" x2="{x + 12:.1f}" y2="{yy - 4:.1f}" '
                f'stroke="{s.color}" stroke-width="2.5"/>'
            )
        else:
            parts.append(
                f'<rect x="{x:.1f}" y="{yy - 9:.1f}" width="11" height="10" fill="{s.color}"/>'
            )
        parts.append(_t(x + 16, yy, s.name, size=10))
        x += w
    return parts, (row + 1) * 16 + 4


def _svg(width: int, height: float, parts: list[str], title: str) -> Markup:
    return Markup(
        f'<svg viewBox="0 0 {width} {height:.0f}" '
        f'width="100%" role="img" {FONT}><title>{escape(title)}</title>' + "".join(parts) + "</svg>"
    )


def horizontal(c: Chart, lang: str, title: str, width: int) -> Markup:
    """Categories down the left, bars to the right (grouped or stacked)."""
    n = len(c.categories)
    groups = 1 if c.stacked else max(1, len([s for s in c.series if not s.line]) or 1)
    bar = 11 if groups == 1 else 8
    row_h = bar * groups + 5
    longest = max((len(x) for x in c.categories), default=4)
    label_w = min(width * 0.36, max(40, 5.4 * longest))
    fit = int(label_w / 5.4)
    x0, x1, top = label_w + 8, width - 44, 8
    if c.stacked:
        vmax = max(
            (sum((s.values[i] or 0) for s in c.series) for i in range(n)),
            default=0,
        )
    else:
        vmax = max((v or 0 for s in c.series for v in s.values), default=0)
    ticks = _ticks(max([vmax, *(r[0] * 1.05 for r in c.refs)]))
    vmax = ticks[-1]
    scale = (x1 - x0) / vmax
    parts: list[str] = []
    plot_h = n * row_h
    for v in ticks:  # grid and ticks
        x = x0 + v * scale
        parts.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h:.1f}" stroke="{GRID}"/>'
        )
        parts.append(_t(x, top + plot_h + 13, tick(v, c.unit, lang), "middle", 10))
    for i, cat in enumerate(c.categories):
        y = top + i * row_h + 3
        bold = ' font-weight="bold"' if cat == c.highlight else ""
        parts.append(
            f'<text x="{x0 - 6:.1f}" y="{y + row_h / 2 + 1:.1f}" font-size="10.5" '
            f'text-anchor="end" fill="{LEAK if bold else TEXT}"{bold}>'
            f"{escape(_clip(cat, fit))}</text>"
        )
        if c.stacked:
            x = x0
            for s in c.series:
                w = (s.values[i] or 0) * scale
                if w > 0:
                    parts.append(
                        f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{bar}" '
                        f'fill="{s.color}"/>'
                    )
                x += w
            total = sum((s.values[i] or 0) for s in c.series)
            parts.append(_t(x + 4, y + bar - 2, tick(total, c.unit, lang), size=10))
            continue
        for j, s in enumerate(c.series):
            val = s.values[i]
            yy = y + j * bar
            if val is None:
                parts.append(_t(x0 + 4, yy + bar - 2, "–", size=10))
                continue
            v = float(val)
            color = LEAK if cat == c.highlight and j == 0 else s.color
            w = max(0.0, v * scale)
            parts.append(
                f'<rect x="{x0:.1f}" y="{yy:.1f}" width="{w:.1f}" height="{bar - 1}" '
                f'fill="{color}"/>'
            )
            parts.append(_t(x0 + w + 4, yy + bar - 2.5, i18n.value(v, c.unit, lang, True), size=9))
    for value, _label in c.refs:
        x = x0 + value * scale
        parts.append(
            f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{top + plot_h:.1f}" '
            f'stroke="{REF}" stroke-dasharray="4 3" stroke-width="1.2"/>'
        )
    y_leg = top + plot_h + 30
    legend, lh = _legend(c.series, y_leg, width)
    refs_h = 0.0
    for k, (_value, label) in enumerate(c.refs):
        parts.append(_t(8, y_leg + lh + k * 14, f"- - {label}", size=10))
        refs_h += 14
    return _svg(width, y_leg + lh + refs_h, parts + legend, title)


def vertical(c: Chart, lang: str, title: str, width: int) -> Markup:
    """Periods left to right: bars (stacked or grouped) and lines."""
    n = len(c.categories)
    x0, x1, top, plot_h = 52, width - 10, 10, 120 if width > HALF else 110
    bars = [s for s in c.series if not s.line]
    lines = [s for s in c.series if s.line]
    if c.stacked:
        vmax = max((sum((s.values[i] or 0) for s in bars) for i in range(n)), default=0)
    else:
        vmax = max((v or 0 for s in c.series for v in s.values), default=0)
    ticks = _ticks(max([vmax, *(r[0] * 1.05 for r in c.refs)]))
    vmax = ticks[-1]
    step = (x1 - x0) / max(n, 1)
    parts: list[str] = []

    def y_of(v: float) -> float:
        return top + plot_h - v / vmax * plot_h

    for v in ticks:
        y = y_of(v)
        parts.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x1}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(_t(x0 - 5, y + 3.5, tick(v, c.unit, lang), "end", 10))
    group = 1 if c.stacked else max(1, len(bars))
    bw = step * 0.72 / group
    for i, cat in enumerate(c.categories):
        cx = x0 + step * (i + 0.5)
        base = 0.0
        for j, s in enumerate(bars):
            val = s.values[i]
            if val is None:
                continue
            v = float(val)
            if c.stacked:
                y, h = y_of(base + v), v / vmax * plot_h
                x = cx - bw / 2
                base += v
            else:
                y, h = y_of(v), v / vmax * plot_h
                x = cx - step * 0.36 + j * bw
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bw:.1f}" height="{max(h, 0):.1f}" '
                f'fill="{s.color}"/>'
            )
        every = max(1, round(n * 52 / (x1 - x0)))
        if i % every == 0:
            parts.append(_t(cx, top + plot_h + 13, cat, "middle", 9))
    for s in lines:
        pts = [
            f"{x0 + step * (i + 0.5):.1f},{y_of(v):.1f}"
            for i, v in enumerate(s.values)
            if v is not None
        ]
        if pts:
            parts.append(
                f'<polyline points="{" ".join(pts)}" fill="none" stroke="{s.color}" '
                f'stroke-width="2"/>'
            )
            for p in pts:
                px, py = p.split(",")
                parts.append(f'<circle cx="{px}" cy="{py}" r="2.5" fill="{s.color}"/>')
    for value, _label in c.refs:
        y = y_of(value)
        parts.append(
            f'<line x1="{x0}" y1="{y:.1f}" x2="{x1}" y2="{y:.1f}" stroke="{REF}" '
            f'stroke-dasharray="4 3"/>'
        )
    legend, lh = _legend(c.series, top + plot_h + 34, width)
    return _svg(width, top + plot_h + 30 + lh, parts + legend, title)


def _clip(text: str, n: int = 26) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def is_wide(fig: Figure) -> bool:
    """Trends and stacked bars get the full page width; the rest sits two by two."""
    return fig.x == "period" or fig.chart == "stacked"


def render(fig: Figure, lang: str, order: list[str] | None = None) -> tuple[Markup | None, Chart]:
    """The SVG of ``fig`` (None when it has no rows) and the reduced chart (for captions)."""
    c = reduce(fig, lang, order)
    title = fig.title_nl if lang == "nl" else fig.title_en
    if not c.categories or not c.series:
        return None, c
    width = WIDE if is_wide(fig) else HALF
    if c.periods:
        return vertical(c, lang, title, width), c
    return horizontal(c, lang, title, width), c
