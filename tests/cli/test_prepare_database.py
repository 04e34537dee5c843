from __future__ import annotations

import pytest

from yotel.cli.commands import prepare_database
from yotel.db import migrate
from yotel.db.engine import Database
from yotel.domain.errors import ServiceUnavailable


async def test_embedded_migrates_itself_shared_database_must_be_upgraded(
        scratch_database_url: str) -> None:
    db = Database(scratch_database_url)
    try:
        if db.backend == "sqlite":
            await prepare_database(db)  # first run: the embedded database migrates itself
        else:
            with pytest.raises(ServiceUnavailable, match="yotel db upgrade"):
                await prepare_database(db)
            await migrate.upgrade(db)
            await prepare_database(db)
        assert await migrate.current_revision(db) == migrate.head_revision()
    finally:
        await db.dispose()
