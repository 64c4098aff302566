"""Alembic environment: runs on the connection that `cdrstore.store.migrate` hands it."""

from alembic import context

from cdrstore.store.migrate import include_object_for
from cdrstore.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    include_object=include_object_for(connection.dialect.name),
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
