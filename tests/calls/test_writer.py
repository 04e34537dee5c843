"""The call layer's group commit (calls/writer.py) on the real database: many calls' staged
pieces commit in one transaction with a few executemany statements, with the result of running
them one by one in submission order (a row updated after it was inserted in the same batch, a
plain piece that reads what was submitted before it), and a bad piece fails alone."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from yotel.calls.history import CallHistory
from yotel.calls.tokens import CallbackTokens, hash_token, lifetime_for
from yotel.calls.writer import HistoryWriter
from yotel.db.engine import Database
from yotel.db.models import AiSession, Call, CallbackToken, OutboxEvent
from yotel.domain.errors import Conflict
from yotel.domain.ids import new_id
from yotel.tenancy.tenants import create_tenant


def call_row(call_id: str, tenant_id: str) -> Call:
    return Call(id=call_id, tenant_id=tenant_id, direction="outbound", from_="yotel",
                to="+15550001", state="initiated", node_id="test")


@pytest.fixture
async def writer(db: Database) -> HistoryWriter:
    return HistoryWriter(db)


async def test_a_whole_call_in_one_batch_ends_as_if_written_piece_by_piece(
        db: Database, writer: HistoryWriter) -> None:
    tenant = (await create_tenant(db, name="writer")).id
    histories = [CallHistory(db, call_id=new_id(), tenant_id=tenant, writer=writer)
                 for _ in range(5)]
    tokens = CallbackTokens(db, writer)
    pieces = []
    for history in histories:  # queued before the writer runs: they share one batch
        _, store = tokens.prepare(call_id=history.call_id, tenant_id=tenant,
                                  lifetime=lifetime_for("ws_session"))
        pieces += [history.started(call_row(history.call_id, tenant), extra={}, also=store),
                   history.ringing(), history.answered(ai_agent_id="agent", ai_started=True),
                   history.ended(outcome="caller_hangup", sip_status=None, error=None,
                                 duration_s=1.5, ai_outcome="caller_hangup",
                                 recording=("/r.wav", "http://x/r", 1.5))]
    await one_batch(writer, pieces)
    assert writer.batches == 1 and writer.pieces == len(pieces)
    async with db.read() as session:
        for history in histories:
            call = await session.get(Call, history.call_id)
            assert call is not None
            assert (call.state, call.outcome, call.recording_path) == (
                "ended", "caller_hangup", "/r.wav")
            assert call.ringing_at is not None and call.answered_at is not None
            ai = await session.get(AiSession, history.call_id)
            assert ai is not None and ai.outcome == "caller_hangup" and ai.ended_at is not None
            assert ai.metadata_ == {"logs": []}
            events = (await session.scalars(
                select(OutboxEvent.type).where(OutboxEvent.call_id == history.call_id)
                .order_by(OutboxEvent.sequence))).all()
            assert events == ["call.started", "call.answered", "ai_session.started",
                              "ai_session.ended", "call.ended", "call.recording_ready"]
            assert await session.scalar(select(func.count()).select_from(CallbackToken).where(
                CallbackToken.call_id == history.call_id)) == 1


async def test_an_update_staged_before_its_row_is_inserted_changes_nothing(
        db: Database, writer: HistoryWriter) -> None:
    tenant = (await create_tenant(db, name="writer")).id
    history = CallHistory(db, call_id=new_id(), tenant_id=tenant, writer=writer)
    writer.start()
    early = asyncio.ensure_future(history.ringing())  # no row yet: one by one, a no-op
    started = asyncio.ensure_future(history.started(call_row(history.call_id, tenant),
                                                    extra={}))
    try:
        await asyncio.gather(early, started)
    finally:
        await writer.close()
    async with db.read() as session:
        call = await session.get(Call, history.call_id)
    assert call is not None and call.state == "initiated" and call.ringing_at is None


async def test_a_plain_piece_reads_what_was_submitted_before_it(
        db: Database, writer: HistoryWriter) -> None:
    tenant = (await create_tenant(db, name="writer")).id
    history = CallHistory(db, call_id=new_id(), tenant_id=tenant, writer=writer)
    seen: list[str | None] = []

    async def read_state(session: AsyncSession) -> None:
        seen.append(await session.scalar(select(Call.state).where(
            Call.id == history.call_id)))

    pieces = [history.started(call_row(history.call_id, tenant), extra={}),
              history.commit(read_state), history.ringing(), history.commit(read_state)]
    await one_batch(writer, pieces)
    assert writer.batches == 1
    assert seen == ["initiated", "ringing"]


async def test_a_bad_piece_fails_alone(db: Database, writer: HistoryWriter) -> None:
    tenant = (await create_tenant(db, name="writer")).id
    good = CallHistory(db, call_id=new_id(), tenant_id=tenant, writer=writer)
    twin = new_id()
    first = CallHistory(db, call_id=twin, tenant_id=tenant, writer=writer)
    second = CallHistory(db, call_id=twin, tenant_id=tenant, writer=writer)  # same primary key
    writer.start()
    tasks = [asyncio.ensure_future(piece) for piece in (
        good.started(call_row(good.call_id, tenant), extra={}),
        first.started(call_row(twin, tenant), extra={}),
        second.started(call_row(twin, tenant), extra={}))]
    try:
        results = await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await writer.close()
    assert results[0] is None and results[1] is None and isinstance(results[2], Conflict)
    async with db.read() as session:
        assert await session.get(Call, good.call_id) is not None
        assert await session.scalar(select(func.count()).select_from(OutboxEvent).where(
            OutboxEvent.call_id == twin)) == 1


async def test_without_a_running_writer_each_piece_commits_alone(db: Database) -> None:
    tenant = (await create_tenant(db, name="writer")).id
    history = CallHistory(db, call_id=new_id(), tenant_id=tenant)
    tokens = CallbackTokens(db)
    await history.started(call_row(history.call_id, tenant), extra={})
    minted = await tokens.mint(call_id=history.call_id, tenant_id=tenant,
                               lifetime=lifetime_for("ws_session"),
                               now=datetime.now(UTC))
    await history.note(sip_call_id="abc@host")
    async with db.read() as session:
        call = await session.get(Call, history.call_id)
        token = await session.get(CallbackToken, hash_token(minted.token))
    assert call is not None and call.sip_call_id == "abc@host"
    assert token is not None and token.call_id == history.call_id


async def one_batch(writer: HistoryWriter, pieces: Sequence[Awaitable[None]]) -> None:
    """Run `pieces` (coroutines that submit to `writer`, not started yet) as one batch: the
    writer's task runs only after every piece is queued."""
    writer.start()
    tasks = [asyncio.ensure_future(piece) for piece in pieces]
    try:
        await asyncio.gather(*tasks)
    finally:
        await writer.close()
