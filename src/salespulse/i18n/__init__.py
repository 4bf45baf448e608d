"""UI strings (one module per language: :mod:`.en`, :mod:`.nl`) and number/date formatting.

Formatting follows the language: English ``1,234.56``, ``€1,234`` and ``5 Mar 2026``; Dutch
``1.234,56``, ``€ 1.234`` and ``05-03-2026``. Money shows the reporting currency's own symbol
(:data:`CURRENCY_SYMBOLS`; other ISO codes are written out: ``CHF 1,234``). Values from a
fixed vocabulary (channels, activity types, lead statuses, generic stage names) are shown
with :func:`term`. KPI names come from the catalogue (``name_en``/``name_nl``), not from here.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from typing import Any

from salespulse.i18n import en, nl

LANGS = ("en", "nl")
STRINGS: dict[str, dict[str, str]] = {"en": en.STRINGS, "nl": nl.STRINGS}


def t(key: str, lang: str, **values: Any) -> str:
    """The string ``key`` in ``lang`` (English, then the key itself, when missing)."""
    text = STRINGS.get(lang, en.STRINGS).get(key) or en.STRINGS.get(key) or key
    return text.format(**values) if values else text


def both(key: str, **values: Any) -> tuple[str, str]:
    return t(key, "en", **values), t(key, "nl", **values)


def pick_lang(query_lang: str | None, accept_language: str | None) -> str:
    """``lang=`` wins; else the first of en/nl in the Accept-Language header; else English."""
    if query_lang in LANGS:
        return str(query_lang)
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGS:
            return code
    return "en"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def number(value: Any, lang: str, decimals: int = 0) -> str:
    """``1234.5`` → ``1,234.5`` (en) / ``1.234,5`` (nl); missing → an en dash."""
    if _missing(value):
        return "–"
    text = f"{float(value):,.{decimals}f}"
    if lang == "nl":
        text = text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    return text


#: Symbols of common reporting currencies (ISO 4217 code → symbol); others show their code.
CURRENCY_SYMBOLS = {
    "EUR": "€",
    "USD": "$",
    "GBP": "£",
    "JPY": "¥",
    "CNY": "¥",
    "INR": "₹",
    "KRW": "₩",
    "PLN": "zł",
    "CHF": "CHF",
    "SEK": "kr",
    "NOK": "kr",
    "DKK": "kr",
}


def currency_symbol(currency: str | None) -> str:
    """``USD`` → ``$``; an unknown code stands for itself."""
    code = (currency or "EUR").upper()
    return CURRENCY_SYMBOLS.get(code, code)


#: The reporting currency of what is being rendered when no currency is passed (a report
#: renders all its money in its database's currency: see :func:`reporting_currency`).
_CURRENCY: ContextVar[str] = ContextVar("reporting_currency", default="EUR")


@contextmanager
def reporting_currency(code: str) -> Iterator[None]:
    """Within the block, money without an explicit currency is in ``code``."""
    token = _CURRENCY.set(code)
    try:
        yield
    finally:
        _CURRENCY.reset(token)


def money(value: Any, lang: str, compact: bool = False, currency: str | None = None) -> str:
    """An amount in ``currency`` (ISO code; default: the reporting currency in scope):
    ``€1,234`` / ``€ 1.234``, ``$1,234``, ``CHF 1,234``."""
    currency = currency or _CURRENCY.get()
    if _missing(value):
        return "–"
    v = float(value)
    if compact and abs(v) >= 1_000_000:
        body = number(v / 1_000_000, lang, 1) + (" mln" if lang == "nl" else "M")
    elif compact and abs(v) >= 10_000:
        body = number(v / 1000, lang, 0) + "k"
    else:
        body = number(v, lang, 0)
    symbol = currency_symbol(currency)
    return f"{symbol} {body}" if lang == "nl" or len(symbol) > 1 else f"{symbol}{body}"


def percent(value: Any, lang: str, decimals: int = 1) -> str:
    """A fraction (0.345) as a percentage (34.5%)."""
    if _missing(value):
        return "–"
    return number(float(value) * 100, lang, decimals) + "%"


def value(v: Any, unit: str, lang: str, compact: bool = False, currency: str | None = None) -> str:
    """A KPI value in its unit (units as in :class:`salespulse.semantic.kpi.Unit`; the money
    unit ``EUR`` stands for the reporting currency, given as ``currency``)."""
    if _missing(v):
        return "–"
    if unit == "EUR":
        return money(v, lang, compact, currency)
    if unit == "ratio":
        return percent(v, lang)
    if unit == "%":
        return number(v, lang, 1) + "%"
    if unit in ("days", "hours", "business hours"):
        return number(v, lang, 1) + " " + t(f"unit.{unit}", lang)
    if unit == "count":
        return number(v, lang, 0 if float(v).is_integer() else 1)
    return number(v, lang, 1)


MONTHS = {
    "en": ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
    "nl": ["jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec"],
}


def day(d: Any, lang: str) -> str:
    """``2026-03-05`` → ``5 Mar 2026`` / ``05-03-2026`` (dd-mm-jjjj)."""
    if _missing(d) or d == "":
        return "–"
    if isinstance(d, str):
        d = datetime.fromisoformat(d)
    if isinstance(d, datetime):
        d = d.date()
    assert isinstance(d, date)
    if lang == "nl":
        return f"{d.day:02d}-{d.month:02d}-{d.year}"
    return f"{d.day} {MONTHS[lang][d.month - 1]} {d.year}"


#: Vocabularies whose values :func:`term` translates (key prefix in the string tables).
VOCABULARIES = (
    "channel",
    "activity_type",
    "lead_status",
    "direction",
    "outcome",
    "lost_reason",
    "disqualified_reason",
    "stage",
)


def term(vocabulary: str, v: Any, lang: str) -> str:
    """A value of a fixed vocabulary in ``lang``: ``term("channel", "trade_fair", "nl")`` →
    ``Beurs``. Stages are looked up by name (generic names such as ``Closed won`` are
    translated; a company's own stage names stay as they are); unknown values are shown with
    spaces for underscores."""
    if _missing(v) or v == "":
        return "–"
    text = str(v)
    key = f"{vocabulary}.{text.lower() if vocabulary == 'stage' else text}"
    found = STRINGS.get(lang, {}).get(key) or en.STRINGS.get(key)
    if found:
        return found
    return text if vocabulary == "stage" else text.replace("_", " ")


def period(d: Any, grain: str | None, lang: str) -> str:
    """A period label from its start date: ``Mar 2026``, ``Q: Apr–Jun 2026``, ``FY 2026``."""
    if _missing(d) or d == "":
        return "–"
    if isinstance(d, str):
        d = datetime.fromisoformat(d).date()
    if isinstance(d, datetime):
        d = d.date()
    m = MONTHS[lang]
    if grain == "month":
        return f"{m[d.month - 1]} {d.year}"
    if grain == "quarter":
        last = (d.month + 1) % 12
        return f"{m[d.month - 1]}–{m[last]} {d.year}"
    if grain == "year":
        return f"{t('fiscal_year_short', lang)} {d.year}" + (
            "" if d.month == 1 else f"/{str(d.year + 1)[2:]}"
        )
    return day(d, lang)
