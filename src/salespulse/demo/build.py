"""Build the demo data set (pure, deterministic) and write it into a store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date

import numpy as np
import pyarrow as pa

from salespulse.demo.attributes import attributes_table
from salespulse.demo.flow import Chunk, Offsets, Totals
from salespulse.demo.model import get_scale
from salespulse.demo.patterns import PLANTED
from salespulse.demo.targets import targets_table
from salespulse.demo.world import build_world
from salespulse.warehouse.schema import TABLES
from salespulse.warehouse.store import Store

#: ``(step, done, total)``, called as the work proceeds.
Progress = Callable[[str, int, int], None]

STEP_SETUP = "Company, reps, accounts"
STEP_FLOW = "Leads, deals, activities"
STEP_TARGETS = "Targets"


def iter_tables(
    seed: int, scale: str, today: date, progress: Progress | None = None
) -> Iterator[tuple[str, pa.Table]]:
    """The demo data as ``(table name, rows)`` pieces; a table may come in several pieces.

    Deterministic: the same ``seed``, ``scale`` and ``today`` give the same rows. Everything
    happens before 00:00 UTC of ``today``.
    """
    sc = get_scale(scale)
    report = progress or (lambda step, done, total: None)
    report(STEP_SETUP, 0, 1)
    world, reference = build_world(seed, sc, today)
    yield from reference.items()
    report(STEP_SETUP, 1, 1)
    years = today.year - world.first_year + 1
    totals = Totals(
        won_eur=np.zeros((world.reps.n, 4 * years)), sqls=np.zeros((world.n_teams, 12 * years))
    )
    offsets = Offsets(contracts=int(reference["contracts"].num_rows))
    report(STEP_FLOW, 0, sc.chunks)
    for k in range(sc.chunks):
        chunk = Chunk(
            world,
            k,
            sc.leads_per_chunk,
            backlog=PLANTED.backlog_for(sc.name) if k == 0 else 0,
            stale=PLANTED.stale_deals if k == 0 else 0,
        )
        tables = chunk.run(offsets, totals)
        yield from tables.items()
        attr_rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(3, k)))
        yield "custom_attributes", attributes_table(tables, attr_rng)
        del chunk, tables
        report(STEP_FLOW, k + 1, sc.chunks)
    report(STEP_TARGETS, 0, 1)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2,)))
    yield "targets", targets_table(world, totals, rng)
    report(STEP_TARGETS, 1, 1)


def build(
    seed: int, scale: str, today: date, progress: Progress | None = None
) -> dict[str, pa.Table]:
    """The whole demo data set in memory, one Arrow table per canonical table."""
    pieces: dict[str, list[pa.Table]] = {t.name: [] for t in TABLES}
    for name, rows in iter_tables(seed, scale, today, progress):
        pieces[name].append(rows)
    return {
        name: pa.concat_tables(parts) if parts else pa.table({})
        for name, parts in pieces.items()
        if parts
    }


def generate(
    store: Store, seed: int, scale: str, today: date, progress: Progress | None = None
) -> dict[str, int]:
    """Replace the store's data with the demo data set, in one transaction.

    Returns the number of rows written per table.
    """
    counts = {t.name: 0 for t in TABLES}
    with store.transaction():
        emptied: set[str] = set()
        for name, rows in iter_tables(seed, scale, today, progress):
            counts[name] += store.load(name, rows, replace=name not in emptied)
            emptied.add(name)
        for name in counts:
            if name not in emptied:
                store.load(name, pa.table({}), replace=True)
    return counts
