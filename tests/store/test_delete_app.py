"""Deleting an app leaves nothing of it behind: a write racing the delete is refused, not stored
for a later app of the same ID to inherit."""

from __future__ import annotations

import msgspec
import pytest

from cdrstore.ops.accounts import delete_app, ensure_app
from cdrstore.query import PageQuery
from cdrstore.store import UnknownApp
from cdrstore.validation import decode_record
from tests.conftest import record


def one(record_id: str):
    return [decode_record(msgspec.json.encode(record(id=record_id)))]


def test_a_write_after_the_delete_is_refused_and_nothing_comes_back(store):
    ensure_app(store, "gone", "Gone")
    store.records.ingest("gone", one("before"))
    delete_app(store, "gone", force=True)
    with pytest.raises(UnknownApp):
        store.records.ingest("gone", one("late"))  # a POST authenticated before the delete
    ensure_app(store, "gone", "Gone again")
    assert store.records.count_records("gone") == 0
    assert list(store.records.iter_docs("gone", PageQuery())) == []


def test_writing_for_an_app_that_never_was_is_refused(store):
    with pytest.raises(UnknownApp):
        store.records.ingest("ghost", one("x"))


def test_a_driver_error_inside_a_write_is_a_store_error(store):
    from cdrstore.store import StoreError

    ensure_app(store, "acme", "Acme")
    twice = one("same") + one("same")  # below validation: the store's own constraint refuses it
    with pytest.raises(StoreError):
        store.records.ingest("acme", twice)
    assert store.records.count_records("acme") == 0
