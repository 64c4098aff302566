"""Migration 0010 on a database whose change log holds entries: they are marked by the times they
were logged at, so that trimming by time finds them as it finds the entries logged after it
(both backends)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from cdrstore.store import Store, migrate, open_store
from tests.conftest import POSTGRES_ADMIN_URL, _postgres_unreachable, require
from tests.support.postgres import create_postgres_database, drop_postgres_database

BEFORE = "0009"  # the revision before change marks

# (position, logged_at) of the entries logged before the upgrade: three writes, the second
# logged at an earlier time than the first (another writer's clock).
LOGGED = [(1, 5_000), (2, 5_000), (3, 4_000), (4, 9_000), (5, 9_000)]


@pytest.fixture(params=["sqlite", "postgresql"])
def old_store(request: pytest.FixtureRequest, tmp_path) -> Iterator[Store]:
    """A store migrated only up to BEFORE, with LOGGED in its change log."""
    if request.param == "sqlite":
        url, drop = f"sqlite:///{tmp_path / 'old.db'}", None
    else:
        require(_postgres_unreachable(), "the PostgreSQL tests")
        name = f"cdrstore_test_migration_{secrets.token_hex(3)}"
        url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        create_postgres_database(url, POSTGRES_ADMIN_URL)
        drop = url
    store = open_store(url)
    migrate.upgrade(store.engine, BEFORE)
    with store.engine.begin() as connection:
        connection.execute(
            text("INSERT INTO apps (app_id, name, created_at) VALUES ('acme', 'Acme', 0)")
        )
        for position, logged_at in LOGGED:
            connection.execute(
                text(
                    "INSERT INTO change_log (app_id, position, op, id, logged_at)"
                    " VALUES ('acme', :position, 2, :id, :at)"
                ),
                {"position": position, "id": f"r{position}", "at": logged_at},
            )
        connection.execute(
            text(
                "INSERT INTO change_heads (app_id, position, trimmed_through) VALUES ('acme', 5, 0)"
            )
        )
    yield store
    store.close()
    if drop is not None:
        drop_postgres_database(drop, POSTGRES_ADMIN_URL)


def test_the_upgrade_marks_the_entries_logged_before_it(old_store):
    old_store.upgrade()
    assert old_store.is_current()
    # Before 4,500: the entry logged at 4,000, and every entry before it.
    assert old_store.records.trim_changes(4_500) == 3
    assert old_store.records.change_bounds("acme") == (3, 5)
    assert old_store.records.trim_changes(4_500) == 0
    assert [c.position for c in old_store.records.changes("acme", 0, 10)] == [4, 5]
    assert old_store.records.trim_changes(9_001) == 2
    assert old_store.records.change_bounds("acme") == (5, 5)
