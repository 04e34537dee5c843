"""Which voice agent a call uses (page 000, "Optional: set as tenant default"):

    flow node > campaign > tenant default > lazy-create from `tenants.voice_agent_default_ws_url`

The lazy-created row gets the documented defaults (no Bearer auth, max_concurrent 100, drachtio
subprotocol, 30-minute token lifetime with refresh) and is pinned as the tenant default, so later
edits of the tenant's URL column never touch it. Two first calls racing create one row: the
creation happens under the tenant row's lock (`SELECT … FOR UPDATE` on PostgreSQL; SQLite's
`BEGIN IMMEDIATE` serialises writers) and re-reads the default inside it.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from yotel.db.models import Tenant, VoiceAgent
from yotel.domain.errors import NotFound, NoVoiceAgentConfigured, SubprotocolMismatch
from yotel.domain.ids import new_id
from yotel.voice_agents.schemas import (
    DEFAULT_MAX_CONCURRENT,
    AudioConfig,
    Subprotocol,
    TokenLifetime,
)
from yotel.voice_agents.service import VoiceAgentRecord, VoiceAgentService

LAZY_AGENT_NAME = "default"


class PinsVoiceAgent(Protocol):
    """Anything that may pin a voice agent: a flow node, a campaign, a scheduled callback."""

    @property
    def voice_agent_id(self) -> str | None: ...


async def resolve_voice_agent(service: VoiceAgentService, *, tenant_id: str,
                              flow_node: PinsVoiceAgent | None = None,
                              campaign: PinsVoiceAgent | None = None) -> VoiceAgentRecord:
    """The agent a call of `tenant_id` connects to; raise NoVoiceAgentConfigured (424)."""
    for source, holder in (("flow node", flow_node), ("campaign", campaign)):
        pinned = holder.voice_agent_id if holder is not None else None
        if pinned is not None:
            return await _pinned(service, tenant_id, pinned, source)
    return await _tenant_default(service, tenant_id)


async def _pinned(service: VoiceAgentService, tenant_id: str, agent_id: str,
                  source: str) -> VoiceAgentRecord:
    try:
        return await service.get(tenant_id, agent_id)
    except NotFound as exc:
        raise NoVoiceAgentConfigured(
            f"the {source}'s voice_agent_id {agent_id} does not exist") from exc


async def _tenant_default(service: VoiceAgentService, tenant_id: str) -> VoiceAgentRecord:
    async with service.db.read() as session:
        tenant = await session.get(Tenant, tenant_id)
        if tenant is None:
            raise NotFound(f"tenant {tenant_id} not found")
        agent_id, url = tenant.default_voice_agent_id, tenant.voice_agent_default_ws_url
    if agent_id is not None:
        return await service.get(tenant_id, agent_id)
    if url is None:
        raise NoVoiceAgentConfigured()
    return await _lazy_create(service, tenant_id)


async def _lazy_create(service: VoiceAgentService, tenant_id: str) -> VoiceAgentRecord:
    async with service.db.write() as session:
        tenant = await session.get(Tenant, tenant_id, with_for_update=True,
                                   populate_existing=True)
        if tenant is None:
            raise NotFound(f"tenant {tenant_id} not found")
        if tenant.default_voice_agent_id is not None:  # another call won the race
            row = await session.get(VoiceAgent, tenant.default_voice_agent_id)
            if row is None:
                raise NoVoiceAgentConfigured()
            return service.to_record(row)
        if tenant.voice_agent_default_ws_url is None:
            raise NoVoiceAgentConfigured()
        row = VoiceAgent(
            id=new_id(), tenant_id=tenant_id, name=LAZY_AGENT_NAME,
            ws_url=tenant.voice_agent_default_ws_url, auth_token_sealed=None,
            audio=AudioConfig().model_dump(mode="json"), max_concurrent=DEFAULT_MAX_CONCURRENT,
            token_lifetime=TokenLifetime.REFRESH_30MIN.value,
            subprotocol=Subprotocol.DRACHTIO.value)
        session.add(row)
        await session.flush()
        tenant.default_voice_agent_id = row.id
        return service.to_record(row)


def check_subprotocol(agent: VoiceAgentRecord, offered: Collection[str]) -> None:
    """Fail fast at originate (page 000): the agent's pinned subprotocol must be one this media
    node offers, or the call is refused with 424 instead of failing at the WS upgrade."""
    if agent.subprotocol not in offered:
        names = ", ".join(sorted(offered)) or "none"
        raise SubprotocolMismatch(
            f"voice agent {agent.id} uses {agent.subprotocol!r}; this media node offers {names}",
            details=[{"voice_agent_id": agent.id, "subprotocol": agent.subprotocol,
                      "offered": sorted(offered)}])
