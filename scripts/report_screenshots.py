"""Page images of the demo report (November 2026), saved as docs/screenshots/report-*.png.

    .venv/bin/python scripts/report_screenshots.py [--db PATH] [--month 2026-11] [--lang en]

Without ``--db`` a fresh demo database is generated (seed 1, history up to 2026-11-30, as
``salespulse generate --scale demo --today 2026-12-01``). Needs Chromium and poppler-utils
(``make system-deps``).
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"


def main() -> None:
    from salespulse.demo import generate
    from salespulse.report import write_report
    from salespulse.report.build import parse_month
    from salespulse.settings import Settings
    from salespulse.warehouse.store import connect

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--db")
    ap.add_argument("--month", default="2026-11")
    ap.add_argument("--lang", default="en", choices=("en", "nl"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or str(Path(tmp) / "demo.duckdb")
        if not args.db:
            store = connect(db)
            generate(store, 1, "demo", date(2026, 12, 1))
            store.close()
        store = connect(db, create=False)
        pdf = Path(tmp) / "report.pdf"
        write_report(store, Settings(), parse_month(args.month), pdf, args.lang)
        store.close()
        for old in OUT.glob(f"report-{args.lang}-*.png"):
            old.unlink()
        prefix = OUT / f"report-{args.lang}"
        subprocess.run(["pdftoppm", "-png", "-r", "70", str(pdf), str(prefix)], check=True)
    for path in sorted(OUT.glob(f"report-{args.lang}-*.png")):
        print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()
