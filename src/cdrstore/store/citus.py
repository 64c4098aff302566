"""Citus: placing the schema's tables on a cluster (`cdrstore db distribute`), and telling whether a
database is one.

Each table goes where `schema.citus_placement` says: distributed by `app_id` (every such table
co-located with the first, so an app's identities, records, counts and the rest share a shard),
a reference table, or left local on the coordinator. Run on the coordinator after
`cdrstore db upgrade`; a table already placed is left as it is, so a second run changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy.engine import Engine

from . import migrate
from .errors import StoreError
from .schema import DISTRIBUTED, DISTRIBUTION_COLUMN, LOCAL, REFERENCE, citus_placement, metadata

DEFAULT_SHARD_COUNT: Final = 32


class NotCitus(StoreError):
    """The database is not a Citus coordinator (no `citus` extension)."""


class DistributionFailed(StoreError):
    """Citus refused to place a table (no worker registered, a conflicting placement, ...)."""


@dataclass
class Distribution:
    """What `distribute` did: the tables it placed now, those it found placed already."""

    placed: list[tuple[str, str]] = field(default_factory=list)  # (table, what was done)
    already: list[tuple[str, str]] = field(default_factory=list)  # (table, how it is placed)
    emptied_locally: list[str] = field(default_factory=list)  # local copies truncated after


def is_citus(connection: Any) -> bool:
    """Whether the database has the citus extension (a DB-API cursor or connection)."""
    row = connection.execute("SELECT 1 FROM pg_extension WHERE extname = 'citus'").fetchone()
    return row is not None


def _placed(conn: Any) -> dict[str, str]:
    """How each table Citus knows is placed now: table name -> placement."""
    rows = conn.execute(
        "SELECT c.relname, p.partmethod, p.repmodel FROM pg_dist_partition p"
        " JOIN pg_class c ON c.oid = p.logicalrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema()"
    ).fetchall()
    placed = {}
    for name, method, model in rows:
        if method == "h":
            placed[name] = DISTRIBUTED
        elif model == "t":
            placed[name] = REFERENCE
        else:
            placed[name] = LOCAL  # a Citus-managed local table
    return placed


def _exists(conn: Any, name: str) -> bool:
    return bool(conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()[0])


def _left_on_coordinator(conn: Any, name: str) -> bool:
    """Whether the coordinator's own copy of a table (and of its partitions) still holds data:
    what distributing leaves behind, never read again. Measured by size, as a query on the table
    would be answered from the shards."""
    row = conn.execute(
        "SELECT coalesce(sum(pg_relation_size(relid)), 0) FROM pg_partition_tree(%s)", (name,)
    ).fetchone()
    return bool(row[0])


def _place(conn: Any, name: str, placement: str, anchor: str | None, shards: int) -> str:
    if placement == REFERENCE:
        conn.execute("SELECT create_reference_table(%s)", (name,))
        return "made a reference table (a copy on every node)"
    if anchor is None:
        conn.execute(
            "SELECT create_distributed_table(%s, %s, shard_count => %s)",
            (name, DISTRIBUTION_COLUMN, shards),
        )
        return f"distributed by {DISTRIBUTION_COLUMN} in {shards} shards"
    conn.execute(
        "SELECT create_distributed_table(%s, %s, colocate_with => %s)",
        (name, DISTRIBUTION_COLUMN, anchor),
    )
    return f"distributed by {DISTRIBUTION_COLUMN}, co-located with {anchor}"


def distribute(engine: Engine, shard_count: int = DEFAULT_SHARD_COUNT) -> Distribution:
    """Place every table of the schema on the Citus cluster this coordinator leads (idempotent)."""
    if engine.dialect.name != "postgresql":
        raise NotCitus(
            f"distributing needs a PostgreSQL database with Citus, not {engine.dialect.name}"
        )
    with engine.connect() as connection:
        conn: Any = connection.connection.driver_connection
        if not is_citus(conn):
            raise NotCitus(
                "this database is not a Citus coordinator (it has no citus extension):"
                " distributing needs Citus on every node and `CREATE EXTENSION citus` in this"
                " database (see docs/scale-out.md); nothing was changed"
            )
    if not migrate.is_current(engine):
        raise NotCitus("the schema is not current: run `cdrstore db upgrade` first")
    with engine.connect() as connection:
        conn = connection.connection.driver_connection
        conn.rollback()
        conn.autocommit = True  # each placement is committed as it is made
        try:
            return _distribute(conn, shard_count)
        finally:
            conn.autocommit = False


def _distribute(conn: Any, shard_count: int) -> Distribution:
    done = Distribution()
    placed = _placed(conn)
    anchor = next((name for name, how in placed.items() if how == DISTRIBUTED), None)
    for table in metadata.sorted_tables:  # referenced tables before those referring to them
        placement = citus_placement(table)
        if placement == LOCAL or not _exists(conn, table.name):
            continue
        if table.name in placed:
            done.already.append((table.name, placed[table.name]))
            continue
        try:
            what = _place(conn, table.name, placement, anchor, shard_count)
        except Exception as exc:
            raise DistributionFailed(
                f"could not place table {table.name} ({placement}): {_first_line(exc)};"
                " the tables placed before it stay placed, and running the command again"
                " carries on"
            ) from exc
        done.placed.append((table.name, what))
        if placement == DISTRIBUTED and anchor is None:
            anchor = table.name
    for name, _ in done.placed:
        # Distributing copies a table's rows to the shards and leaves the coordinator's own
        # copy behind, unseen: this frees its space.
        if _left_on_coordinator(conn, name):
            conn.execute("SELECT truncate_local_data_after_distributing_table(%s)", (name,))
            done.emptied_locally.append(name)
    return done


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
