"""PostgreSQL sessions the product opens run without JIT compilation (warehouse/tuning.py:
the engine's large generated SQL made PostgreSQL compile for seconds what runs in
milliseconds)."""

from __future__ import annotations

import pytest

from salespulse.warehouse.store import connect

pytestmark = pytest.mark.postgres


def test_jit_is_off_for_the_store_session(pg_url: str) -> None:
    store = connect(pg_url)
    try:
        with store.con.con.cursor() as cur:  # type: ignore[attr-defined]  # psycopg
            cur.execute("SELECT current_setting('jit')")
            row = cur.fetchone()
        assert row == ("off",)
    finally:
        store.close()
