"""The AI session's log, held by the call's owner: one UPDATE per batch whatever the entries,
the newest MAX_ENTRIES kept, 409 without an AI session, a failed entry never persisted later."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, select

from yotel.calls.ailog import MAX_ENTRIES, AiLog
from yotel.db.engine import Database
from yotel.db.records import AiSession, Call
from yotel.domain.errors import Conflict
from yotel.domain.ids import new_id
from yotel.tenancy.tenants import create_tenant


async def _call(db: Database, *, with_ai: bool) -> str:
    tenant = await create_tenant(db, name="ailog")
    call_id = new_id()
    async with db.write() as session:
        session.add(Call(id=call_id, tenant_id=tenant.id, direction="outbound",
                         from_="+15550000001", to="+15550000002"))
        await session.flush()
        if with_ai:
            session.add(AiSession(call_id=call_id, tenant_id=tenant.id, metadata_={"logs": []}))
    return call_id


async def _stored(db: Database, call_id: str) -> list[dict[str, Any]]:
    async with db.read() as session:
        metadata = await session.scalar(select(AiSession.metadata_)
                                        .where(AiSession.call_id == call_id))
    assert metadata is not None
    logs: list[dict[str, Any]] = metadata["logs"]
    return logs


async def test_entries_of_one_batch_cost_one_update(db: Database) -> None:
    call_id = await _call(db, with_ai=True)
    log = AiLog(call_id)
    versions = [log.append({"n": n})[0] for n in range(3)]
    statements: list[str] = []
    async with db.write() as session:
        event.listen(session.sync_session, "do_orm_execute",
                     lambda state: statements.append(str(state.statement)))
        for version in versions:  # three verbs' pieces in one group-commit batch
            await log.write(session, version)
    assert len(statements) == 1
    assert await _stored(db, call_id) == [{"n": 0}, {"n": 1}, {"n": 2}]
    version, _ = log.append({"n": 3})
    async with db.write() as session:  # a later batch writes again
        await log.write(session, version)
    assert [e["n"] for e in await _stored(db, call_id)] == [0, 1, 2, 3]


async def test_the_newest_entries_are_kept(db: Database) -> None:
    call_id = await _call(db, with_ai=True)
    log = AiLog(call_id)
    for n in range(MAX_ENTRIES + 5):
        version, _ = log.append({"n": n})
    async with db.write() as session:
        await log.write(session, version)
    stored = await _stored(db, call_id)
    assert len(stored) == MAX_ENTRIES
    assert stored[0] == {"n": 5} and stored[-1] == {"n": MAX_ENTRIES + 4}


async def test_no_ai_session_is_a_conflict_and_the_entry_is_forgotten(db: Database) -> None:
    call_id = await _call(db, with_ai=False)
    log = AiLog(call_id)
    version, entry = log.append({"n": "lost"})
    with pytest.raises(Conflict):
        async with db.write() as session:
            await log.write(session, version)
    log.forget(entry)
    assert log.entries == []
