from __future__ import annotations

from sqlalchemy import inspect, text

from yotel.db import migrate
from yotel.db.engine import Database

TABLES = {
    "tenants", "api_keys", "voice_agents", "sip_trunks", "campaigns", "leads", "callbacks",
    "dnd_entries", "dnd_registry", "flows", "numbers", "agents", "agent_queues",
    "agent_queue_members", "calls", "ai_sessions", "callback_tokens", "outbox_events",
    "webhook_endpoints", "webhook_deliveries", "escalations",
}


async def _tables(db: Database) -> set[str]:
    async with db.engine.connect() as connection:
        names = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
    return names - {"alembic_version"}


async def test_upgrade_downgrade_upgrade_and_models_match(scratch_database_url: str) -> None:
    db = Database(scratch_database_url)
    try:
        assert await migrate.is_empty(db)
        assert await migrate.current_revision(db) is None
        await migrate.upgrade(db)
        assert await migrate.current_revision(db) == migrate.head_revision()
        assert await _tables(db) == TABLES
        assert await migrate.schema_diff(db) == []
        await migrate.downgrade(db, "base")
        assert await migrate.current_revision(db) is None
        assert await _tables(db) == set()
        await migrate.upgrade(db)
        assert await migrate.schema_diff(db) == []
    finally:
        await db.dispose()


async def test_session_database_is_at_head(db: Database) -> None:
    assert await migrate.current_revision(db) == migrate.head_revision()
    assert await migrate.schema_diff(db) == []


def test_migrations_ship_inside_the_package() -> None:
    # `yotel db upgrade` must work from an installed wheel, whatever the working directory.
    assert (migrate.MIGRATIONS_DIR / "env.py").is_file()
    assert migrate.MIGRATIONS_DIR.parent.name == "db"
    assert migrate.head_revision() == "0006"


async def test_0002_upgrades_a_0001_database_with_data_and_downgrades_back(
        scratch_database_url: str) -> None:
    db = Database(scratch_database_url)
    try:
        await migrate.upgrade(db, "0001")
        async with db.transaction() as connection:
            await connection.execute(text(
                "INSERT INTO tenants (id, name, timezone, created_at, updated_at) "
                "VALUES ('t1', 'kept', 'UTC', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        await migrate.upgrade(db)
        assert await migrate.current_revision(db) == migrate.head_revision()
        assert await migrate.schema_diff(db) == []
        async with db.transaction() as connection:  # the new tables take tenant-owned rows
            await connection.execute(text(
                "INSERT INTO dnd_entries (id, tenant_id, phone, created_at) "
                "VALUES ('d1', 't1', '+14155550100', CURRENT_TIMESTAMP)"))
        await migrate.downgrade(db, "0001")
        assert await _tables(db) == {"tenants", "api_keys", "voice_agents"}
        async with db.engine.connect() as connection:
            names = (await connection.execute(text("SELECT name FROM tenants"))).scalars().all()
        assert names == ["kept"]
    finally:
        await db.dispose()


async def test_0004_adds_escalations_to_a_0003_database_and_downgrades_back(
        scratch_database_url: str) -> None:
    db = Database(scratch_database_url)
    try:
        await migrate.upgrade(db, "0003")
        await migrate.upgrade(db)
        async with db.transaction() as connection:  # an open escalation of a tenant's call
            for statement in (
                "INSERT INTO tenants (id, name, timezone, created_at, updated_at) "
                "VALUES ('t1', 'kept', 'UTC', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
                "INSERT INTO calls (id, tenant_id, direction, \"from\", \"to\", state, "
                "started_at, created_at, updated_at) VALUES ('c1', 't1', 'outbound', 'a', "
                "'b', 'answered', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
                "INSERT INTO escalations (id, tenant_id, call_id, reason, urgency, status, "
                "created_at) VALUES ('e1', 't1', 'c1', 'angry', 'high', 'open', "
                "CURRENT_TIMESTAMP)"):
                await connection.execute(text(statement))
        await migrate.downgrade(db, "0003")
        assert "escalations" not in await _tables(db)
        assert await migrate.current_revision(db) == "0003"
    finally:
        await db.dispose()
