"""SQLite query plans the ingest rate depends on (the planner may choose otherwise as data grows)."""

from __future__ import annotations

import sqlite3

from cdrstore.store import open_store
from cdrstore.store.sqlite import EXISTING_SQL


def test_existing_ids_are_probed_in_the_identity_index(tmp_path):
    path = tmp_path / "p.db"
    store = open_store(f"sqlite:///{path}")
    store.upgrade()
    store.close()
    with sqlite3.connect(path) as conn:
        plan = " | ".join(
            row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {EXISTING_SQL}", ("[]", "a"))
        )
    assert "SEARCH c USING INDEX" in plan and "(app_id=? AND id=?)" in plan, plan
