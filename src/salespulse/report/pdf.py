"""The report's PDF: headless Chromium prints the report's own HTML, offline.

Why Chromium: the HTML is already the report (inline CSS and SVG), so printing it gives the
same layout in both formats with no second renderer; Debian's ``chromium`` is installed by
``scripts/system-deps.sh`` and needs no download (kaleido, Plotly's image export, fetches its
own Chrome at run time, which fails offline). Page size, margins and page numbers come from
the CSS ``@page`` rules, so Chromium's own header and footer are switched off. Background
networking is off and the HTML references nothing, so printing touches no network.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from salespulse.errors import UserError

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--no-pdf-header-footer",
    "--run-all-compositor-stages-before-draw",
)
TIMEOUT_S = 180


def chromium() -> str:
    """The Chromium executable (a UserError saying how to install it when missing)."""
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise UserError(
        "Chromium is needed to write a PDF and was not found",
        hint="install it with scripts/system-deps.sh (apt-get install chromium), "
        "or write --out report.html",
    )


def html_to_pdf(html: str, out: Path) -> Path:
    """Print ``html`` to the PDF file ``out`` with headless Chromium; returns ``out``."""
    exe = chromium()
    out = Path(out).resolve()
    with tempfile.TemporaryDirectory(prefix="salespulse-pdf-") as tmp:
        src = Path(tmp) / "report.html"
        src.write_text(html, encoding="utf-8")
        target = Path(tmp) / "report.pdf"
        cmd = [
            exe,
            *FLAGS,
            f"--user-data-dir={Path(tmp) / 'profile'}",
            f"--print-to-pdf={target}",
            src.as_uri(),
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise UserError(f"Chromium did not finish the PDF within {TIMEOUT_S} s") from None
        if proc.returncode != 0 or not target.exists() or target.stat().st_size == 0:
            tail = (proc.stderr or "").strip().splitlines()[-3:]
            raise UserError(
                "Chromium could not print the report to PDF: " + " | ".join(tail),
                hint="check that `chromium --headless` runs on this machine",
            )
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(target), out)
    return out
