from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from yotel.db.engine import Database, backend_name, create_engine
from yotel.db.models import Tenant
from yotel.domain.errors import Conflict, ServiceUnavailable
from yotel.domain.ids import new_id


async def test_sqlite_is_configured_as_a_real_database(tmp_path: object) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/e.db")
    try:
        async with db.read() as session:
            pragmas = {name: (await session.execute(text(f"PRAGMA {name}"))).scalar()
                       for name in ("journal_mode", "foreign_keys", "busy_timeout")}
        assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 15000}
    finally:
        await db.dispose()


async def test_integrity_errors_become_conflict(db: Database) -> None:
    tenant_id = new_id()
    async with db.write() as session:
        session.add(Tenant(id=tenant_id, name="t", timezone="UTC"))
    with pytest.raises(Conflict):
        async with db.write() as session:
            session.add(Tenant(id=tenant_id, name="again", timezone="UTC"))


async def test_write_rolls_back_when_the_block_raises(db: Database) -> None:
    tenant_id = new_id()
    with pytest.raises(RuntimeError):
        async with db.write() as session:
            session.add(Tenant(id=tenant_id, name="t", timezone="UTC"))
            await session.flush()
            raise RuntimeError("abort")
    async with db.read() as session:
        assert await session.get(Tenant, tenant_id) is None


async def test_concurrent_writers_both_commit(db: Database) -> None:
    # BEGIN IMMEDIATE on SQLite: writers queue on the lock instead of failing with "locked".
    ids = [new_id() for _ in range(8)]

    async def insert(tenant_id: str) -> None:
        async with db.write() as session:
            session.add(Tenant(id=tenant_id, name="w", timezone="UTC"))
            await session.flush()
            await asyncio.sleep(0)

    await asyncio.gather(*(insert(i) for i in ids))
    async with db.read() as session:
        for tenant_id in ids:
            assert await session.get(Tenant, tenant_id) is not None


async def test_unreachable_database_is_service_unavailable() -> None:
    db = Database("postgresql+asyncpg://postgres@127.0.0.1:1/nothing")
    try:
        with pytest.raises(ServiceUnavailable):
            await db.ping()
    finally:
        await db.dispose()


def test_backends() -> None:
    assert backend_name("sqlite+aiosqlite:///x.db") == "sqlite"
    assert backend_name("postgresql+asyncpg://u@h/db") == "postgresql"
    with pytest.raises(ValueError, match="unsupported"):
        create_engine("mysql+aiomysql://u@h/db")
