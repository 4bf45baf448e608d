"""``salespulse forecast show|snapshot|backtest|changes``: the forecast that scores itself."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
import typer

from salespulse.auth import audit
from salespulse.cli.common import (
    DbOption,
    FormatOption,
    OutputFormat,
    console,
    print_frame,
    print_json,
    progress_bar,
)
from salespulse.errors import UserError
from salespulse.forecast.run import KINDS, METHODS
from salespulse.semantic.query import context, jsonable, parse_date
from salespulse.warehouse.store import connect

forecast_app = typer.Typer(
    help="Forecast won revenue with ranges, snapshots, backtests and pipeline changes.",
    no_args_is_help=True,
)

MethodOption = Annotated[
    str | None,
    typer.Option("--method", help=f"One method ({', '.join(METHODS)}); default: all."),
]
AsOfOption = Annotated[
    str | None, typer.Option("--as-of", help="As known at the end of this day (YYYY-MM-DD).")
]
ByOption = Annotated[
    str | None, typer.Option("--by", help="Break down by rep, team or product (default: total).")
]


def _methods(method: str | None) -> tuple[str, ...]:
    if method is None:
        return METHODS
    if method not in METHODS:
        raise UserError(
            f"unknown forecast method {method!r}", hint=f"choose from: {', '.join(METHODS)}"
        )
    return (method,)


def _by(by: str | None) -> str:
    if by is None:
        return "total"
    if by not in KINDS:
        raise UserError(
            f"cannot break the forecast down by {by!r}", hint=f"choose from: {', '.join(KINDS)}"
        )
    return by


def _records(frame: pd.DataFrame) -> list[dict[str, object]]:
    return [{str(k): jsonable(v) for k, v in r.items()} for r in frame.to_dict(orient="records")]


@forecast_app.command("show")
def show(
    method: MethodOption = None,
    as_of: AsOfOption = None,
    by: ByOption = None,
    months: Annotated[
        int | None,
        typer.Option(
            "--months", min=1, max=24, help="Months ahead (default: to the end of next quarter)."
        ),
    ] = None,
    draws: Annotated[
        int, typer.Option("--draws", min=0, max=100_000, help="Monte Carlo draws.")
    ] = 10_000,
    fmt: FormatOption = OutputFormat.table,
    db: DbOption = None,
) -> None:
    """Expected won revenue with P10/P50/P90 per month and quarter, per method."""
    from salespulse.forecast.run import compute

    store = connect(db, create=False)
    ctx = context(store, as_of=parse_date(as_of, "as-of"))
    f = compute(ctx, methods=_methods(method), months=months, draws=draws)
    kind = _by(by)
    rows = f.summary[f.summary["by"] == kind] if not f.summary.empty else f.summary
    if fmt is OutputFormat.json:
        out = f.to_dict()
        out["rows"] = _records(rows)
        print_json(out)
        return
    if f.reason:
        console.print(f"[yellow]{f.reason}[/yellow]")
    for note in f.notes:
        console.print(f"[dim]{note}[/dim]")
    print_frame(_table(rows), fmt, title=f"Forecast ({f.currency}) — as of {f.as_of}")


def _table(rows: pd.DataFrame) -> pd.DataFrame:
    """Compact columns for the terminal: one period label, whole currency units."""
    if rows.empty:
        return rows
    label = rows["period_start"].astype(str).str[:7] + rows["grain"].map(
        {"month": "", "quarter": " Q"}
    )
    out = pd.DataFrame({"method": rows["method"], "period": label, "group": rows["group"]})
    for c in ("expected", "p10", "p50", "p90"):
        out[c] = rows[c].round(0)
    return out


@forecast_app.command("backtest")
def backtest(
    method: MethodOption = None,
    as_of: AsOfOption = None,
    by: ByOption = None,
    draws: Annotated[
        int, typer.Option("--draws", min=100, max=100_000, help="Monte Carlo draws per forecast.")
    ] = 2_000,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    save: Annotated[
        bool,
        typer.Option("--save", help="Store the range calibration: later forecasts' ranges use it."),
    ] = False,
    fmt: FormatOption = OutputFormat.table,
    db: DbOption = None,
) -> None:
    """Walk-forward backtest at every month end: WAPE, bias and P10–P90 coverage per method."""
    from salespulse.forecast import backtest as bt
    from salespulse.forecast import calibration

    store = connect(db, create=False, read_only=not save)
    try:
        ctx = context(store, as_of=parse_date(as_of, "as-of"))
        with progress_bar(not quiet and fmt is OutputFormat.table) as bar:
            result = bt.run(
                store, ctx.settings, ctx.as_of, _methods(method), draws=draws, progress=bar
            )
        if save and not result.methods.empty:
            calibration.save(store, result.methods, result.as_of)
    finally:
        # release the (writing) connection now, not when it is garbage-collected: the
        # next command on the file would wait for it
        store.close()
    if fmt is OutputFormat.json:
        print_json(result.to_dict())
        return
    if result.reason:
        console.print(f"[yellow]{result.reason}[/yellow]")
        return
    if by is not None:
        kind = _by(by)
        g = result.by_group
        print_frame(g[g["by"] == kind] if not g.empty else g, fmt, title=f"Backtest by {kind}")
        return
    print_frame(result.methods, fmt, title=f"Backtest — as of {result.as_of}")
    if fmt is OutputFormat.table:
        print_frame(result.by_weeks_left, fmt, title="Rest-of-quarter WAPE by weeks left")
        console.print(
            f"Recommended: [bold]{result.recommended}[/bold] (lowest quarter WAPE in "
            f"{result.confidence:.0%} of bootstrap resamples; runner-up {result.runner_up})"
        )


@forecast_app.command("changes")
def changes(
    since: Annotated[
        str | None,
        typer.Option("--since", help="Start date (default: first day of the as-of quarter)."),
    ] = None,
    as_of: AsOfOption = None,
    by: ByOption = None,
    period_end: Annotated[
        str | None,
        typer.Option("--period-end", help="Last day of the period (default: end of the quarter)."),
    ] = None,
    fmt: FormatOption = OutputFormat.table,
    db: DbOption = None,
) -> None:
    """Pipeline changes since a date as a waterfall (balances to the cent) and slip rates."""
    from salespulse.forecast.changes import compute as changes_compute
    from salespulse.semantic import timecal
    from salespulse.semantic.timecal import Grain

    store = connect(db, create=False)
    end_ctx = context(store, as_of=parse_date(as_of, "as-of"))
    q = timecal.period_start(end_ctx.as_of, Grain.quarter, end_ctx.settings)
    start = parse_date(since, "since") or q
    if start > end_ctx.as_of:
        raise UserError(f"--since {start} is after the as-of date {end_ctx.as_of}")
    pend = parse_date(period_end, "period-end") or (
        timecal.next_period(q, Grain.quarter) - pd.Timedelta(days=1)
    )
    result = changes_compute(context(store, end_ctx.settings, start), end_ctx, pend)
    if fmt is OutputFormat.json:
        print_json(result.to_dict())
        return
    if by is not None:
        _by(by)
        if by != "rep":
            raise UserError("pipeline changes break down by rep only", hint="use --by rep")
        print_frame(result.slip, fmt, title=f"Slip rate per rep, {start} – {result.as_of}")
        return
    print_frame(
        result.waterfall(),
        fmt,
        title=f"Pipeline closing by {pend}: {start} → {result.as_of}",
    )
    if fmt is OutputFormat.table:
        n, cents = result.moved_backwards
        console.print(f"Moved backwards (still in the pipeline): {n} deals, {cents / 100:,.2f}")


@forecast_app.command("snapshot")
def snapshot(
    method: MethodOption = None,
    as_of: AsOfOption = None,
    weeks: Annotated[
        int,
        typer.Option("--weeks", min=1, max=260, help="Also the N-1 weekly snapshots before it."),
    ] = 1,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    db: DbOption = None,
) -> None:
    """Store the forecast as of a date (default today; past dates reconstructed from
    history), per method, per deal and aggregated."""
    from salespulse.forecast.snapshot import take

    store = connect(db, create=False, read_only=False)
    ctx = context(store, as_of=parse_date(as_of, "as-of"))
    dates = [ctx.as_of - pd.Timedelta(weeks=k) for k in range(weeks - 1, -1, -1)]
    total: dict[str, int] = {}
    with progress_bar(not quiet and weeks > 1) as bar:
        for i, d in enumerate(dates):
            counts = take(context(store, ctx.settings, d), _methods(method))
            for k, v in counts.items():
                total[k] = total.get(k, 0) + v
            bar("Snapshots", i + 1, len(dates))
    console.print(
        f"Stored {len(dates)} snapshot(s) up to {ctx.as_of}: "
        + ", ".join(f"{v:,} rows in {k}" for k, v in total.items())
    )


@forecast_app.command("category")
def category(
    deal_id: Annotated[str, typer.Argument(help="The deal.")],
    value: Annotated[str, typer.Argument(help="commit, best_case, pipeline or omitted.")],
    set_by: Annotated[str, typer.Option("--by", help="Who sets it (rep or manager).")],
    note: Annotated[str | None, typer.Option("--note", help="Why.")] = None,
    db: DbOption = None,
) -> None:
    """Override a deal's forecast category (stored with who and when)."""
    from salespulse.forecast.categories import set_category

    store = connect(db, create=False, read_only=False)
    try:
        set_category(store, deal_id, value, set_by, note)
        audit.record(store, "forecast.category", actor=set_by, subject=deal_id, value=value)
    finally:
        store.close()
    console.print(f"{deal_id}: {value} (set by {set_by})", highlight=False)


@forecast_app.command("adjust")
def adjust(
    rep_id: Annotated[str, typer.Argument(help="The rep.")],
    amount: Annotated[float, typer.Argument(help="The adjusted forecast for the period.")],
    set_by: Annotated[str, typer.Option("--by", help="Who sets it (the manager).")],
    period: Annotated[
        str | None, typer.Option("--period", help="First day of the quarter (default: current).")
    ] = None,
    note: Annotated[str | None, typer.Option("--note", help="Why.")] = None,
    db: DbOption = None,
) -> None:
    """Store a manager's adjusted forecast for a rep and quarter."""
    from salespulse.forecast.categories import set_adjustment
    from salespulse.semantic import timecal
    from salespulse.semantic.timecal import Grain

    store = connect(db, create=False, read_only=False)
    ctx = context(store)
    start = parse_date(period, "period") or timecal.period_start(
        ctx.as_of, Grain.quarter, ctx.settings
    )
    try:
        set_adjustment(store, rep_id, start, amount, set_by, note)
        audit.record(
            store, "forecast.adjust", actor=set_by, subject=rep_id, period=start, amount=amount
        )
    finally:
        store.close()
    console.print(
        f"{rep_id}, quarter from {start}: {amount:,.2f} (set by {set_by})", highlight=False
    )


def register(app: typer.Typer) -> None:
    app.add_typer(forecast_app, name="forecast")
