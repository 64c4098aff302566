"""A writer may ask for a larger page cache (`cdrstore import --cache-mb`): on SQLite the cache is
the connection's, raised for the transaction and given back after it, committed or not; on
PostgreSQL it is the server's, and the request changes nothing but the write goes on as usual."""

from __future__ import annotations

import sqlite3

import msgspec
import pytest

from cdrstore.store import PreparedBatch, Store, prepare
from cdrstore.store.sqlite import PAGE_CACHE_KIB, SqliteWriter
from cdrstore.validation import decode_record
from tests.conftest import record


def batch(*ids: str) -> PreparedBatch:
    return prepare([decode_record(msgspec.json.encode(record(id=i))) for i in ids])


def cache_kib(connection: sqlite3.Connection) -> int:
    (size,) = connection.execute("PRAGMA cache_size").fetchone()
    return -int(size)  # negative: KiB, as the store sets it


def test_a_writer_with_a_cache_writes_as_any_other(store: Store):
    store.accounts.create_app("Acme", "acme")
    with store.records.writer("acme", cache_mb=32) as writer:
        summary = writer.write(batch("a", "b"))
    assert summary.inserted == 2
    assert store.records.count_records("acme") == 2


def test_sqlite_raises_the_cache_for_the_transaction_then_gives_it_back(store: Store, db_url: str):
    if not db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's page cache is the server's")
    store.accounts.create_app("Acme", "acme")
    with store.records.writer("acme", cache_mb=32) as writer:
        assert isinstance(writer, SqliteWriter)
        connection = writer.cursor.connection
        assert cache_kib(connection) == 32 * 1024
        writer.write(batch("a"))
    assert cache_kib(connection) == PAGE_CACHE_KIB

    with pytest.raises(RuntimeError), store.records.writer("acme", cache_mb=48) as writer:
        assert isinstance(writer, SqliteWriter)
        connection = writer.cursor.connection
        writer.write(batch("b"))
        raise RuntimeError("the caller gives up")
    assert cache_kib(connection) == PAGE_CACHE_KIB
    assert store.records.count_records("acme") == 1  # "b" rolled back

    with store.records.writer("acme") as writer:  # no cache asked for: the usual one
        assert isinstance(writer, SqliteWriter)
        assert cache_kib(writer.cursor.connection) == PAGE_CACHE_KIB
