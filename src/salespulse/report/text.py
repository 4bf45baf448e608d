"""The sentences of a report, written from its numbers (English or Dutch).

Each chart gets one sentence that says what it shows: the highest and lowest category, the
change over a trend, how many are above a reference line. Values are formatted with
:mod:`salespulse.i18n`; nothing here computes a KPI — it only reads rows and compares them.
"""

from __future__ import annotations

from salespulse import i18n
from salespulse.report.build import Change, Forecast, Versus
from salespulse.report.svg import Chart


def _v(value: float | None, unit: str, lang: str) -> str:
    return i18n.value(value, unit, lang, compact=True)


def caption(c: Chart, lang: str, note: str | None = None) -> str:
    """One sentence about chart ``c`` (plus the page's own note, e.g. the biggest leak)."""
    t = lambda key, **kw: i18n.t(f"report.cap.{key}", lang, **kw)  # noqa: E731
    if not c.categories or not c.series:
        return t("empty")
    out: list[str] = []
    if c.periods:
        out.append(_trend(c, lang))
    elif c.stacked:
        totals = [sum((s.values[i] or 0) for s in c.series) for i in range(len(c.categories))]
        i = max(range(len(totals)), key=lambda k: totals[k])
        parts = [(s.name, sum(v or 0 for v in s.values)) for s in c.series]
        name, part = max(parts, key=lambda p: p[1])
        whole = sum(p for _, p in parts)
        out.append(
            t(
                "stacked",
                top=c.categories[i],
                value=_v(totals[i], c.unit, lang),
                series=name,
                share=i18n.percent(part / whole if whole else None, lang, 0),
            )
        )
    else:
        for s in [x for x in c.series if not x.line][:2]:
            known = [
                (cat, v) for cat, v in zip(c.categories, s.values, strict=True) if v is not None
            ]
            if not known:
                continue
            hi = max(known, key=lambda p: p[1])
            lo = min(known, key=lambda p: p[1])
            prefix = f"{s.name}: " if len(c.series) > 1 else ""
            if len(known) == 1:
                out.append(prefix + t("one", top=hi[0], value=_v(hi[1], c.unit, lang)))
            elif hi[1] == lo[1]:
                out.append(prefix + t("all_same", n=len(known), value=_v(hi[1], c.unit, lang)))
            else:
                out.append(
                    prefix
                    + t(
                        "range",
                        top=hi[0],
                        high=_v(hi[1], c.unit, lang),
                        bottom=lo[0],
                        low=_v(lo[1], c.unit, lang),
                        n=len(known),
                    )
                )

        for value, label in c.refs:
            vals = [v for v in c.series[0].values if v is not None]
            above = sum(1 for v in vals if v >= value)
            out.append(t("above", k=above, n=len(vals), label=label))
    if c.missing:
        out.append(t("missing", m=c.missing))
    if c.truncated:
        out.append(t("truncated", n=len(c.categories), more=c.truncated))
    if note:
        out.append(note.rstrip(".") + ".")
    return " ".join(out)


def _trend(c: Chart, lang: str) -> str:
    t = lambda key, **kw: i18n.t(f"report.cap.{key}", lang, **kw)  # noqa: E731
    if c.stacked or (len(c.series) > 1 and not any(s.line for s in c.series)):
        totals = [sum((s.values[i] or 0) for s in c.series) for i in range(len(c.categories))]
        last = len(c.categories) - 1
        biggest = max(c.series, key=lambda s: s.values[last] or 0)
        whole = totals[last]
        return t(
            "trend_mix",
            first=c.categories[0],
            first_v=_v(totals[0], c.unit, lang),
            last=c.categories[last],
            last_v=_v(whole, c.unit, lang),
            series=biggest.name,
            share=i18n.percent((biggest.values[last] or 0) / whole if whole else None, lang, 0),
        )
    s = c.series[0]
    known = [(cat, v) for cat, v in zip(c.categories, s.values, strict=True) if v is not None]
    if not known:
        return t("empty")
    peak = max(known, key=lambda p: p[1])
    avg = sum(v for _, v in known) / len(known)
    return t(
        "trend",
        first=known[0][0],
        first_v=_v(known[0][1], c.unit, lang),
        last=known[-1][0],
        last_v=_v(known[-1][1], c.unit, lang),
        peak=peak[0],
        peak_v=_v(peak[1], c.unit, lang),
        avg=_v(avg, c.unit, lang),
    )


def change(ch: Change, lang: str) -> tuple[str, str]:
    """A change as a sentence, and whether it is good/bad/neutral news (a CSS class)."""
    name = ch.name_nl if lang == "nl" else ch.name_en
    up = ch.after > ch.before
    key = "report.change.up" if up else "report.change.down"
    if ch.unit in ("ratio", "%"):
        scale = 100 if ch.unit == "ratio" else 1
        delta = (
            i18n.number(abs(ch.after - ch.before) * scale, lang, 1)
            + " "
            + i18n.t("report.points", lang)
        )
    else:
        delta = i18n.percent(abs(ch.relative), lang, 0)
    text = i18n.t(
        key,
        lang,
        name=name,
        delta=delta,
        before=_v(ch.before, ch.unit, lang),
        after=_v(ch.after, ch.unit, lang),
    )
    if ch.higher_is_better is None:
        return text, "neutral"
    return text, "good" if up == ch.higher_is_better else "bad"


def versus(v: Versus | None, lang: str) -> str:
    if v is None or v.won is None:
        return i18n.t("report.no_value", lang)
    if v.target is None:
        return i18n.t("report.won_no_target", lang, won=_v(v.won, "EUR", lang))
    return i18n.t(
        "report.won_vs_target",
        lang,
        won=_v(v.won, "EUR", lang),
        target=_v(v.target, "EUR", lang),
        attainment=i18n.percent(v.attainment, lang, 0),
    )


def forecast(f: Forecast | None, lang: str) -> str:
    if f is None or f.point is None:
        return i18n.t("report.no_value", lang)
    quarter = i18n.period(f.start, "quarter", lang)
    values = {
        "quarter": quarter,
        "point": _v(f.point, "EUR", lang),
        "won": _v(f.won, "EUR", lang),
        "open": _v(f.open_forecast, "EUR", lang),
    }
    if f.has_range:
        text = i18n.t(
            "report.forecast_range",
            lang,
            low=_v(f.low, "EUR", lang),
            high=_v(f.high, "EUR", lang),
            **values,
        )
    else:
        text = i18n.t("report.forecast_point", lang, **values)
    if f.target:
        text += " " + i18n.t(
            "report.forecast_target",
            lang,
            target=_v(f.target, "EUR", lang),
            share=i18n.percent(f.point / f.target, lang, 0),
        )
    return text
