"""Crash safety: the server is killed with SIGKILL in the middle of large POST ingests, again and
again; after each restart every batch is there entirely or not at all, every acknowledged batch is
there, the per-hour counts agree with the records, and the database passes its integrity check."""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time

import httpx
import msgspec

from cdrstore.query import PageQuery
from cdrstore.store import open_store
from cdrstore.testing import app_with_token, start_server
from tests.conftest import record

BATCH = 3000
KILLS = int(os.environ.get("CDRSTORE_CRASH_KILLS", "4"))  # `make crash` runs 25


def test_sigkill_during_ingest_loses_nothing_acknowledged(db_url, tmp_path):
    token = app_with_token(db_url, "crash")
    store = open_store(db_url)
    rng = random.Random(5)
    sent: dict[str, int] = {}
    acknowledged: set[str] = set()
    for round_ in range(KILLS):
        proc, base = start_server(db_url, cwd=tmp_path)
        stop = threading.Event()

        def post_batches(round_: int = round_, base: str = base) -> None:
            with httpx.Client(base_url=base, timeout=30) as http:
                for b in range(1000):
                    if stop.is_set():
                        return
                    name = f"r{round_}-b{b}"
                    body = msgspec.json.encode(
                        [
                            record(
                                id=f"{name}-{i}",
                                hid=name,
                                callDate=f"2026-0{1 + b % 9}-0{1 + i % 9}T10:00:00Z",
                            )
                            for i in range(BATCH)
                        ]
                    )
                    sent[name] = BATCH
                    try:
                        r = http.post(
                            "/v1/api/apps/crash/data/call-detail",
                            content=body,
                            headers={
                                "Authorization": f"Bearer {token}",
                                "Content-Type": "application/json",
                            },
                        )
                    except httpx.TransportError:
                        return
                    if r.status_code == 200:
                        acknowledged.add(name)

        writer = threading.Thread(target=post_batches)
        writer.start()
        time.sleep(rng.uniform(0.5, 2.5))
        proc.kill()  # SIGKILL: no shutdown hook, no flush
        proc.wait()
        stop.set()
        writer.join()

    store.records.seek_min_offset = 0
    held: dict[str, int] = {}
    for doc in store.records.iter_docs("crash", PageQuery()):
        name = msgspec.json.decode(doc)["hid"]
        held[name] = held.get(name, 0) + 1
    assert acknowledged, "no batch was acknowledged before the kills: the test proved nothing"
    assert all(held.get(name) == BATCH for name in acknowledged)
    assert all(n == BATCH for n in held.values()), {k: v for k, v in held.items() if v != BATCH}
    assert set(held) <= set(sent)
    assert store.records.count_records("crash") == sum(held.values())
    if db_url.startswith("sqlite"):
        path = db_url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    else:
        with store.engine.connect() as conn:
            ids = conn.exec_driver_sql(
                "SELECT count(*) FROM call_ids WHERE app_id = 'crash'"
            ).scalar_one()
            assert ids == sum(held.values())
        assert postgres_corruption(store) == []
    store.close()


def postgres_corruption(store) -> list[str]:  # type: ignore[no-untyped-def]
    """What amcheck (PostgreSQL's integrity checker) finds wrong: every heap, and every B-tree
    index checked against its heap (each heap tuple must be in the index)."""
    found: list[str] = []
    with store.engine.begin() as conn:
        conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS amcheck")
        indexes = conn.exec_driver_sql(
            "SELECT c.oid, c.relname FROM pg_class c JOIN pg_am a ON a.oid = c.relam"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind = 'i' AND a.amname = 'btree' AND n.nspname = 'public'"
        ).all()
        for oid, name in indexes:
            try:
                conn.exec_driver_sql(f"SELECT bt_index_check({oid}, true)")
            except Exception as exc:
                found.append(f"index {name}: {exc}")
        heaps = conn.exec_driver_sql(
            "SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind = 'r' AND n.nspname = 'public'"
        ).all()
        for oid, name in heaps:
            rows = conn.exec_driver_sql(f"SELECT msg FROM verify_heapam({oid})").all()
            found += [f"table {name}: {msg}" for (msg,) in rows]
    assert indexes and heaps, "amcheck looked at nothing"
    return found
