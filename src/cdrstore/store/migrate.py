"""Schema migrations (Alembic, one history for every backend), run programmatically.

Alembic is imported when a migration runs, not to find that none needs to: a command that opens
a current database starts 0.2 s sooner (what `cdrstore import` of a small file took, in half).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from .schema import metadata, on_backend

if TYPE_CHECKING:
    from alembic.config import Config

# The newest revision of migrations/versions (a test holds it to Alembic's own head).
HEAD_REVISION: Final = "0010"
# Monthly partitions of `calls`, made by the store as records arrive (PostgreSQL).
_PARTITION = re.compile(r"calls_y\d{4}m\d\d\Z")


def _config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "cdrstore.store:migrations")
    return config


def head_revision() -> str | None:
    """The head of the migrations, as Alembic reads them (HEAD_REVISION, when in step)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: no schema yet), read as Alembic keeps it."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        row = connection.execute(text("SELECT version_num FROM alembic_version")).first()
        return None if row is None else str(row[0])


def is_current(engine: Engine) -> bool:
    return current_revision(engine) == HEAD_REVISION


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the schema to the newest revision (or to `revision`); returns (before, after)."""
    from alembic import command

    before = current_revision(engine)
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    return before, current_revision(engine)


def include_object_for(backend: str) -> Any:
    """Alembic's filter: the schema's objects that exist on this backend, and no partition."""

    def include(item: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if type_ == "table" and name is not None and _PARTITION.match(name):
            return False
        described = compare_to if reflected else item
        return described is None or on_backend(described.info, backend)

    return include


def _compare_type(
    context: Any, inspected: Any, described: Any, inspected_type: Any, described_type: Any
) -> bool | None:
    """Alembic's own comparison, plus the collation of text columns (the contract's order)."""
    wanted = getattr(described_type.dialect_impl(context.dialect), "collation", None)
    if wanted != getattr(inspected_type, "collation", None):
        return True
    return None  # no opinion: Alembic compares the rest


def schema_differences(connection: Connection) -> list[Any]:
    """What Alembic's autogenerate would change to make the database match `schema.py`."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(
        connection,
        opts={
            "include_object": include_object_for(connection.dialect.name),
            "compare_type": _compare_type,
            "target_metadata": metadata,
        },
    )
    return list(compare_metadata(context, metadata))
