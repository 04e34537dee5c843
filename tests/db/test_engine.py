from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import select, text

from yotel.db import engine as engine_module
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


async def test_one_statement_is_atomic_on_its_own(db: Database) -> None:
    # A single executemany either applies every row or none, on both backends: on PostgreSQL
    # it runs outside a transaction (asyncpg's executemany is atomic), on SQLite in one.
    first, second = new_id(), new_id()
    rows = [{"id": first, "name": "a", "timezone": "UTC"},
            {"id": second, "name": "b", "timezone": "UTC"},
            {"id": first, "name": "again", "timezone": "UTC"}]  # the third collides
    with pytest.raises(Conflict):
        async with db.transaction(one_statement=True) as connection:
            await connection.execute(Tenant.__table__.insert(), rows)
    async with db.read() as session:
        found = (await session.execute(select(Tenant.id).where(
            Tenant.id.in_([first, second])))).scalars().all()
    assert found == []


async def test_one_statement_costs_no_transaction_round_trips_on_postgresql(
        db: Database) -> None:
    if db.backend != "postgresql":
        pytest.skip("SQLite runs it in BEGIN IMMEDIATE like any write")
    async with db.transaction(one_statement=True) as connection:
        await connection.execute(text("SELECT 1"))
        raw = await connection.get_raw_connection()
        assert raw.driver_connection is not None
        assert not raw.driver_connection.is_in_transaction()
    async with db.transaction() as connection:  # a pooled connection goes back as it was
        await connection.execute(text("SELECT 1"))
        raw = await connection.get_raw_connection()
        assert raw.driver_connection is not None
        assert raw.driver_connection.is_in_transaction()


async def _backend_pid(db: Database) -> int:
    async with db.read() as session:
        return int((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_a_connection_that_died_while_idle_is_replaced_not_handed_out(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    if db.backend != "postgresql":
        pytest.skip("pooled server connections are PostgreSQL's")
    pid = await _backend_pid(db)  # back in the pool, idle
    admin = await asyncpg.connect(db.engine.url.set(drivername="postgresql")
                                  .render_as_string(hide_password=False))
    try:  # what a server restart does to it
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    monkeypatch.setattr(engine_module, "IDLE_PING_S", 0.0)  # both count as idle now
    pids = {await _backend_pid(db) for _ in range(3)}  # every checkout succeeds
    assert pid not in pids


async def test_a_connection_used_a_moment_ago_is_not_pinged(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    if db.backend != "postgresql":
        pytest.skip("pooled server connections are PostgreSQL's")
    pings: list[object] = []
    dialect = db.engine.sync_engine.dialect
    real_ping = dialect.do_ping
    monkeypatch.setattr(dialect, "do_ping", lambda c: pings.append(c) or real_ping(c))
    await _backend_pid(db)
    await _backend_pid(db)
    assert pings == []  # in use a moment ago: no round trip before the next use
    monkeypatch.setattr(engine_module, "IDLE_PING_S", 0.0)
    await _backend_pid(db)
    assert len(pings) == 1  # idle "long enough": pinged once before use
