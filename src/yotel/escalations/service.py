"""Escalations (page 003 `request_supervisor`; PRODUCT.md §4, §7): created by the AI's verb,
listed, claimed once by an on-duty supervisor.

Each change writes its row and its `ai_session.escalated` event (`supervisor_id` null on
creation, the winner's on claim) in ONE transaction, so the webhook never tells of an escalation
the database does not hold, nor misses one it does. The supervisor streams hear of it after the
commit: a pushed escalation always exists for `GET /escalations` and the claim.

First claim wins: `UPDATE ... WHERE status = 'open'` changes one row for exactly one of two
concurrent claims (PostgreSQL re-checks the predicate after the other's row lock is released;
SQLite writers are serialized by `BEGIN IMMEDIATE`); the other changes none and is a 409.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, and_, case, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from yotel.calls.history import CallHistory
from yotel.calls.live import LiveCall
from yotel.calls.service import CallService
from yotel.db.engine import Database
from yotel.db.fence import Keyset, after_keyset
from yotel.db.models import Agent, Call, Escalation
from yotel.domain.errors import Conflict, NotFound
from yotel.domain.ids import is_uuid, new_id
from yotel.escalations.hub import SupervisorHub
from yotel.escalations.schemas import (
    ESCALATED,
    EscalationOut,
    FrameType,
    Status,
    Urgency,
    frame,
)

log = logging.getLogger(__name__)


class EscalationService:
    def __init__(self, db: Database, hub: SupervisorHub, calls: CallService | None) -> None:
        self.db = db
        self.hub = hub
        self.calls = calls  # this node's live calls (None: an API without a call layer)

    async def create(self, tenant_id: str, call_id: str, *, reason: str, urgency: Urgency,
                     live: LiveCall | None = None) -> EscalationOut:
        history = await self._history(tenant_id, call_id, live)
        now = datetime.now(UTC)
        row = Escalation(id=new_id(), tenant_id=tenant_id, call_id=call_id, reason=reason,
                         urgency=urgency, status="open", created_at=now)
        async with self.db.write() as session:
            session.add(row)
            _escalated(history, session, row, now)
        escalation = escalation_out(row)
        await self._push(tenant_id, "escalation.created", escalation)
        return escalation

    async def list(self, tenant_id: str, *, status: Status | None, limit: int,
                   after: Keyset | None) -> list[EscalationOut]:
        query = _shown().where(Escalation.tenant_id == tenant_id)
        if status is not None:
            query = query.where(_status() == status)
        async with self.db.read() as session:
            rows = (await session.execute(
                after_keyset(query, Escalation, after).limit(limit))).all()
        return [escalation_out(row[0], row[1]) for row in rows]

    async def get(self, tenant_id: str, escalation_id: str) -> EscalationOut:
        row = None
        if is_uuid(escalation_id):
            async with self.db.read() as session:
                row = (await session.execute(_shown().where(
                    Escalation.id == escalation_id, Escalation.tenant_id == tenant_id))).first()
        if row is None:
            raise NotFound(f"escalation {escalation_id} not found")
        return escalation_out(row[0], row[1])

    async def claim(self, tenant_id: str, escalation_id: str,
                    supervisor_id: str) -> EscalationOut:
        """404: no such escalation or supervisor in this tenant; 409: the agent is not an
        on-duty supervisor, the escalation is not open (claimed first by someone else), or its
        call has ended (it is closed then)."""
        current = await self.get(tenant_id, escalation_id)
        live = self.calls.directory.get(current.call_id) if self.calls is not None else None
        history = await self._history(tenant_id, current.call_id, live)
        async with self.db.write() as session:
            await _check_supervisor(session, tenant_id, supervisor_id)
            ended = await _call_ended(session, current.call_id)
            if ended:  # nobody can help on that call any more: closed, committed, refused
                await _close(session, escalation_id)
            else:
                row = await _claim(session, escalation_id, supervisor_id)
                _escalated(history, session, row, row.claimed_at or datetime.now(UTC))
        if ended:
            raise Conflict("the escalation's call has ended")
        claimed = escalation_out(row)
        if live is not None:  # the AI hears who took it (an `event` frame on its fork)
            live.media.media.event_to_ai("escalation_claimed", {
                "escalation_id": claimed.id, "supervisor_id": supervisor_id})
        await self._push(tenant_id, "escalation.claimed", claimed)
        return claimed

    async def _history(self, tenant_id: str, call_id: str,
                       live: LiveCall | None) -> CallHistory:
        """The call's event numbering: its owner's when live here, else continued from the
        outbox (a call that has ended, or an API without a call layer)."""
        if live is not None:
            return live.history
        history = CallHistory(self.db, call_id=call_id, tenant_id=tenant_id)
        await history.resume_sequence()
        return history

    async def _push(self, tenant_id: str, kind: FrameType, escalation: EscalationOut) -> None:
        if not self.hub.listeners(tenant_id):
            return  # nobody listens on this node: no query for who is on duty
        on_duty = await self._on_duty(tenant_id)
        self.hub.publish(tenant_id, frame(kind, escalation), on_duty)

    async def _on_duty(self, tenant_id: str) -> frozenset[str]:
        async with self.db.read() as session:
            ids = await session.scalars(select(Agent.id).where(
                Agent.tenant_id == tenant_id, Agent.role == "supervisor",
                Agent.on_duty.is_(True)))
            return frozenset(ids)

    async def supervisor(self, tenant_id: str, supervisor_id: str) -> None:
        """404 unless `supervisor_id` is one of the tenant's supervisors (on duty or not)."""
        async with self.db.read() as session:
            agent = await _agent(session, tenant_id, supervisor_id)
            if agent.role != "supervisor":
                raise NotFound(f"supervisor {supervisor_id} not found")


def _escalated(history: CallHistory, session: AsyncSession, row: Escalation,
               now: datetime) -> None:
    data: dict[str, Any] = {"escalation_id": row.id, "supervisor_id": row.supervisor_id,
                            "reason": row.reason, "urgency": row.urgency}
    history.event_in(session, ESCALATED, data, now)  # the call's numbering, our transaction


async def _agent(session: AsyncSession, tenant_id: str, agent_id: str) -> Agent:
    agent = await session.get(Agent, agent_id) if is_uuid(agent_id) else None
    if agent is None or agent.tenant_id != tenant_id:
        raise NotFound(f"supervisor {agent_id} not found")
    return agent


async def _check_supervisor(session: AsyncSession, tenant_id: str, agent_id: str) -> None:
    agent = await _agent(session, tenant_id, agent_id)
    if agent.role != "supervisor":
        raise Conflict(f"agent {agent_id} is not a supervisor")
    if not agent.on_duty:
        raise Conflict(f"supervisor {agent_id} is not on duty")


async def _call_ended(session: AsyncSession, call_id: str) -> bool:
    state = await session.scalar(select(Call.state).where(Call.id == call_id))
    return state == "ended"


async def _claim(session: AsyncSession, escalation_id: str, supervisor_id: str) -> Escalation:
    now = datetime.now(UTC)
    done = await session.execute(
        update(Escalation)
        .where(Escalation.id == escalation_id, Escalation.status == "open")
        .values(status="claimed", supervisor_id=supervisor_id, claimed_at=now)
        .execution_options(synchronize_session=False))
    if done.rowcount == 0:  # type: ignore[attr-defined]
        raise Conflict("the escalation is not open (already claimed or closed)")
    row = await session.get(Escalation, escalation_id, populate_existing=True)
    assert row is not None
    return row


async def _close(session: AsyncSession, escalation_id: str) -> None:
    await session.execute(
        update(Escalation)
        .where(Escalation.id == escalation_id, Escalation.status == "open")
        .values(status="closed")
        .execution_options(synchronize_session=False))


def _status() -> ColumnElement[str]:
    """An open escalation whose call has ended reads as closed: nobody can take that call any
    more (the row itself is closed by the claim that finds it so)."""
    ended = and_(Escalation.status == "open", Call.state == "ended")
    return case((ended, literal("closed")), else_=Escalation.status)


def _shown() -> Select[Any]:
    """Rows of (escalation, its status as shown); typed loosely for `after_keyset`."""
    return cast(Select[Any], select(Escalation, _status().label("shown_status"))
                .join(Call, Call.id == Escalation.call_id))


def escalation_out(row: Escalation, status: str | None = None) -> EscalationOut:
    return EscalationOut(
        id=row.id, call_id=row.call_id, reason=row.reason,
        urgency=cast(Urgency, row.urgency), status=cast(Status, status or row.status),
        supervisor_id=row.supervisor_id, created_at=row.created_at, claimed_at=row.claimed_at)
