"""A demo-scale database (seed 7) for the forecast tests; copied when a test changes it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from salespulse.demo import generate
from salespulse.warehouse.store import Store, connect

TODAY = date(2026, 11, 15)


@pytest.fixture(scope="session")
def demo_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("forecast") / "demo.duckdb"
    store = connect(path)
    generate(store, 7, "demo", TODAY)
    store.close()
    return path


@pytest.fixture(scope="session")
def demo(demo_path: Path) -> Iterator[Store]:
    store = connect(demo_path, create=False)
    yield store
    store.close()


@pytest.fixture
def demo_copy(demo_path: Path, tmp_path: Path) -> Iterator[Store]:
    """A private copy to change."""
    path = tmp_path / "copy.duckdb"
    shutil.copy(demo_path, path)
    store = connect(path, create=False, read_only=False)
    yield store
    store.close()
