"""Voice agents: tenant-scoped CRUD (PRODUCT.md §4, page 000).

Every query filters on the tenant: another tenant's agent is indistinguishable from a missing one
(404). `auth_token` is sealed with the process secret before it reaches the database and is only
ever opened for the media engine (`VoiceAgentRecord.auth_token`), never for an API response.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import SecretStr
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from yotel.counters import CountersUnavailableError
from yotel.db.engine import Database
from yotel.db.models import Tenant, VoiceAgent
from yotel.domain.errors import Conflict, NotFound, ServerError, ServiceUnavailable
from yotel.domain.ids import is_uuid, new_id
from yotel.domain.secretbox import SecretBox
from yotel.domain.urls import check_ws_url
from yotel.voice_agents.schemas import AudioConfig, VoiceAgentCreate, VoiceAgentUpdate
from yotel.voice_agents.slots import AgentSlots, LeaseStore

log = logging.getLogger(__name__)


# A reference check says why an agent cannot be deleted (e.g. "used by campaign X"), or None.
# Campaigns and flows register theirs when they land.
ReferenceCheck = Callable[[AsyncSession, str, str], Awaitable[str | None]]


@dataclass(frozen=True, slots=True)
class VoiceAgentRecord:
    id: str
    tenant_id: str
    name: str
    ws_url: str
    # Still sealed: opened only by `VoiceAgentService.open_auth_token`, when a call needs it, so a
    # listing never decrypts (and a rotated secret key never breaks reads).
    auth_token_sealed: str | None = field(repr=False)
    audio: AudioConfig
    max_concurrent: int
    token_lifetime: str
    subprotocol: str
    created_at: datetime
    updated_at: datetime

    @property
    def has_auth_token(self) -> bool:
        return self.auth_token_sealed is not None


@dataclass(slots=True)
class VoiceAgentService:
    db: Database
    box: SecretBox
    counters: LeaseStore
    allow_insecure_urls: bool
    reference_checks: list[ReferenceCheck] = field(default_factory=list)

    async def create(self, tenant_id: str, spec: VoiceAgentCreate) -> VoiceAgentRecord:
        self._check_url(spec.ws_url)
        row = VoiceAgent(
            id=new_id(), tenant_id=tenant_id, name=spec.name, ws_url=spec.ws_url,
            auth_token_sealed=self._seal(spec.auth_token), audio=spec.audio.model_dump(mode="json"),
            max_concurrent=spec.max_concurrent, token_lifetime=spec.token_lifetime.value,
            subprotocol=spec.subprotocol.value)
        async with self.db.write() as session:
            session.add(row)
        return self.to_record(row)

    async def get(self, tenant_id: str, agent_id: str) -> VoiceAgentRecord:
        async with self.db.read() as session:
            return self.to_record(await _own_agent(session, tenant_id, agent_id))

    async def list(self, tenant_id: str, *, limit: int,
                   after: tuple[datetime, str] | None = None) -> list[VoiceAgentRecord]:
        """Up to `limit` agents in creation order, strictly after the `(created_at, id)` key."""
        query = select(VoiceAgent).where(VoiceAgent.tenant_id == tenant_id)
        if after is not None:
            created, last_id = after
            same_time_later_id = and_(VoiceAgent.created_at == created, VoiceAgent.id > last_id)
            query = query.where(or_(VoiceAgent.created_at > created, same_time_later_id))
        query = query.order_by(VoiceAgent.created_at, VoiceAgent.id).limit(limit)
        async with self.db.read() as session:
            return [self.to_record(row) for row in (await session.scalars(query)).all()]

    async def update(self, tenant_id: str, agent_id: str,
                     patch: VoiceAgentUpdate) -> VoiceAgentRecord:
        changes = _patch_values(patch)
        if "ws_url" in changes:
            self._check_url(changes["ws_url"])
        if "auth_token" in changes:
            changes["auth_token_sealed"] = self._seal(changes.pop("auth_token"))
        async with self.db.write() as session:
            row = await _own_agent(session, tenant_id, agent_id)
            for name, value in changes.items():
                setattr(row, name, value)
            await session.flush()
            return self.to_record(row)

    async def delete(self, tenant_id: str, agent_id: str) -> None:
        """Delete, or 409 while the agent is in use: live calls, the tenant's default, or a
        registered reference (campaigns, flows)."""
        async with self.db.write() as session:
            row = await _own_agent(session, tenant_id, agent_id)
            tenant = await session.get(Tenant, tenant_id, with_for_update=True)
            if tenant is not None and tenant.default_voice_agent_id == agent_id:
                raise Conflict("voice agent is the tenant's default_voice_agent_id; "
                               "change the tenant default first")
            for check in self.reference_checks:
                reason = await check(session, tenant_id, agent_id)
                if reason is not None:
                    raise Conflict(f"voice agent is in use: {reason}")
            active = await self.active_calls(agent_id)
            if active > 0:
                raise Conflict(f"voice agent has {active} active call(s)")
            await session.delete(row)

    async def active_calls(self, agent_id: str) -> int:
        try:
            return await AgentSlots(self.counters).active(agent_id)
        except CountersUnavailableError as exc:
            raise ServiceUnavailable("the counters store is unavailable") from exc

    def open_auth_token(self, agent: VoiceAgentRecord) -> SecretStr | None:
        """The Bearer token to send on the WebSocket upgrade (PRODUCT.md §6.1), if any."""
        if agent.auth_token_sealed is None:
            return None
        try:
            return SecretStr(self.box.open(agent.auth_token_sealed))
        except ValueError as exc:
            log.error("voice agent %s: auth_token cannot be decrypted (was the secret key "
                      "changed?)", agent.id)
            raise ServerError("the voice agent's auth_token cannot be decrypted") from exc

    def to_record(self, row: VoiceAgent) -> VoiceAgentRecord:
        return VoiceAgentRecord(
            id=row.id, tenant_id=row.tenant_id, name=row.name, ws_url=row.ws_url,
            auth_token_sealed=row.auth_token_sealed,
            audio=AudioConfig.model_validate(row.audio), max_concurrent=row.max_concurrent,
            token_lifetime=row.token_lifetime, subprotocol=row.subprotocol,
            created_at=row.created_at, updated_at=row.updated_at)

    def _check_url(self, url: str) -> None:
        check_ws_url(url, allow_insecure=self.allow_insecure_urls, field="ws_url")

    def _seal(self, token: str | None) -> str | None:
        return None if token is None else self.box.seal(token)


def _patch_values(patch: VoiceAgentUpdate) -> dict[str, Any]:
    values: Mapping[str, Any] = patch.model_dump(mode="json", include=patch.model_fields_set)
    return dict(values)


async def _own_agent(session: AsyncSession, tenant_id: str, agent_id: str) -> VoiceAgent:
    row = await session.get(VoiceAgent, agent_id) if is_uuid(agent_id) else None
    if row is None or row.tenant_id != tenant_id:
        raise NotFound(f"voice agent {agent_id} not found")
    return row
