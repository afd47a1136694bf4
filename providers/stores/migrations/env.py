"""Alembic environment: migrations run on the connection ``jzmap db upgrade`` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

connection: Connection | None = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `jzmap db upgrade` (providers.stores.postgis)")

context.configure(connection=connection, transaction_per_migration=True)
with context.begin_transaction():
    context.run_migrations()
