"""Regenerate the docs that are derived from code (run by `make docs`)."""

from __future__ import annotations

from pathlib import Path

from salespulse.semantic.docs import render_kpis
from salespulse.settings import render_settings_doc
from salespulse.warehouse.docs import render_data_model

DOCS = Path(__file__).resolve().parent.parent / "docs"

GENERATED = {
    "data-model.md": render_data_model,
    "kpis.md": render_kpis,
    "settings.md": render_settings_doc,
}

if __name__ == "__main__":
    for name, render in GENERATED.items():
        (DOCS / name).write_text(render(), encoding="utf-8")
        print(f"wrote docs/{name}")
