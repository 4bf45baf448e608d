"""Screenshots of every page in both languages, saved under docs/screenshots/.

    .venv/bin/python scripts/screenshots.py [--db PATH | --url http://127.0.0.1:8000]

Without ``--url`` a server is started on a free port over ``--db`` (default: a fresh demo
database generated with a fixed seed and date, so that screenshots are reproducible).
Needs Chromium at /usr/bin/chromium (``make system-deps``).
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
PAGES = {
    "home": "/",
    "pipeline": "/pipeline",
    "activity": "/activity",
    "performance": "/performance",
    "stages": "/stages",
    "leaderboards": "/leaderboards",
    "alerts": "/alerts",
    "explorer": "/explorer?kpi=won_revenue&grain=month&by=team",
    # the records behind one bar (what a click on a chart bar opens)
    "drilldown": "/explorer?kpi=skipped_stage_deals&rep=R00002&grain=month",
}
#: Pages also shot at a phone's width (390 px).
PHONE = ("home", "pipeline", "stages")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
DEMO_SEED, DEMO_TODAY = 7, date(2026, 6, 30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(db: str) -> tuple[str, object]:
    """Serve ``db`` in a background thread (warm cache); returns its URL and server."""
    import uvicorn

    from salespulse.web.app import create_app

    app = create_app(db, warm=False)
    app.state.service.warm()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


def demo_db(folder: Path) -> str:
    from salespulse.demo import generate
    from salespulse.warehouse.store import connect

    path = folder / "demo.duckdb"
    store = connect(path)
    generate(store, DEMO_SEED, "demo", DEMO_TODAY)
    store.close()
    return str(path)


def shoot(url: str, out: Path, width: int = 1366) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    saved = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        desktop = browser.new_page(viewport={"width": width, "height": 900})
        phone = browser.new_page(
            viewport={"width": 390, "height": 844}, device_scale_factor=1, is_mobile=True
        )
        shots = [(desktop, lang, name, "") for lang in ("en", "nl") for name in PAGES]
        shots += [(phone, lang, name, "-phone") for lang in ("en", "nl") for name in PHONE]
        for page, lang, name, suffix in shots:
            path = PAGES[name]
            sep = "&" if "?" in path else "?"
            page.goto(f"{url}{path}{sep}lang={lang}")
            page.wait_for_selector("body[data-charts-ready]", timeout=120_000)
            target = out / f"{name}{suffix}-{lang}.png"
            page.screenshot(path=str(target), full_page=True)
            saved.append(target)
        browser.close()
    return saved


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", help="database to serve (default: a fresh demo database)")
    ap.add_argument("--url", help="an already running server")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = None
        url = args.url
        if not url:
            url, server = start_server(args.db or demo_db(Path(tmp)))
        for path in shoot(url, Path(args.out)):
            print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
        if server is not None:
            server.should_exit = True  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
