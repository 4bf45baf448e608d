"""Same seed, scale and today -> identical tables; anything else -> different data."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest

from salespulse.demo import build, iter_tables
from salespulse.errors import UserError
from salespulse.warehouse.schema import TABLES
from salespulse.warehouse.store import conform
from tests.demo.conftest import TODAY


@pytest.fixture(scope="module")
def first() -> dict[str, pa.Table]:
    return build(11, "demo", TODAY)


def test_same_seed_gives_identical_tables(first: dict[str, pa.Table]) -> None:
    again = build(11, "demo", TODAY)
    assert list(again) == list(first)
    for name, table in first.items():
        assert table.equals(again[name]), name


def test_a_different_seed_gives_different_data(first: dict[str, pa.Table]) -> None:
    other = build(12, "demo", TODAY)
    for name in ("reps", "accounts", "leads", "deals", "activities", "contracts"):
        assert not other[name].equals(first[name]), name
    for name in ("products", "pipelines", "stages"):
        assert other[name].equals(first[name]), name


def test_a_different_today_moves_the_history(first: dict[str, pa.Table]) -> None:
    later = build(11, "demo", date(2027, 3, 1))
    assert later["leads"]["created_at"].to_pylist()[-1] > first["leads"]["created_at"][-1].as_py()


def test_every_canonical_table_is_built_with_its_columns(first: dict[str, pa.Table]) -> None:
    assert set(first) == {t.name for t in TABLES}
    for t in TABLES:
        data = first[t.name]
        assert set(data.column_names) <= set(t.column_names), t.name
        conform(t, data)  # types cast cleanly, required columns present
        for c in t.columns:
            if not c.nullable and c.name in data.column_names:
                assert data[c.name].null_count == 0, (t.name, c.name)


def test_progress_is_reported_per_step() -> None:
    seen: list[tuple[str, int, int]] = []
    for _ in iter_tables(
        3, "demo", TODAY, lambda step, done, total: seen.append((step, done, total))
    ):
        pass
    steps = {s for s, _, _ in seen}
    assert len(steps) == 3
    last = {s: (d, t) for s, d, t in seen}
    assert all(d == t for d, t in last.values())


def test_unknown_scale_is_a_user_error() -> None:
    with pytest.raises(UserError, match="unknown scale"):
        build(1, "huge", TODAY)
