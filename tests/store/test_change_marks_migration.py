"""Migration 0010 on a database whose change log holds entries: they are marked by the times they
were logged at, so that trimming by time finds them as it finds the entries logged after it
(both backends)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from cdrstore.store import Store
from tests.conftest import store_at_revision

BEFORE = "0009"  # the revision before change marks

# (position, logged_at) of the entries logged before the upgrade: three writes, the second
# logged at an earlier time than the first (another writer's clock).
LOGGED = [(1, 5_000), (2, 5_000), (3, 4_000), (4, 9_000), (5, 9_000)]


@pytest.fixture(params=["sqlite", "postgresql"])
def old_store(request: pytest.FixtureRequest, tmp_path) -> Iterator[Store]:
    """A store migrated only up to BEFORE, with LOGGED in its change log."""
    with store_at_revision(request.param, tmp_path, BEFORE) as store:
        _log_as_before(store)
        yield store


def _log_as_before(store: Store) -> None:
    """LOGGED in the change log of an app acme, written as the store wrote it then."""
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
