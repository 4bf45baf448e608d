"""Load benchmark of the web app: N clients over mixed pages and filters for a while.

Starts ``salespulse serve`` on ``--db`` (or uses a running server with ``--url``), asks
every default view until it answers (the start-up warm-up is over), then runs
``--clients`` concurrent clients for ``--duration`` seconds. Each client loops: a page
(HTML or its /api twin, the explorer, the alerts), the default view or, with probability
``--vary``, a filter combination drawn at random (period x team x product x channel). A
separate probe asks /api/health every 100 ms, during the run and for ``--after`` seconds
after the clients leave; it runs in a process of its own (a synchronous client), so its
timings are the server's, not those of the clients' event loop.

Reported per route: requests, p50/p95/p99 (ms), errors (5xx other than 503, transport
errors), timeouts (no answer in ``--timeout`` s) and 503 "busy" answers; the same per kind
of view: *default*, *new* (first request of a filter combination) and *repeat* (a
combination that already answered 200 once: computed, so served from the cache), and the
server's CPU use after the clients left.

    python scripts/bench_load.py --db /tmp/bench-large.duckdb
    python scripts/bench_load.py --url http://127.0.0.1:8000 --login admin:secret

Not a test: figures go into docs/benchmarks.md with the command and the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx2 as httpx

PAGES = ["/", "/pipeline", "/activity", "/performance", "/stages", "/leaderboards"]
API = ["home", "pipeline", "activity", "performance", "stages", "leaderboards"]
PERIODS = ["fytd", "qtd", "last_fy", "last_q", "12m"]
EXPLORER_KPIS = ["won_revenue", "win_rate", "open_pipeline", "avg_deal_size"]


@dataclass
class Sample:
    route: str
    kind: str  # default | new | repeat
    status: int  # 0 = transport error, -1 = timeout
    ms: float


@dataclass
class Run:
    samples: list[Sample] = field(default_factory=list)
    health: list[tuple[float, float, int]] = field(default_factory=list)  # t, ms, status
    answered: set[str] = field(default_factory=set)  # URLs that answered 200 once


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    xs = sorted(values)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of process ``pid``, its threads and its child processes (the KPI
    workers), from /proc."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _stat(int(entry.name))
        except OSError:
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:  # fields[1]: the parent's pid
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def wait_quiet(pid: int, limit: float, quiet: float = 0.1, window: float = 3.0) -> float:
    """Wait until the server uses less than ``quiet`` of a core over ``window`` seconds."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        a = cpu_seconds(pid)
        time.sleep(window)
        if (cpu_seconds(pid) - a) / window < quiet:
            break
    return time.monotonic() - t0


async def warm_defaults(base: str, args: argparse.Namespace) -> None:
    """Ask every default view until it answers 200 (the server computes them at start-up)."""
    urls = [*PAGES, *(f"/api/pages/{n}" for n in API), "/alerts", "/api/pages/alerts"]
    urls += [f"/explorer?kpi={k}" for k in EXPLORER_KPIS]
    deadline = time.monotonic() + args.warm_limit
    async with httpx.AsyncClient(base_url=base, timeout=args.warm_limit) as client:
        await login(client, args.login)
        for url in urls:
            while time.monotonic() < deadline:
                r = await client.get(url)
                if r.status_code == 200:
                    break
                if r.status_code != 503:
                    raise SystemExit(f"{url}: HTTP {r.status_code}")
                await asyncio.sleep(float(r.headers.get("Retry-After", "1")))


def choose(rng: random.Random, options: dict[str, Any], vary: float) -> tuple[str, str, dict]:
    """A route label, its path and query parameters (empty: the default view)."""
    pick = rng.random()
    if pick < 0.45:
        path = rng.choice(PAGES)
        label = path
    elif pick < 0.80:
        name = rng.choice(API)
        path = label = f"/api/pages/{name}"
    elif pick < 0.90:
        path, label = "/alerts", "/alerts"
    else:
        path, label = "/explorer", "/explorer"
    params: dict[str, str] = {}
    if path == "/explorer":
        params["kpi"] = rng.choice(EXPLORER_KPIS)
    if rng.random() < vary:
        params["period"] = rng.choice(PERIODS)
        for dim in ("team", "product", "channel"):
            values = options.get(dim) or []
            if values and rng.random() < 0.4:
                params[dim] = rng.choice(values)["value"]
    return label, path, params


async def login(client: httpx.AsyncClient, credentials: str | None) -> None:
    if not credentials:
        return
    user, _, password = credentials.partition(":")
    page = await client.get("/login")
    data = {"username": user, "password": password}
    for token in ("csrf_token", "csrf"):  # a CSRF field if the login form has one
        marker = f'name="{token}" value="'
        if marker in page.text:
            data[token] = page.text.split(marker, 1)[1].split('"', 1)[0]
    r = await client.post("/login", data=data, follow_redirects=False)
    if r.status_code >= 400:
        raise SystemExit(f"login as {user} failed: HTTP {r.status_code}")


async def client_loop(
    i: int, base: str, args: argparse.Namespace, options: dict, run: Run, stop: float
) -> None:
    rng = random.Random(args.seed * 1000 + i)
    async with httpx.AsyncClient(base_url=base, timeout=args.timeout) as client:
        await login(client, args.login)
        while time.monotonic() < stop:
            label, path, params = choose(rng, options, args.vary)
            url = path + ("?" + urlencode(params) if params else "")
            varied = set(params) - {"kpi"}
            kind = "default" if not varied else ("repeat" if url in run.answered else "new")
            t0 = time.perf_counter()
            try:
                r = await client.get(url)
                status = r.status_code
            except httpx.TimeoutException:
                status = -1
            except httpx.TransportError:
                status = 0
            ms = (time.perf_counter() - t0) * 1000
            run.samples.append(Sample(label, kind, status, ms))
            if status == 200:
                run.answered.add(url)
            elif status == 503:
                await asyncio.sleep(float(r.headers.get("Retry-After", "1")))


def probe_process(base: str, conn: Connection) -> None:
    """The health probe, in a process of its own: /api/health every 100 ms from ``t_start``
    to ``stop`` (``time.monotonic()``, one clock for every process; sent by the parent once
    this process is ready), then the samples ``(t s, ms, status)`` back through ``conn``.

    A plain synchronous client with nothing else to do: the 50 clients' event loop in the
    benchmark's own process would delay a probe there (its timing would include the waits
    for the loop), and what is measured here is the server's answer."""
    with httpx.Client(base_url=base, timeout=30) as client:
        conn.send("ready")
        t_start, stop = conn.recv()
        samples: list[tuple[float, float, int]] = []
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            try:
                status = client.get("/api/health").status_code
            except httpx.TimeoutException:
                status = -1
            except httpx.TransportError:
                status = 0
            samples.append((time.monotonic() - t_start, (time.perf_counter() - t0) * 1000, status))
            time.sleep(0.1)
    conn.send(samples)


async def bench(base: str, args: argparse.Namespace, pid: int | None) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, timeout=120) as c:
        await login(c, args.login)
        options = (await c.get("/api/filters")).json()
    run = Run()
    spawn = multiprocessing.get_context("spawn")
    conn, child = spawn.Pipe()
    probe = spawn.Process(
        target=probe_process, args=(base, child), name="health-probe", daemon=True
    )
    probe.start()
    if await asyncio.to_thread(conn.recv) != "ready":
        raise SystemExit("the health probe did not start")
    t_start = time.monotonic()
    stop = t_start + args.duration
    conn.send((t_start, stop + args.after))
    health = asyncio.create_task(asyncio.to_thread(conn.recv))
    cpu0 = cpu_seconds(pid) if pid else 0.0
    await asyncio.gather(
        *(client_loop(i, base, args, options, run, stop) for i in range(args.clients))
    )
    t_end = time.monotonic()
    cpu_end = cpu_seconds(pid) if pid else 0.0
    after: list[float] = []
    for _ in range(int(args.after // 5)):
        a = cpu_seconds(pid) if pid else 0.0
        await asyncio.sleep(5)
        after.append(((cpu_seconds(pid) if pid else 0.0) - a) / 5)
    run.health = await health
    await asyncio.to_thread(probe.join, 30)
    return summarize(run, args, t_end - t_start, cpu_end - cpu0, after)


def stats(samples: list[Sample]) -> dict[str, Any]:
    ok = [s.ms for s in samples if s.status == 200]
    return {
        "n": len(samples),
        "ok": len(ok),
        "p50": pct(ok, 50),
        "p95": pct(ok, 95),
        "p99": pct(ok, 99),
        "errors": sum(1 for s in samples if s.status == 0 or (s.status >= 400 and s.status != 503)),
        "timeouts": sum(1 for s in samples if s.status == -1),
        "busy": sum(1 for s in samples if s.status == 503),
    }


def summarize(
    run: Run, args: argparse.Namespace, seconds: float, cpu: float, after: list[float]
) -> dict[str, Any]:
    by_route: dict[str, list[Sample]] = defaultdict(list)
    by_kind: dict[str, list[Sample]] = defaultdict(list)
    for s in run.samples:
        by_route[s.route].append(s)
        by_kind[s.kind].append(s)
    during = [ms for t, ms, st in run.health if t <= args.duration and st == 200]
    return {
        "clients": args.clients,
        "duration_s": round(seconds, 1),
        "requests": len(run.samples),
        "all": stats(run.samples),
        "routes": {k: stats(v) for k, v in sorted(by_route.items())},
        "kinds": {k: stats(v) for k, v in sorted(by_kind.items())},
        "health": {
            "probe": "own process",
            "n": len(run.health),
            "p50": pct(during, 50),
            "p99": pct(during, 99),
            "max": max(during, default=float("nan")),
            "failed": sum(1 for _, _, st in run.health if st != 200),
            "slowest": sorted(run.health, key=lambda h: -h[1])[:10],  # (t s, ms, status)
        },
        "server_cpu_s_during": round(cpu, 1),
        "server_cpu_after_per_5s": [round(x, 2) for x in after],
    }


def table(result: dict[str, Any]) -> str:
    head = "| route | requests | p50 ms | p95 ms | p99 ms | errors | timeouts | 503 |"
    lines = [head, "|---|---|---|---|---|---|---|---|"]

    def row(name: str, s: dict[str, Any]) -> str:
        return (
            f"| {name} | {s['n']} | {s['p50']:.0f} | {s['p95']:.0f} | {s['p99']:.0f} | "
            f"{s['errors']} | {s['timeouts']} | {s['busy']} |"
        )

    for name, s in result["routes"].items():
        lines.append(row(f"`{name}`", s))
    for name, s in result["kinds"].items():
        lines.append(row(f"*{name} views*", s))
    lines.append(row("**all**", result["all"]))
    h = result["health"]
    lines.append("")
    lines.append(
        f"/api/health: {h['n']} probes, p50 {h['p50']:.0f} ms, p99 {h['p99']:.0f} ms, "
        f"max {h['max']:.0f} ms, {h['failed']} failed; server CPU during the run "
        f"{result['server_cpu_s_during']} s, after (cores, per 5 s): "
        f"{result['server_cpu_after_per_5s']}"
    )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--db", help="database to serve (starts `salespulse serve`)")
    p.add_argument("--url", help="a running server instead of --db")
    p.add_argument(
        "--salespulse",
        default=shutil.which("salespulse") or "salespulse",
        help="the salespulse executable that serves --db (e.g. another checkout's)",
    )
    p.add_argument(
        "--serve-arg",
        action="append",
        default=[],
        help="extra argument for `salespulse serve` (repeat it), e.g. --serve-arg=--workers=0",
    )
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--duration", type=float, default=60)
    p.add_argument("--vary", type=float, default=0.5, help="share of requests with random filters")
    p.add_argument("--timeout", type=float, default=30)
    p.add_argument("--after", type=float, default=20, help="seconds measured after the clients")
    p.add_argument("--login", help="user:password (POST /login) for servers with login")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", help="write the full result here")
    p.add_argument("--warm-limit", type=float, default=600, help="max seconds to wait for warm-up")
    p.add_argument(
        "--quiet-limit",
        type=float,
        default=900,
        help="max seconds to wait, after the default views, until the server and its workers "
        "are idle (the rollups of every page and period are built)",
    )
    args = p.parse_args()
    if not args.db and not args.url:
        p.error("give --db or --url")
    proc = None
    if args.url:
        base, pid = args.url, None
    else:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen(
            [args.salespulse, "serve", "--db", args.db, "--port", str(port), *args.serve_arg],
            stdout=subprocess.DEVNULL,
            stderr=sys.stderr,
        )
        pid = proc.pid
    try:
        t0 = time.monotonic()
        while True:
            try:
                if httpx.get(f"{base}/api/health", timeout=30).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc is not None and proc.poll() is not None:
                raise SystemExit("the server did not start")
            time.sleep(0.5)
        asyncio.run(warm_defaults(base, args))
        print(f"server up, default views computed after {time.monotonic() - t0:.0f} s", flush=True)
        if pid:
            waited = wait_quiet(pid, args.quiet_limit)
            print(f"server idle (rollups built) {waited:.0f} s later", flush=True)
        result = asyncio.run(bench(base, args, pid))
        print(table(result), flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2))
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:  # still computing: it would not stop
                print("the server did not stop within 10 s of SIGTERM; killed it")
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    main()
