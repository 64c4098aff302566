"""Two PostgreSQL writers of one app, the first held at the end of its transaction (its change
log written, not committed) while the second runs into what it holds."""

from __future__ import annotations

import threading
import time
from typing import NamedTuple

import psycopg
import pytest

from cdrstore.store.pgwriter import PostgresWriter


class HeldCommit(NamedTuple):
    held: threading.Event  # set when the first writer of the app is about to commit
    release: threading.Event  # set to let it commit


def hold_first_commit(monkeypatch: pytest.MonkeyPatch, app_id: str) -> HeldCommit:
    """Hold the app's first writer to log its changes, until `release` is set (30 s at most)."""
    held, release = threading.Event(), threading.Event()
    log_changes = PostgresWriter.log_changes

    def log_then_hold(writer: PostgresWriter) -> None:
        log_changes(writer)
        if writer.app_id == app_id and not held.is_set():
            held.set()
            release.wait(30)

    monkeypatch.setattr(PostgresWriter, "log_changes", log_then_hold)
    return HeldCommit(held, release)


def wait_for_a_lock_wait(url: str, timeout: float = 30) -> None:
    """Return once a session of the URL's database waits on a lock; fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'"
            ).fetchone()
        if row and row[0]:
            return
        assert time.monotonic() < deadline, "the second writer never waited"
        time.sleep(0.05)
