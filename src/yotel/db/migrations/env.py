"""Alembic environment. Runs only through `yotel.db.migrate`, which hands over a live connection
(`config.attributes["connection"]`): the async engine is driven by the caller, not from here."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from yotel.db.models import Base

target_metadata = Base.metadata


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        # SQLite cannot ALTER most things: batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


_connection = context.config.attributes.get("connection")
if _connection is None:
    raise RuntimeError("run migrations with `yotel db upgrade` (yotel.db.migrate)")
run_migrations(_connection)
