"""Human agents and agent queues: tenant-scoped CRUD. A queue's `agent_ids` are kept in order
in `agent_queue_members`; deleting an agent takes it out of its queues (the foreign key
cascades), and a queue name is unique in its tenant (it is what a transfer names)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from yotel.agents.schemas import (
    AgentCreate,
    AgentOut,
    AgentUpdate,
    QueueCreate,
    QueueOut,
    QueueUpdate,
)
from yotel.db.engine import Database
from yotel.db.fence import Keyset, own_row, tenant_page
from yotel.db.models import Agent, AgentQueue, AgentQueueMember, Flow
from yotel.domain.bodies import invalid, sent_fields, unknown_reference
from yotel.domain.errors import Conflict
from yotel.domain.ids import new_id
from yotel.flows.graph import queue_names


@dataclass(slots=True)
class AgentService:
    db: Database

    async def create(self, tenant_id: str, spec: AgentCreate) -> AgentOut:
        row = Agent(id=new_id(), tenant_id=tenant_id, **spec.model_dump())
        async with self.db.write() as session:
            session.add(row)
        return agent_out(row)

    async def get(self, tenant_id: str, agent_id: str) -> AgentOut:
        async with self.db.read() as session:
            return agent_out(await own_row(session, Agent, tenant_id, agent_id, "agent"))

    async def list(self, tenant_id: str, *, limit: int, after: Keyset | None,
                   ) -> list[AgentOut]:
        async with self.db.read() as session:
            rows = (await session.scalars(tenant_page(Agent, tenant_id, limit, after))).all()
            return [agent_out(row) for row in rows]

    async def update(self, tenant_id: str, agent_id: str, patch: AgentUpdate) -> AgentOut:
        async with self.db.write() as session:
            row = await own_row(session, Agent, tenant_id, agent_id, "agent", for_update=True)
            for name, value in sent_fields(patch).items():
                setattr(row, name, value)
            await session.flush()
            return agent_out(row)

    async def delete(self, tenant_id: str, agent_id: str) -> None:
        async with self.db.write() as session:
            await session.delete(await own_row(session, Agent, tenant_id, agent_id, "agent"))


@dataclass(slots=True)
class QueueService:
    db: Database

    async def create(self, tenant_id: str, spec: QueueCreate) -> QueueOut:
        row = AgentQueue(id=new_id(), tenant_id=tenant_id, name=spec.name,
                         strategy=spec.strategy, rr_cursor=0)
        async with self.db.write() as session:
            await _check_name_free(session, tenant_id, spec.name)
            session.add(row)
            await session.flush()
            await _set_members(session, tenant_id, row.id, spec.agent_ids)
        return queue_out(row, spec.agent_ids)

    async def get(self, tenant_id: str, queue_id: str) -> QueueOut:
        async with self.db.read() as session:
            row = await own_row(session, AgentQueue, tenant_id, queue_id, "agent queue")
            return queue_out(row, await _members(session, row.id))

    async def list(self, tenant_id: str, *, limit: int, after: Keyset | None,
                   ) -> list[QueueOut]:
        async with self.db.read() as session:
            rows = (await session.scalars(tenant_page(AgentQueue, tenant_id, limit,
                                                      after))).all()
            members = await _members_of(session, [row.id for row in rows])
            return [queue_out(row, members.get(row.id, [])) for row in rows]

    async def update(self, tenant_id: str, queue_id: str, patch: QueueUpdate) -> QueueOut:
        changes = sent_fields(patch)
        async with self.db.write() as session:
            row = await own_row(session, AgentQueue, tenant_id, queue_id, "agent queue",
                                for_update=True)
            if changes.get("name", row.name) != row.name:
                await _check_unused(session, tenant_id, row.name, "renamed")
                await _check_name_free(session, tenant_id, changes["name"])
            if "agent_ids" in changes:
                await session.execute(delete(AgentQueueMember).where(
                    AgentQueueMember.queue_id == row.id))
                await _set_members(session, tenant_id, row.id, changes.pop("agent_ids"))
            for name, value in changes.items():
                setattr(row, name, value)
            await session.flush()
            return queue_out(row, await _members(session, row.id))

    async def delete(self, tenant_id: str, queue_id: str) -> None:
        async with self.db.write() as session:
            row = await own_row(session, AgentQueue, tenant_id, queue_id, "agent queue")
            await _check_unused(session, tenant_id, row.name, "deleted")
            await session.delete(row)


async def _check_unused(session: AsyncSession, tenant_id: str, name: str, change: str) -> None:
    """Flows name queues (a transfer's `destination`), so a named queue cannot vanish."""
    flows = (await session.execute(select(Flow.id, Flow.nodes).where(
        Flow.tenant_id == tenant_id))).all()
    for flow_id, nodes in flows:
        if name in queue_names(nodes).values():
            raise Conflict(f"the agent queue is used by flow {flow_id}; it cannot be "
                           f"{change} until the flow no longer transfers to it")


async def _check_name_free(session: AsyncSession, tenant_id: str, name: str) -> None:
    taken = await session.scalar(select(func.count()).select_from(AgentQueue).where(
        AgentQueue.tenant_id == tenant_id, AgentQueue.name == name))
    if taken:
        raise Conflict("name: an agent queue of this name already exists", details=[
            {"loc": ["body", "name"], "msg": "already exists", "type": "conflict"}])


async def _set_members(session: AsyncSession, tenant_id: str, queue_id: str,
                       agent_ids: Sequence[str]) -> None:
    if len(set(agent_ids)) != len(agent_ids):
        raise invalid("agent_ids", "an agent is listed twice")
    if not agent_ids:
        return
    found = set((await session.scalars(select(Agent.id).where(
        Agent.tenant_id == tenant_id, Agent.id.in_(agent_ids)))).all())
    if any(a not in found for a in agent_ids):
        raise unknown_reference("agent_ids", "agent")
    await session.execute(insert(AgentQueueMember), [
        {"queue_id": queue_id, "agent_id": agent_id, "position": position}
        for position, agent_id in enumerate(agent_ids)])


async def _members(session: AsyncSession, queue_id: str) -> list[str]:
    return list((await session.scalars(select(AgentQueueMember.agent_id).where(
        AgentQueueMember.queue_id == queue_id).order_by(AgentQueueMember.position))).all())


async def _members_of(session: AsyncSession, queue_ids: Sequence[str]) -> dict[str, list[str]]:
    """Members of a page of queues in one query."""
    members: dict[str, list[str]] = {}
    query = (select(AgentQueueMember.queue_id, AgentQueueMember.agent_id)
             .where(AgentQueueMember.queue_id.in_(queue_ids))
             .order_by(AgentQueueMember.queue_id, AgentQueueMember.position))
    for queue_id, agent_id in (await session.execute(query)).all():
        members.setdefault(queue_id, []).append(agent_id)
    return members


def agent_out(row: Agent) -> AgentOut:
    return AgentOut(id=row.id, name=row.name, role=row.role, contact=row.contact,
                    on_duty=row.on_duty, created_at=row.created_at, updated_at=row.updated_at)


def queue_out(row: AgentQueue, agent_ids: Sequence[str]) -> QueueOut:
    return QueueOut(id=row.id, name=row.name, agent_ids=list(agent_ids), strategy=row.strategy,
                    created_at=row.created_at, updated_at=row.updated_at)
