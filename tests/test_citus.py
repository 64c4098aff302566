"""`cdrstore db distribute`: refused where there is no Citus; on a Citus coordinator (`make
test-citus`), it places every table of the schema, moves a populated database's rows onto the
shards, and a second run changes nothing."""

from __future__ import annotations

import json

import psycopg
import pytest

from cdrstore.store import open_store
from cdrstore.store.schema import (
    DISTRIBUTED,
    LOCAL,
    REFERENCE,
    citus_placement,
    metadata,
)
from tests.conftest import on_citus, record

PLACED = {t.name: citus_placement(t) for t in metadata.sorted_tables}


def test_every_table_has_a_placement_and_app_keyed_tables_are_distributed():
    """Tables an app's rows fill are sharded by app; `apps` itself (one row an app, read before
    the app is known) is copied to every node."""
    assert PLACED["apps"] == PLACED["tokens"] == REFERENCE
    for table in metadata.sorted_tables:
        keys = [c.name for c in table.primary_key.columns]
        if keys[0] == "app_id" and len(keys) > 1:
            assert PLACED[table.name] == DISTRIBUTED, table.name
        assert PLACED[table.name] in (DISTRIBUTED, REFERENCE, LOCAL)


def test_a_table_keyed_by_app_is_distributed_unless_it_says_otherwise():
    from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, String, Table

    scratch = MetaData()
    keyed = Table(
        "k",
        scratch,
        Column("app_id", String),
        Column("x", String),
        PrimaryKeyConstraint("app_id", "x"),
    )
    unkeyed = Table("u", scratch, Column("session", String, primary_key=True))
    local = Table("l", scratch, Column("app_id", String, primary_key=True), info={"citus": LOCAL})
    wrong = Table("w", scratch, Column("a", String, primary_key=True), info={"citus": "sharded"})
    assert citus_placement(keyed) == DISTRIBUTED
    assert citus_placement(unkeyed) == REFERENCE
    assert citus_placement(local) == LOCAL
    with pytest.raises(ValueError, match="unknown Citus placement"):
        citus_placement(wrong)


def test_distribute_is_refused_without_citus(cli, request):
    if on_citus(request):
        pytest.skip("the database is a Citus coordinator here")
    done = cli("db", "distribute", check=False)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "Citus" in done.stderr and done.stdout == ""


def test_a_second_run_changes_nothing_and_says_so(cli, request):
    if not on_citus(request):
        pytest.skip("needs a Citus coordinator (make test-citus)")
    done = cli("db", "distribute")
    assert "nothing to change" in done.stderr
    for name, placement in PLACED.items():
        if placement != LOCAL:
            assert f"{name}: already {placement}, unchanged" in done.stdout


def test_a_populated_database_moves_onto_the_shards(postgres_url, cli, request):
    """A single-node database distributed as it is: its rows reach the shards, the coordinator's
    own copies are emptied, every page still answers."""
    if not on_citus(request):
        pytest.skip("needs a Citus coordinator (make test-citus)")
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(f'DROP TABLE IF EXISTS "{table.name}" CASCADE')
        conn.execute("DROP TABLE IF EXISTS alembic_version")
    cli("db", "upgrade")
    cli("apps", "create", "Acme", "--id", "acme")
    lines = "\n".join(
        json.dumps(record(id=f"r{i}", callDate=f"2022-{1 + i % 3:02d}-07T00:00:00Z"))
        for i in range(30)
    )
    cli("import", "--app", "acme", "-", input=lines.encode())
    done = cli("db", "distribute")
    assert "calls: distributed by app_id" in done.stdout
    assert "apps: made a reference table" in done.stdout
    assert "calls: emptied the coordinator's local copy" in done.stdout
    with psycopg.connect(postgres_url) as conn:
        shards = conn.execute(
            "SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = 'calls_y2022m02'::regclass"
        ).fetchone()
    assert shards is not None and shards[0] > 0
    exported = cli("export", "--app", "acme", "--format", "ndjson")
    assert sorted(json.loads(line)["id"] for line in exported.stdout.splitlines()) == sorted(
        f"r{i}" for i in range(30)
    )
    store = open_store(postgres_url)
    try:
        assert store.records.count_records("acme") == 30
    finally:
        store.close()
