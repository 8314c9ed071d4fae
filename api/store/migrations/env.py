"""Alembic environment: runs on the connection the hub hands over (see store/migrate.py)."""

from alembic import context

from bounceback.api.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
context.run_migrations()
