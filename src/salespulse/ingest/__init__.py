"""Import CRM exports (CSV, Excel, Parquet) into the canonical model, driven by a mapping file.

Source names (HubSpot, Salesforce or spreadsheet column names) stop at this package; what
comes out are the canonical tables of :mod:`salespulse.warehouse.schema`. The reference for
the mapping file is ``docs/import.md``.

Typical use::

    from salespulse.ingest import run_import
    result = run_import("examples/maven.toml", db="crm.duckdb")
    print(result.counts)
"""

from __future__ import annotations

from salespulse.ingest.importer import ImportResult, TableCounts, run_import
from salespulse.ingest.validate import ImportProblem

__all__ = ["ImportProblem", "ImportResult", "TableCounts", "run_import"]
