"""Flows: tenant-scoped CRUD. A graph is saved only when `flows.graph` finds nothing wrong and
everything it names exists in the tenant (voice agents, agent queues); otherwise 400 naming the
node. A flow that answers a number cannot be deleted (409)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from yotel.db.engine import Database
from yotel.db.fence import Keyset, own_row, tenant_page
from yotel.db.models import AgentQueue, Flow, Number, VoiceAgent
from yotel.domain.errors import Conflict, ValidationError
from yotel.domain.ids import new_id
from yotel.flows.graph import Graph, Issue, queue_names, validate_graph, voice_agent_ids
from yotel.flows.schemas import FlowCreate, FlowOut, FlowUpdate
from yotel.net.guard import UnsafeUrlError, check_url_for_save

NOUN = "flow"


@dataclass(slots=True)
class FlowService:
    db: Database
    allow_insecure_urls: bool

    async def create(self, tenant_id: str, spec: FlowCreate) -> FlowOut:
        doc = spec.model_dump(mode="json", by_alias=True)
        row = Flow(id=new_id(), tenant_id=tenant_id, **doc)
        async with self.db.write() as session:
            await self._check(session, tenant_id, doc)
            session.add(row)
        return to_out(row)

    async def get(self, tenant_id: str, flow_id: str) -> FlowOut:
        async with self.db.read() as session:
            return to_out(await own_row(session, Flow, tenant_id, flow_id, NOUN))

    async def list(self, tenant_id: str, *, limit: int, after: Keyset | None) -> list[FlowOut]:
        async with self.db.read() as session:
            rows = (await session.scalars(tenant_page(Flow, tenant_id, limit, after))).all()
            return [to_out(row) for row in rows]

    async def update(self, tenant_id: str, flow_id: str, patch: FlowUpdate) -> FlowOut:
        changes = patch.model_dump(mode="json", by_alias=True, include=patch.model_fields_set)
        async with self.db.write() as session:
            row = await own_row(session, Flow, tenant_id, flow_id, NOUN, for_update=True)
            doc = {"name": row.name, "entry": row.entry, "nodes": row.nodes,
                   "edges": row.edges, **changes}
            await self._check(session, tenant_id, doc)
            for name, value in changes.items():
                setattr(row, name, value)
            await session.flush()
            return to_out(row)

    async def delete(self, tenant_id: str, flow_id: str) -> None:
        async with self.db.write() as session:
            row = await own_row(session, Flow, tenant_id, flow_id, NOUN, for_update=True)
            number = (await session.scalars(select(Number.e164).where(
                Number.flow_id == flow_id).limit(1))).first()
            if number is not None:
                raise Conflict(f"flow answers number {number}: point the number elsewhere first")
            await session.delete(row)

    async def _check(self, session: AsyncSession, tenant_id: str, doc: Mapping[str, Any],
                     ) -> None:
        nodes: Sequence[Mapping[str, Any]] = doc["nodes"]
        issues = validate_graph(Graph(entry=doc["entry"], nodes=nodes, edges=doc["edges"]))
        if not issues:
            issues = _url_issues(nodes, self.allow_insecure_urls)
            issues += await _reference_issues(session, tenant_id, nodes)
        if issues:
            raise ValidationError(issues[0].message, details=[
                {"loc": ["body"], **issue.detail()} for issue in issues])


def _url_issues(nodes: Sequence[Mapping[str, Any]], allow_insecure: bool) -> list[Issue]:
    """play_audio URLs: https to a public host (http/local only with insecure URLs allowed)."""
    issues: list[Issue] = []
    for node in nodes:
        if node["type"] != "play_audio":
            continue
        try:
            check_url_for_save(node["data"]["audio_url"], secure_schemes={"https"},
                               insecure_schemes={"http"}, allow_insecure=allow_insecure)
        except (UnsafeUrlError, ValueError) as exc:
            issues.append(Issue(node["id"], f"node {node['id']!r}: audio_url: {exc}", "url"))
    return issues


async def _reference_issues(session: AsyncSession, tenant_id: str,
                            nodes: Sequence[Mapping[str, Any]]) -> list[Issue]:
    issues: list[Issue] = []
    for node_id, agent_id in voice_agent_ids(nodes).items():
        agent = await session.get(VoiceAgent, agent_id) if len(agent_id) <= 36 else None
        if agent is None or agent.tenant_id != tenant_id:
            issues.append(Issue(node_id, f"node {node_id!r}: no voice agent {agent_id} in this "
                                "tenant", "unknown_voice_agent"))
    for node_id, name in queue_names(nodes).items():
        found = (await session.scalars(select(AgentQueue.id).where(
            AgentQueue.tenant_id == tenant_id, AgentQueue.name == name))).first()
        if found is None:
            issues.append(Issue(node_id, f"node {node_id!r}: no agent queue named {name!r} in "
                                "this tenant", "unknown_agent_queue"))
    return issues


async def flow_uses_agent(session: AsyncSession, tenant_id: str, agent_id: str) -> str | None:
    """A voice agent reference check: some connect_voice_agent node names the agent."""
    flows = (await session.execute(select(Flow.id, Flow.nodes).where(
        Flow.tenant_id == tenant_id))).all()
    for flow_id, nodes in flows:
        if agent_id in voice_agent_ids(nodes).values():
            return f"used by flow {flow_id}"
    return None


def to_out(row: Flow) -> FlowOut:
    return FlowOut(id=row.id, name=row.name, entry=row.entry, nodes=row.nodes,
                   edges=row.edges, created_at=row.created_at, updated_at=row.updated_at)
