"""The guard behind `every_statement_names_its_app` (conftest) sees the statements and can fail."""

from __future__ import annotations

from tests import conftest
from tests.conftest import calls_path, record, unscoped


def test_the_tracer_sees_the_api_statements(client, auth):
    client.post(calls_path("acme"), json=[record()], headers=auth)
    client.get(calls_path("acme"), headers=auth)
    seen = " ".join(conftest._statements)
    assert "FROM calls" in seen and "call_counts" in seen


def test_the_guard_flags_unscoped_statements():
    assert unscoped("SELECT doc FROM calls WHERE id = ?")
    assert unscoped("DELETE FROM call_counts WHERE bucket < %s")
    assert unscoped("INSERT INTO call_ids (id, call_date) VALUES (%s, %s)")
    assert not unscoped("SELECT doc FROM calls WHERE app_id = ? AND id = ?")
    assert not unscoped("INSERT INTO calls (app_id, call_date, id) VALUES (?, ?, ?)")
    assert not unscoped(
        "ALTER TABLE calls ATTACH PARTITION calls_y2026m01 FOR VALUES FROM (1) TO (2)"
    )
    assert not unscoped("SELECT token_id FROM tokens WHERE token_hash = ?")
