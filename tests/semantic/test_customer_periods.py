"""Customer period facts (S9) grouped by account × period first, breakdowns joined after
(``Facts.dims``): the same figures with breakdowns and filters, the drill-down keeps its
columns, and a query without breakdowns reads the contract dates alone."""

from __future__ import annotations

from datetime import date

import ibis
import pytest

from salespulse.semantic.query import Query, context, expression, records
from salespulse.warehouse.store import Store
from tests.semantic.conftest import AS_OF, value

Y2024 = date(2024, 1, 1)


@pytest.mark.slow
def test_breakdown_and_filter_follow_the_account_owner(tiny_store: Store) -> None:
    # 2024 up to 30 June: A2 (metal, owner R2) is new; A1 (food, R1) was a customer before
    f = value(tiny_store, "new_customers", by="industry", start=Y2024)
    assert dict(zip(f.industry, f.value, strict=True)) == {"food": 0.0, "metal": 1.0}
    f = value(tiny_store, "new_customers", by="industry", start=Y2024, where={"rep": "R1"})
    assert dict(zip(f.industry, f.value, strict=True)) == {"food": 0.0}
    f = value(tiny_store, "customer_retention", by="rep", start=Y2024, where={"rep": "R1"})
    assert dict(zip(f.rep, f.value, strict=True)) == {"R1": 100.0}


def test_drill_down_keeps_breakdowns_and_contract_totals(tiny_store: Store) -> None:
    q = Query.make("customer_retention", start=Y2024, as_of=AS_OF)
    recs = records(tiny_store, q)
    assert list(recs.columns) == [
        "account_id",
        "period",
        "rep_id",
        "team_id",
        "region",
        "industry",
        "at_start",
        "at_end",
        "contracts",
        "value_eur",
        "new",
        "reactivated",
        "in_numerator",
    ]
    (a1,) = recs.to_dict("records")
    assert (a1["account_id"], a1["rep_id"], a1["industry"]) == ("A1", "R1", "food")
    assert (a1["contracts"], a1["value_eur"]) == (2, pytest.approx(36000.0))
    assert (a1["at_start"], a1["at_end"], a1["new"], a1["reactivated"]) == (
        True,
        True,
        False,
        False,
    )


@pytest.mark.slow
def test_only_a_breakdown_or_filter_joins_the_accounts(tiny_store: Store) -> None:
    ctx = context(tiny_store, None, AS_OF)

    def sql(**kw: object) -> str:
        _, expr = expression(ctx, Query.make("customer_retention", start=Y2024, **kw))  # type: ignore[arg-type]
        return str(ibis.to_sql(expr, dialect=tiny_store.engine))

    plain = sql(by="year")
    assert '"contracts"' in plain
    assert '"accounts"' not in plain and '"currency_rates"' not in plain
    assert '"accounts"' in sql(by="team")
    assert '"accounts"' in sql(where={"industry": "food"})
