"""Found tokens kept by a PostgreSQL serving process (store/tokencache.py): served without a round
trip, and forgotten the moment another process revokes a token or deletes its app, or while the
process cannot hear about changes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import psycopg
import pytest
from sqlalchemy import event

from cdrstore.errors import Unauthenticated
from cdrstore.ops.accounts import authenticate, delete_app, ensure_app, issue_token, revoke_token
from cdrstore.store import Store, open_store
from cdrstore.store.tokencache import CHANNEL, TTL
from cdrstore.tokens import hash_secret, new_secret
from tests.conftest import empty_postgres

WAIT = 3.0  # well under the cache's TTL: a missed notice would keep the token for TTL seconds
assert WAIT < TTL


@pytest.fixture
def two_processes(postgres_url: str) -> Iterator[tuple[Store, Store]]:
    """A serving process's store and another process's (the CLI's) on one database."""
    empty_postgres(postgres_url)
    server, other = open_store(postgres_url), open_store(postgres_url)
    yield server, other
    server.close()
    other.close()


def statements(store: Store) -> list[str]:
    seen: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


def eventually(check: Callable[[], bool], within: float = WAIT) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


def refused(store: Store, secret: str) -> bool:
    try:
        authenticate(store, secret)
    except Unauthenticated:
        return True
    return False


def listening(store: Store) -> bool:
    """Whether the store's process is told of changes (then a second lookup makes no query)."""
    return store.accounts._cache is not None and store.accounts._cache._listening


def kept(store: Store, secret: str) -> None:
    """The token found once the process listens, so that the cache holds it."""
    authenticate(store, secret)  # starts the listener
    assert eventually(lambda: listening(store))
    authenticate(store, secret)
    cache = store.accounts._cache
    assert cache is not None and len(cache._entries) == 1


def test_a_found_token_is_served_without_a_query(two_processes):
    server, other = two_processes
    ensure_app(other, "acme", "Acme")
    secret = issue_token(other, "acme", frozenset({"read"})).secret
    kept(server, secret)
    seen = statements(server)
    assert authenticate(server, secret).app_id == "acme"
    assert [s for s in seen if "tokens" in s] == []


def test_a_revocation_elsewhere_ends_the_token_at_once(two_processes):
    server, other = two_processes
    ensure_app(other, "acme", "Acme")
    issued = issue_token(other, "acme", frozenset({"read"}))
    kept(server, issued.secret)
    revoke_token(other, issued.info.token_id)
    assert eventually(lambda: refused(server, issued.secret))


def test_deleting_the_app_elsewhere_ends_its_tokens(two_processes):
    server, other = two_processes
    ensure_app(other, "acme", "Acme")
    secret = issue_token(other, "acme", frozenset({"read"})).secret
    kept(server, secret)
    delete_app(other, "acme", force=True)
    assert eventually(lambda: refused(server, secret))


def test_while_deaf_every_lookup_asks_the_database(two_processes, postgres_url):
    """The listening connection cut: nothing is served from the cache until it is back, so a
    revocation made meanwhile (whose notice nobody heard) counts at once."""
    server, other = two_processes
    ensure_app(other, "acme", "Acme")
    issued = issue_token(other, "acme", frozenset({"read"}))
    kept(server, issued.secret)
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND query = %s",
            (f"LISTEN {CHANNEL}",),
        )
    assert eventually(lambda: not listening(server))
    with other.engine.begin() as connection:  # no notice: as if sent while the listener was down
        connection.exec_driver_sql(
            "UPDATE tokens SET revoked_at = 1 WHERE token_id = %(id)s", {"id": issued.info.token_id}
        )
    assert refused(server, issued.secret)


def test_the_same_process_sees_its_own_revocation_at_once(two_processes):
    server, _ = two_processes
    ensure_app(server, "acme", "Acme")
    issued = issue_token(server, "acme", frozenset({"read"}))
    kept(server, issued.secret)
    revoke_token(server, issued.info.token_id)
    assert refused(server, issued.secret)


def test_an_unknown_token_is_never_kept(two_processes):
    server, _ = two_processes
    ensure_app(server, "acme", "Acme")
    secret = issue_token(server, "acme", frozenset({"read"})).secret
    kept(server, secret)
    with pytest.raises(Unauthenticated):
        authenticate(server, new_secret())
    cache = server.accounts._cache
    assert cache is not None and list(cache._entries) == [hash_secret(secret)]
