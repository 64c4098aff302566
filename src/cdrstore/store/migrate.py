"""Schema migrations (Alembic, one history for every backend), run programmatically."""

from __future__ import annotations

import re
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from .schema import metadata, on_backend

# Monthly partitions of `calls`, made by the store as records arrive (PostgreSQL).
_PARTITION = re.compile(r"calls_y\d{4}m\d\d\Z")


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", "cdrstore.store:migrations")
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the schema to the newest revision (or to `revision`); returns (before, after)."""
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
    context = MigrationContext.configure(
        connection,
        opts={
            "include_object": include_object_for(connection.dialect.name),
            "compare_type": _compare_type,
            "target_metadata": metadata,
        },
    )
    return list(compare_metadata(context, metadata))
