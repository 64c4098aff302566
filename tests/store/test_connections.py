"""PostgreSQL connections the server ended (a restart, pg_terminate_backend) are replaced at
checkout without a request failing, with no round trip spent checking live ones."""

from __future__ import annotations

import time

import psycopg
from sqlalchemy import event

from cdrstore.query import parse_call_query
from cdrstore.store import open_store
from tests.conftest import empty_postgres


def test_connections_ended_by_the_server_are_replaced_unseen(postgres_url):
    empty_postgres(postgres_url)
    store = open_store(postgres_url)
    try:
        store.accounts.create_app("Acme", app_id="acme")
        with store.engine.connect() as one, store.engine.connect() as two:  # two pooled
            pids = {
                c.connection.driver_connection.info.backend_pid  # type: ignore[union-attr]
                for c in (one, two)
            }
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) pid", (list(pids),)
            )
            deadline = time.monotonic() + 10  # a backend ends a moment after it is told to
            while admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (list(pids),)
            ).fetchone() != (0,):
                assert time.monotonic() < deadline
                time.sleep(0.01)
        seen: list[str] = []
        event.listen(store.engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
        assert store.records.page("acme", parse_call_query([])).docs == []
        assert store.accounts.get_app("acme") is not None
        assert not [s for s in seen if s.strip().lower() == "select 1"]  # no ping
        with store.engine.connect() as connection:  # a new connection, set up as the others
            assert connection.exec_driver_sql("SHOW jit").scalar() == "off"
    finally:
        store.close()
