"""What of a failure may reach a client: the sentence, never the engine's text.

A figure that fails carries a ``reason``. Reasons the product writes (a :class:`UserError`, a
KPI that needs data the database lacks) are shown as they are. An unexpected engine error
(a DuckDB parser error quoting the generated SQL, a Python exception) is logged here, on the
server, and the client sees only :data:`HIDDEN`.
"""

from __future__ import annotations

import logging
import re

from salespulse.services.models import AlertsPage, Layer, PageData

log = logging.getLogger(__name__)

HIDDEN = "could not be computed (the details are in the server log)"
#: The prefix the runner gives unexpected failures.
_FAILED = "could not be computed"
#: Text that only an engine or a traceback writes.
_ENGINE = re.compile(
    r"\n|Traceback|Error:|Exception|\bSELECT\b|\bFROM \"|\bLINE \d|duckdb|psycopg|sqlglot|"
    r"ibis\.|\bt\d+\"\.|out of range|object has no attribute|unsupported operand",
    re.IGNORECASE,
)


def reason(text: str | None) -> str | None:
    """``text`` if a client may read it, else :data:`HIDDEN` (the original is logged)."""
    if text is None:
        return None
    if text.startswith(_FAILED) or _ENGINE.search(text):
        log.warning("failure hidden from the client: %s", text)
        return HIDDEN
    return text


def layer(x: Layer) -> Layer:
    r = reason(x.reason)
    return x if r == x.reason else x.model_copy(update={"reason": r})


def page(data: PageData) -> PageData:
    """``data`` with every card, figure and table reason made public."""
    cards = [c.model_copy(update={"layer": layer(c.layer)}) for c in data.cards]
    figures = [f.model_copy(update={"layers": [layer(x) for x in f.layers]}) for f in data.figures]
    tables = [t.model_copy(update={"reason": reason(t.reason)}) for t in data.tables]
    return data.model_copy(update={"cards": cards, "figures": figures, "tables": tables})


def alerts(data: AlertsPage) -> AlertsPage:
    items = [a.model_copy(update={"reason": reason(a.reason)}) for a in data.alerts]
    return data.model_copy(update={"alerts": items})
