"""Rule-based lead score (W9a) and the priority list, on the tiny data set."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from salespulse.analytics.priorities import priority_list
from salespulse.errors import UserError
from salespulse.semantic.query import Query, records, run
from salespulse.semantic.scoring import load_rules
from salespulse.settings import Settings
from salespulse.warehouse.store import Store

RULES = """
[[attribute]]
field = "channel"
in = ["trade_fair"]
points = 3

[[attribute]]
field = "job_title"
contains = ["MANAGER"]
points = 7

[[action]]
event = "replied"
points = 10
cap = 2
"""


def score_of(store: Store, lead: str, as_of: date, settings: Settings | None = None) -> float:
    q = Query.make("lead_score", as_of=as_of)
    recs = records(store, q, settings=settings)
    return float(recs.set_index("lead_id").loc[lead, "score"])


@pytest.mark.slow
def test_default_rules_score_profile_and_actions(tiny_store: Store) -> None:
    # L4 (trade fair, nothing else known, no activity): the trade-fair channel rule, 15
    assert score_of(tiny_store, "L4", date(2024, 6, 30)) == 15.0
    # L2 (web form) on 16 Jan: only an outbound e-mail → 0; on 17 Jan the lead replied → 10
    assert score_of(tiny_store, "L2", date(2024, 1, 16)) == 0.0
    assert score_of(tiny_store, "L2", date(2024, 1, 17)) == 10.0


@pytest.mark.slow
def test_rules_come_from_the_settings_file(tiny_store: Store, tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES, encoding="utf-8")
    s = Settings(lead_score_rules=str(rules))
    assert score_of(tiny_store, "L4", date(2024, 6, 30), s) == 3.0
    assert score_of(tiny_store, "L2", date(2024, 1, 17), s) == 10.0
    r = run(tiny_store, Query.make("lead_score", as_of=date(2024, 1, 17)), s)
    # active leads on 17 Jan: L2 (10); L1 already has a deal
    assert (r.frame["numerator"].iloc[0], r.frame["denominator"].iloc[0]) == (10.0, 1.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[attribute]]\nfield = 'shoe_size'\npoints = 1\nmin = 3", "field 'shoe_size'"),
        ("[[attribute]]\nfield = 'channel'\npoints = 1", "no condition"),
        ("[[action]]\nevent = 'replied'\npoints = 'many'", "number `points`"),
        ("[[action]]\nevent = 'waved'\npoints = 1", "event 'waved'"),
        ("[[action]\n", "not valid TOML"),
    ],
)
def test_bad_rules_are_clear_user_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UserError, match=message) as err:
        load_rules(path)
    assert str(path) in str(err.value)


@pytest.mark.slow
def test_priority_list_puts_closable_deals_first(tiny_store: Store) -> None:
    plist = priority_list(tiny_store, "R2", as_of=date(2024, 2, 25))
    # R2 on 25 Feb: deal D3 in Negotiate (0.8); lead L2 had no deal yet (D5 came 1 March)
    assert list(zip(plist.kind, plist.id, strict=True)) == [("deal", "D3"), ("lead", "L2")]
    assert list(plist["rank"]) == [1, 2]
