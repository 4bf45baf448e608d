"""``salespulse score train|evaluate|show``: the likelihood-to-close and lead models (W9b).

Retraining is one command (cron, e.g. weekly): ``0 5 * * 1 salespulse score train --quiet``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import pandas as pd
import typer

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
from salespulse.scoring import predict, registry, train
from salespulse.semantic.query import context, parse_date
from salespulse.warehouse.store import connect

app = typer.Typer(help="Likelihood to close and lead scores: train, evaluate, show.")


class Target(StrEnum):
    deal_won = "deal_won"
    lead_won = "lead_won"


TargetOption = Annotated[Target, typer.Option("--target", help="Which model.")]
QuietOption = Annotated[bool, typer.Option("--quiet", help="No progress bar.")]

_TRAIN = {Target.deal_won: train.train_deals, Target.lead_won: train.train_leads}


def _models_frame(e: dict[str, Any]) -> pd.DataFrame:
    f = pd.DataFrame(e["models"])
    f["chosen"] = f["name"] == e["chosen"]
    return f[["name", "auc", "brier", "log_loss", "ece", "n", "chosen"]]


@app.command("train")
def train_cmd(
    target: Annotated[
        list[Target] | None,
        typer.Option("--target", help="Which model(s); default both."),
    ] = None,
    quiet: QuietOption = False,
    db: DbOption = None,
) -> None:
    """Train, evaluate on a time-based hold-out, and store the models (versioned)."""
    store = connect(db)
    refused: UserError | None = None
    stored = 0
    try:
        for tg in target or list(Target):
            with progress_bar(not quiet) as tick:
                try:
                    trained = _TRAIN[tg](store, progress=tick)
                except UserError as exc:
                    if target:  # asked for explicitly: the user's problem
                        raise
                    console.print(f"{tg}: {exc.message}", highlight=False, markup=False)
                    refused = exc
                    continue
            model_id = registry.save(store, trained)
            stored += 1
            console.print(
                f"{tg}: stored model {model_id} — chosen {trained.chosen}; {trained.verdict}",
                highlight=False,
                markup=False,
            )
            if trained.refused:
                names = ", ".join(f"{k} (AUC {v:.2f})" for k, v in trained.refused.items())
                console.print(f"  refused (gives the outcome away): {names}", markup=False)
    finally:
        store.close()
    if not stored and refused is not None:  # nothing could be trained: the gate's error
        raise refused


@app.command("evaluate")
def evaluate_cmd(
    target: TargetOption = Target.deal_won,
    fmt: FormatOption = OutputFormat.table,
    quiet: QuietOption = False,
    db: DbOption = None,
) -> None:
    """Evaluate the models side by side on the time-based hold-out (nothing is stored)."""
    store = connect(db, create=False)
    try:
        with progress_bar(not quiet and fmt is OutputFormat.table) as tick:
            trained = _TRAIN[target](store, progress=tick)
        e = trained.evaluation()
    finally:
        store.close()
    if fmt is OutputFormat.json:
        print_json(e)
        return
    print_frame(_models_frame(e), fmt, title=f"{e['target']}: {e['verdict']}")


@app.command("show")
def show_cmd(
    target: TargetOption = Target.deal_won,
    scores: Annotated[
        bool, typer.Option("--scores", help="List the open deals (leads) with scores.")
    ] = False,
    rep: Annotated[str | None, typer.Option("--rep", help="Only this rep's.")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Scores as of this day.")] = None,
    fmt: FormatOption = OutputFormat.table,
    db: DbOption = None,
) -> None:
    """The stored model's card, or (``--scores``) the scored open deals or leads."""
    store = connect(db, create=False)
    try:
        m = registry.latest(store, target)
        assert m is not None
        if not scores:
            card = m.card()
            if fmt is OutputFormat.json:
                print_json(card)
            else:
                print_frame(
                    _models_frame(card),
                    fmt,
                    title=f"{target} model {m.model_id}, trained {m.trained_at:%Y-%m-%d %H:%M} "
                    f"UTC: chosen {m.chosen}; {m.verdict}",
                )
            return
        ctx = context(store, as_of=parse_date(as_of, "as-of"))
        if target is Target.deal_won:
            f = predict.score_deals(ctx, model=m)
            cols = ["deal_id", "name", "rep_id", "stage_id", "amount_eur", "p_win", "reasons"]
        else:
            f = predict.score_leads(ctx, model=m)
            cols = ["lead_id", "company", "rep_id", "status", "channel", "p_won", "reasons"]
        if rep:
            f = f[f["rep_id"] == rep]
        f = f.sort_values(cols[5], ascending=False)[cols]
        f["reasons"] = f["reasons"].map("; ".join)
    finally:
        store.close()
    print_frame(f.reset_index(drop=True), fmt, title=f"{target} scores")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="score")
