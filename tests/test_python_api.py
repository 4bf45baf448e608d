"""Every code example in docs/python-api.md runs (against a generated demo database)."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from salespulse.demo import generate
from salespulse.warehouse.store import connect

DOC = Path(__file__).resolve().parent.parent / "docs" / "python-api.md"


@pytest.mark.slow
def test_python_api_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = connect(tmp_path / "demo.duckdb")
    generate(store, 3, "demo", date(2026, 1, 15))
    store.close()
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 3
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)
    assert len(namespace["todo"]) > 0  # type: ignore[arg-type]
