"""Render ``docs/data-model.md`` from the schema definition (the docs never drift)."""

from __future__ import annotations

from salespulse.warehouse import schema


def render_data_model() -> str:
    """The data-model reference as Markdown, generated from :mod:`schema`."""
    doc = (schema.__doc__ or "").split("\n\n", 1)[1].strip()
    lines = [
        "# Data model",
        "",
        "<!-- Generated from src/salespulse/warehouse/schema.py by `make docs`; "
        "tests/test_docs.py fails when it is out of date. Do not edit by hand. -->",
        "",
        f"Schema version **{schema.SCHEMA_VERSION}**. Every source (demo generator, "
        "HubSpot, Salesforce, CSV/Excel import) lands in these tables; every KPI reads them.",
        "",
        doc,
        "",
        "| table | what it holds | key |",
        "|---|---|---|",
    ]
    for t in schema.TABLES:
        lines.append(f"| [`{t.name}`](#{t.name}) | {t.description} | {', '.join(t.primary_key)} |")
    for t in schema.TABLES:
        lines += [
            "",
            f"## {t.name}",
            "",
            t.description,
            "",
            f"Key: `{', '.join(t.primary_key)}`.",
            "",
            "| column | type | required | meaning |",
            "|---|---|---|---|",
        ]
        refs = {fk.column: fk for fk in t.foreign_keys}
        for c in t.columns:
            meaning = c.description
            if c.allowed:
                meaning += " Values: " + ", ".join(f"`{v}`" for v in c.allowed) + "."
            if c.name in refs:
                fk = refs[c.name]
                meaning += f" → [`{fk.table}.{fk.ref_column}`](#{fk.table})"
            lines.append(
                f"| `{c.name}` | {c.dtype} | {'yes' if not c.nullable else ''} | {meaning} |"
            )
    lines += [
        "",
        "## System tables",
        "",
        "Kept by salespulse about itself, next to the CRM tables (not counted as CRM data).",
    ]
    for t in schema.SYSTEM_TABLES:
        cols = ", ".join(f"`{c.name}`" for c in t.columns)
        lines += ["", f"- **`{t.name}`** — {t.description} Columns: {cols}."]
    return "\n".join(lines) + "\n"
