"""Pages answered from rollups: the same page data as computed in full, and after
``build_rollups`` every worker process answers a new filter combination without building
a rollup (semantic/rollup.py, services/service.py)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, cast

import pytest

from salespulse.services import pages
from salespulse.services.filters import Filters, Period
from salespulse.services.service import Service
from salespulse.settings import Settings
from salespulse.warehouse.shared import open_served

pytestmark = pytest.mark.xdist_group("workers")


def _rollups_kept(service: Service) -> tuple[int, int]:
    """(rollups this worker keeps, rollups it has computed)."""
    keys = [cast(tuple[Any, Any], k) for k in list(service.cache._entries)]
    kept = sum(1 for _version, key in keys if key[0] == "rollup")
    return kept, service.cache.computed["rollup"]


@pytest.fixture(scope="module")
def here(demo_db: str) -> Iterator[Service]:
    service = Service(open_served(demo_db), Settings())
    yield service
    service.close()


def _page(service: Service, name: str, filters: Filters, rollups: bool) -> dict[str, object]:
    def compute() -> dict[str, object]:
        r = service.page_runner(filters, rollups=rollups)
        try:
            cards, figures, tables = pages.PAGES[name](r)
        finally:
            r.close()
        return {
            "cards": [c.model_dump() for c in cards],
            "figures": [f.model_dump() for f in figures],
            "tables": [t.model_dump() for t in tables],
        }

    return service.cache.get(("test-page", name, filters.key(), rollups), compute)


def _differences(a: object, b: object, path: str = "") -> list[str]:
    """Where ``a`` and ``b`` differ (floats: beyond 1e-9, as sums added in another order)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [
            d for k in a.keys() | b.keys() for d in _differences(a.get(k), b.get(k), f"{path}.{k}")
        ]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items, not {len(b)}"]
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in _differences(x, y, f"{path}[{i}]")
        ]
    if isinstance(a, float) and isinstance(b, float):
        return [] if math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9) else [f"{path}: {a} != {b}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(pages.PAGES))
def test_a_page_from_rollups_is_the_page_computed_in_full(here: Service, name: str) -> None:
    teams = [o.value for o in here.options().team]
    products = [o.value for o in here.options().product]
    for filters in (
        Filters(team=teams[1]),
        Filters(period=Period.last_q, team=teams[0], product=products[0], channel="referral"),
    ):
        full = _page(here, name, filters, rollups=False)
        rolled = _page(here, name, filters, rollups=True)
        assert _differences(rolled, full) == [], (name, filters)


@pytest.mark.slow
def test_every_worker_answers_new_filters_from_the_rollups_built(demo_db: str) -> None:
    service = Service(open_served(demo_db), Settings(), workers=2)
    try:
        assert service.workers is not None
        service.build_rollups((Period.fytd,))
        built = service.workers.each(_rollups_kept, ())
        assert len(built) == 2 and all(kept > 0 for kept, _ in built)
        assert built[0][0] == built[1][0]  # each keeps the same rollups
        teams = [o.value for o in service.options().team]
        for team in teams[:3]:  # three new filter combinations, on whichever worker
            service.page("pipeline", Filters(team=team))
            service.page("activity", Filters(team=team, channel="referral"))
        after = service.workers.each(_rollups_kept, ())
        assert sorted(c for _, c in after) == sorted(c for _, c in built)  # none built anew
    finally:
        service.close()
