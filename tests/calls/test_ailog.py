"""The AI session's log, held by the call's owner: one executemany per batch whatever the
entries, the newest MAX_ENTRIES kept, a failed entry never persisted later."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event, select

from yotel.calls.ailog import MAX_ENTRIES, AiLog
from yotel.calls.writer import HistoryWriter
from yotel.db.engine import Database
from yotel.db.records import AiSession, Call
from yotel.domain.ids import new_id
from yotel.tenancy.tenants import create_tenant


async def _call(db: Database, *, calls: int = 1) -> list[str]:
    tenant = await create_tenant(db, name="ailog")
    ids = [new_id() for _ in range(calls)]
    async with db.write() as session:
        for call_id in ids:
            session.add(Call(id=call_id, tenant_id=tenant.id, direction="outbound",
                             from_="+15550000001", to="+15550000002"))
        await session.flush()
        for call_id in ids:
            session.add(AiSession(call_id=call_id, tenant_id=tenant.id, metadata_={"logs": []}))
    return ids


async def _stored(db: Database, call_id: str) -> list[dict[str, Any]]:
    async with db.read() as session:
        metadata = await session.scalar(select(AiSession.metadata_)
                                        .where(AiSession.call_id == call_id))
    assert metadata is not None
    logs: list[dict[str, Any]] = metadata["logs"]
    return logs


async def test_every_calls_entries_of_a_batch_cost_one_statement(db: Database) -> None:
    ids = await _call(db, calls=3)
    logs = [AiLog(call_id) for call_id in ids]
    writer = HistoryWriter(db)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE"):
            statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        # Six verbs' pieces (two entries for each of three calls) queued before one batch.
        pieces = [log.append({"n": n}) for n in range(2) for log in logs]
        writer.start()
        await asyncio.gather(*(writer.submit(piece) for piece in pieces))
        await writer.close()
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert len(statements) == 1  # one executemany: three calls, each written once
    for call_id in ids:
        assert await _stored(db, call_id) == [{"n": 0}, {"n": 1}]


async def test_the_newest_entries_are_kept_and_a_later_batch_writes_again(db: Database) -> None:
    [call_id] = await _call(db)
    log = AiLog(call_id)
    for n in range(MAX_ENTRIES + 5):
        piece = log.append({"n": n})
    async with db.write() as session:
        await piece(session)
    stored = await _stored(db, call_id)
    assert len(stored) == MAX_ENTRIES
    assert stored[0] == {"n": 5} and stored[-1] == {"n": MAX_ENTRIES + 4}
    async with db.write() as session:
        await log.append({"n": "next"})(session)
    assert (await _stored(db, call_id))[-1] == {"n": "next"}


async def test_a_forgotten_entry_is_not_written_later(db: Database) -> None:
    [call_id] = await _call(db)
    log = AiLog(call_id)
    entry = {"n": "failed"}
    log.append(entry)
    piece = log.append({"n": "kept"})
    log.forget(entry)
    assert log.entries == [{"n": "kept"}]
    async with db.write() as session:
        await piece(session)
    assert await _stored(db, call_id) == [{"n": "kept"}]


async def test_entries_are_stored_as_they_were_given(db: Database) -> None:
    # Each entry is serialized once and the document is those pieces joined: what is read
    # back must be the entries themselves, whatever their text and nesting.
    [call_id] = await _call(db)
    log = AiLog(call_id)
    entries: list[dict[str, Any]] = [
        {"level": "info", "message": "caller said \"no\" \u2014 then \u00e9\u00e8 \U0001f600",
         "data": {"nested": [1, 2.5, None, True, {"k": "v\n"}]}},
        {"level": "warn", "message": "", "data": {}}]
    for entry in entries:
        piece = log.append(entry)
    async with db.write() as session:
        await piece(session)
    assert await _stored(db, call_id) == entries


def test_an_entry_that_cannot_be_serialized_is_refused_and_not_kept() -> None:
    log = AiLog("c")
    log.append({"n": 1})
    with pytest.raises(TypeError):
        log.append({"n": object()})
    assert log.entries == [{"n": 1}]
