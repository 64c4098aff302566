"""A source's position is kept in the same transaction as the records read up to it: both or
neither, on both backends."""

from __future__ import annotations

import msgspec
import pytest

from cdrstore.ops.accounts import ensure_app
from cdrstore.ops.sources import ingest_from_source, source_position
from cdrstore.validation import decode_record
from tests.conftest import record


def one(record_id: str):
    return [decode_record(msgspec.json.encode(record(id=record_id)))]


def test_records_and_position_are_kept_together(store):
    ensure_app(store, "acme", "Acme")
    assert source_position(store, "acme", "kamailio:x") is None
    ingest_from_source(store, "acme", "kamailio:x", one("a"), "17")
    assert source_position(store, "acme", "kamailio:x") == "17"
    ingest_from_source(store, "acme", "kamailio:x", [], "18")  # nothing new, position moves on
    assert source_position(store, "acme", "kamailio:x") == "18"
    assert source_position(store, "acme", "mirror:y") is None
    assert store.records.count_records("acme") == 1


def test_a_failed_position_write_keeps_no_records(store, monkeypatch):
    ensure_app(store, "acme", "Acme")
    writer_type = type(store.records).writer

    def failing_writer(self, app_id):
        context = writer_type(self, app_id)

        class Failing:
            def __enter__(self):
                writer = context.__enter__()
                writer.keep_position = lambda *_: (_ for _ in ()).throw(RuntimeError("disk gone"))
                return writer

            def __exit__(self, *exc):
                return context.__exit__(*exc)

        return Failing()

    monkeypatch.setattr(type(store.records), "writer", failing_writer)
    with pytest.raises(RuntimeError):
        ingest_from_source(store, "acme", "kamailio:x", one("a"), "17")
    monkeypatch.undo()
    assert store.records.count_records("acme") == 0
    assert source_position(store, "acme", "kamailio:x") is None
