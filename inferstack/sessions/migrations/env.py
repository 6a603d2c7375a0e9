"""Alembic's entry point: migrations run on the connection the store hands over (see
`inferstack.sessions.store.migrate`), never on a URL of their own."""

from alembic import context

from inferstack.sessions.tables import Base

connection = context.config.attributes["connection"]
# Batch mode: SQLite cannot ALTER most things in place; Alembic then copies the table.
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
