"""Migration 0003 on the configured backend: a 0002 database with data upgrades, takes
endpoints and deliveries, and downgrades back keeping its own rows."""

from __future__ import annotations

from sqlalchemy import inspect, text

from yotel.db import migrate
from yotel.db.engine import Database

NOW = "CURRENT_TIMESTAMP"


async def _tables(db: Database) -> set[str]:
    async with db.engine.connect() as connection:
        return await connection.run_sync(lambda c: set(inspect(c).get_table_names()))


async def test_0003_upgrades_a_0002_database_and_downgrades_back(
        scratch_database_url: str) -> None:
    db = Database(scratch_database_url)
    try:
        await migrate.upgrade(db, "0002")
        async with db.transaction() as c:
            await c.execute(text(f"INSERT INTO tenants (id, name, timezone, created_at, "
                                 f"updated_at) VALUES ('t1', 'kept', 'UTC', {NOW}, {NOW})"))
            await c.execute(text(f"INSERT INTO outbox_events (id, tenant_id, type, payload, "
                                 f"sequence, created_at) VALUES ('evt_1', 't1', 'call.started', "
                                 f"'{{}}', 1, {NOW})"))
        await migrate.upgrade(db)
        assert {"webhook_endpoints", "webhook_deliveries"} <= await _tables(db)
        assert await migrate.schema_diff(db) == []
        async with db.transaction() as c:
            await c.execute(text(
                f"INSERT INTO webhook_endpoints (id, tenant_id, url, events, secret_sealed, "
                f"enabled, created_at, updated_at) VALUES ('e1', 't1', 'https://x.example.com',"
                f" '[\"*\"]', 's', true, {NOW}, {NOW})"))
            await c.execute(text(
                f"INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_id, "
                f"event_type, sequence, status, attempts, next_attempt_at, created_at, "
                f"updated_at) VALUES ('d1', 't1', 'e1', 'evt_1', 'call.started', 1, 'pending', "
                f"0, {NOW}, {NOW}, {NOW})"))
        await migrate.downgrade(db, "0002")
        assert not {"webhook_endpoints", "webhook_deliveries"} & await _tables(db)
        async with db.engine.connect() as c:
            kept = (await c.execute(text("SELECT id FROM outbox_events"))).scalars().all()
        assert kept == ["evt_1"]
    finally:
        await db.dispose()


async def _indexes(db: Database, table: str) -> set[str]:
    async with db.engine.connect() as connection:
        return await connection.run_sync(
            lambda c: {index["name"] for index in inspect(c).get_indexes(table)})


async def test_0005_and_0006_swap_the_dispatch_indexes_for_a_partial_one_and_back(
        scratch_database_url: str) -> None:
    db = Database(scratch_database_url)
    waiting = {"ix_webhook_deliveries_waiting_due", "ix_webhook_deliveries_waiting_order"}
    full = {"ix_webhook_deliveries_due", "ix_webhook_deliveries_order"}
    try:
        await migrate.upgrade(db, "0004")
        assert full <= await _indexes(db, "webhook_deliveries")
        await migrate.upgrade(db, "0005")
        deliveries = await _indexes(db, "webhook_deliveries")
        assert waiting <= deliveries and not full & deliveries
        assert "ix_outbox_events_undispatched" in await _indexes(db, "outbox_events")
        await migrate.upgrade(db, "0006")  # one partial index over waiting rows
        deliveries = await _indexes(db, "webhook_deliveries")
        assert "ix_webhook_deliveries_waiting_order" in deliveries
        assert "ix_webhook_deliveries_waiting_due" not in deliveries
        assert await migrate.schema_diff(db) == []
        await migrate.downgrade(db, "0004")
        deliveries = await _indexes(db, "webhook_deliveries")
        assert full <= deliveries and not waiting & deliveries
        assert "ix_outbox_events_undispatched" not in await _indexes(db, "outbox_events")
    finally:
        await db.dispose()
