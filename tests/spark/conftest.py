"""A real PySpark local-mode session over a Parquet snapshot of the demo data.

One Spark context per test session (``local[2]``, 4 shuffle partitions, no UI): every test
here is in xdist group ``spark``, so one worker runs them all. Java is required: without
it the fixture fails with a clear message (never a skip).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from salespulse.demo import generate
from salespulse.warehouse import spark
from salespulse.warehouse.store import Store, connect

TODAY = date(2026, 11, 15)
#: The session every test here shares: two cores, few shuffle partitions (demo data).
OPTIONS = "?master=local[2]&spark.sql.shuffle.partitions=4"


@dataclass
class DemoPair:
    """The demo data on DuckDB and the same data as a snapshot on Spark."""

    duckdb: Store
    spark: Store
    db: str
    snapshot: Path

    @property
    def url(self) -> str:
        return f"spark:{self.snapshot}{OPTIONS}"


def require_java() -> None:
    java_home = os.environ.get("JAVA_HOME")
    if shutil.which("java") is None and not (java_home and Path(java_home, "bin/java").exists()):
        pytest.fail(
            "the spark tests need Java 17 (java on PATH or JAVA_HOME): "
            "apt-get install -y openjdk-17-jre-headless",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def demo_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoPair]:
    require_java()
    root = tmp_path_factory.mktemp("spark")
    db = root / "demo.duckdb"
    writer = connect(db)
    generate(writer, 1, "demo", TODAY)
    writer.close()
    duck = connect(db, create=False)  # a reader: the CLI tests open the file beside it
    snapshot = root / "snapshot"
    spark.export(duck, snapshot)
    sp = connect(f"spark:{snapshot}{OPTIONS}")
    yield DemoPair(duck, sp, str(db), snapshot)
    sp.close()
    duck.close()
