"""Rule-based lead score (W9a): points for who a lead is and what it did, from a TOML file.

The rules are the user's (setting ``lead_score_rules``; default: ``rules/lead_score.toml``
shipped with the product, which documents the format). The score is computed in the engine
as one expression per rule; the catalogue's ``lead_score`` KPI and the priority list use it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir

from salespulse.errors import UserError
from salespulse.semantic.relations import without

ATTRIBUTE_FIELDS = ("industry", "employees", "job_title", "channel")
EVENTS = ("replied", "call_connected", "meeting_held", "inbound")


@dataclass(frozen=True)
class AttributeRule:
    field: str
    points: float
    values: tuple[str, ...] = ()
    contains: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None

    def matches(self, t: ir.Table) -> ir.BooleanValue:
        col = t[self.field]
        conds: list[ir.BooleanValue] = []
        if self.values:
            conds.append(col.cast("string").isin(list(self.values)))
        if self.contains:
            low = col.cast("string").lower()
            conds.append(ibis.or_(*[low.contains(w.lower()) for w in self.contains]))
        if self.min is not None:
            conds.append(col.cast("float64") >= self.min)
        if self.max is not None:
            conds.append(col.cast("float64") <= self.max)
        return ibis.and_(*conds).fill_null(False)


@dataclass(frozen=True)
class ActionRule:
    event: str
    points: float
    cap: int = 1


@dataclass(frozen=True)
class ScoreRules:
    attributes: tuple[AttributeRule, ...]
    actions: tuple[ActionRule, ...]
    source: str

    def score(self, leads: ir.Table, events: ir.Table) -> ir.Table:
        """``leads`` (with the attribute fields and ``lead_id``) plus ``score`` and one
        ``points_*`` column per rule group; ``events`` has lead_id and one count column per
        event (see :func:`event_counts`)."""
        e = events.rename(_e_lead="lead_id")
        j = without(leads.left_join(e, leads.lead_id == e._e_lead), "_e_lead")
        attr = [ibis.ifelse(r.matches(j), r.points, 0.0) for r in self.attributes]
        act = [
            ibis.least(j[r.event].fill_null(0), r.cap).cast("float64") * r.points
            for r in self.actions
        ]
        zero = ibis.literal(0.0)
        points_profile = sum(attr, zero)
        points_actions = sum(act, zero)
        return without(
            j.mutate(
                points_profile=points_profile,
                points_actions=points_actions,
                score=points_profile + points_actions,
            ),
            *EVENTS,
        )


def event_counts(activities: ir.Table) -> ir.Table:
    """lead_id → how often each scoring event happened on the lead."""
    a = activities.filter(activities.lead_id.notnull())
    inbound = a.direction == "inbound"
    return a.group_by("lead_id").aggregate(
        replied=(inbound & (a.activity_type == "email") | (a.outcome == "replied")).sum(),
        call_connected=((a.activity_type == "call") & (a.outcome == "connected")).sum(),
        meeting_held=((a.activity_type == "meeting") & (a.outcome == "held")).sum(),
        inbound=inbound.sum(),
    )


def load_rules(path: str | Path | None = None) -> ScoreRules:
    """Rules from ``path`` (TOML), or the built-in defaults. Mistakes are UserErrors that
    name the file and the rule."""
    if path:
        p = Path(path).expanduser()
        if not p.exists():
            raise UserError(
                f"lead-score rules file {p} not found", hint="fix the setting lead_score_rules"
            )
        text, source = p.read_text(encoding="utf-8"), str(p)
    else:
        ref = resources.files("salespulse.semantic").joinpath("rules/lead_score.toml")
        text, source = ref.read_text(encoding="utf-8"), "built-in lead_score.toml"
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{source}: not valid TOML: {exc}") from exc
    return ScoreRules(
        tuple(_attribute(source, i, r) for i, r in enumerate(raw.get("attribute", []), 1)),
        tuple(_action(source, i, r) for i, r in enumerate(raw.get("action", []), 1)),
        source,
    )


def _points(source: str, where: str, rule: dict[str, Any]) -> float:
    pts = rule.get("points")
    if not isinstance(pts, int | float) or isinstance(pts, bool):
        raise UserError(f"{source}: {where} needs a number `points`")
    return float(pts)


def _attribute(source: str, i: int, rule: dict[str, Any]) -> AttributeRule:
    where = f"[[attribute]] #{i}"
    field = rule.get("field")
    if field not in ATTRIBUTE_FIELDS:
        raise UserError(
            f"{source}: {where} has field {field!r}",
            hint=f"use one of {', '.join(ATTRIBUTE_FIELDS)}",
        )
    r = AttributeRule(
        field,
        _points(source, where, rule),
        tuple(rule.get("in", ())),
        tuple(rule.get("contains", ())),
        rule.get("min"),
        rule.get("max"),
    )
    if not (r.values or r.contains or r.min is not None or r.max is not None):
        raise UserError(
            f"{source}: {where} has no condition", hint="add `in`, `contains`, `min` or `max`"
        )
    return r


def _action(source: str, i: int, rule: dict[str, Any]) -> ActionRule:
    where = f"[[action]] #{i}"
    event = rule.get("event")
    if event not in EVENTS:
        raise UserError(
            f"{source}: {where} has event {event!r}", hint=f"use one of {', '.join(EVENTS)}"
        )
    cap = rule.get("cap", 1)
    if not isinstance(cap, int) or cap < 1:
        raise UserError(f"{source}: {where} needs a whole `cap` of at least 1")
    return ActionRule(event, _points(source, where, rule), cap)
