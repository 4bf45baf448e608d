"""Problems found in the input: what is wrong, where (file, row, column) and how to fix it."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from salespulse.escape import csv_rows

#: Canonical fields that must not be negative (money and counts).
NON_NEGATIVE: dict[str, tuple[str, ...]] = {
    "deals": ("amount",),
    "contracts": ("value", "recurring_amount"),
    "products": ("list_price",),
    "accounts": ("employees", "annual_revenue"),
    "leads": ("employees",),
}


@dataclass(frozen=True)
class ImportProblem:
    """One problem with the input. ``row`` counts like a spreadsheet: the header is row 1."""

    file: str
    row: int | None
    column: str | None
    problem: str
    hint: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column:
            where += f", column {self.column!r}"
        text = f"{where}: {self.problem}"
        return f"{text} (hint: {self.hint})" if self.hint else text


def write_report(
    problems: Iterable[ImportProblem],
    path: str | Path,
    warnings: Iterable[ImportProblem] = (),
) -> None:
    """Every problem and warning to ``path``: CSV for ``.csv``, JSON for ``.json``, else text.

    CSV columns: file, row, column, problem, hint, severity (``error`` or ``warning``).
    """
    path = Path(path)
    items = [(p, "error") for p in problems] + [(w, "warning") for w in warnings]
    if path.suffix.lower() == ".csv":
        header = ["file", "row", "column", "problem", "hint", "severity"]
        body = [
            [p.file, "" if p.row is None else p.row, p.column or "", p.problem, p.hint or "", sev]
            for p, sev in items
        ]
        path.write_text(csv_rows([header, *body]), encoding="utf-8")
    elif path.suffix.lower() == ".json":
        path.write_text(
            json.dumps(
                [{**asdict(p), "severity": sev} for p, sev in items], indent=2, ensure_ascii=False
            ),
            "utf-8",
        )
    else:
        lines = [str(p) if sev == "error" else f"warning: {p}" for p, sev in items]
        path.write_text("\n".join(lines or ["no problems"]) + "\n", encoding="utf-8")
