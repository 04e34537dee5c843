"""Programmatic Alembic (`yotel db upgrade`): the scripts ship inside the package, so this works
from an installed wheel and from any working directory, not only from the repository root."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from yotel.db.engine import Database
from yotel.db.models import Base

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("no migration scripts found")
    return head


async def upgrade(database: Database, revision: str = "head") -> None:
    async with database.transaction() as connection:
        await connection.run_sync(lambda c: command.upgrade(alembic_config(c), revision))


async def downgrade(database: Database, revision: str = "base") -> None:
    async with database.transaction() as connection:
        await connection.run_sync(lambda c: command.downgrade(alembic_config(c), revision))


async def current_revision(database: Database) -> str | None:
    """The revision the database is at, or None for a database never migrated."""
    async with database.engine.connect() as connection:
        return await connection.run_sync(
            lambda c: MigrationContext.configure(c).get_current_revision())


async def schema_diff(database: Database) -> list[Any]:
    """Alembic autogenerate's differences between the models and the migrated database."""
    def compare(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with database.engine.connect() as connection:
        return await connection.run_sync(compare)


async def is_empty(database: Database) -> bool:
    """True when the database holds no tables at all (a first run)."""
    async with database.engine.connect() as connection:
        names = await connection.run_sync(lambda c: inspect(c).get_table_names())
    return not names
