from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from yotel.db.models import VoiceAgent
from yotel.domain.errors import NoVoiceAgentConfigured, SubprotocolMismatch
from yotel.domain.ids import new_id
from yotel.tenancy.tenants import create_tenant, get_tenant, update_tenant
from yotel.voice_agents.resolve import check_subprotocol, resolve_voice_agent
from yotel.voice_agents.schemas import VoiceAgentCreate
from yotel.voice_agents.service import VoiceAgentService


@dataclass(frozen=True)
class Pin:  # stands in for a flow node or a campaign
    voice_agent_id: str | None


async def _agent(service: VoiceAgentService, tenant: str, name: str, **extra: str) -> str:
    spec = VoiceAgentCreate.model_validate(
        {"name": name, "ws_url": f"wss://{name}.example.com/ws", **extra})
    return (await service.create(tenant, spec)).id


async def test_hierarchy_flow_node_campaign_tenant(service: VoiceAgentService) -> None:
    tenant = (await create_tenant(service.db, name="t")).id
    node, campaign, default = [await _agent(service, tenant, n) for n in ("n", "c", "d")]
    await update_tenant(service.db, tenant, {"default_voice_agent_id": default},
                        allow_insecure_urls=False)

    async def resolved(flow_node: Pin | None, camp: Pin | None) -> str:
        agent = await resolve_voice_agent(service, tenant_id=tenant, flow_node=flow_node,
                                          campaign=camp)
        return agent.id

    assert await resolved(Pin(node), Pin(campaign)) == node
    assert await resolved(Pin(None), Pin(campaign)) == campaign
    assert await resolved(None, Pin(None)) == default
    assert await resolved(None, None) == default


async def test_nothing_configured_is_424(service: VoiceAgentService) -> None:
    tenant = (await create_tenant(service.db, name="t")).id
    with pytest.raises(NoVoiceAgentConfigured) as caught:
        await resolve_voice_agent(service, tenant_id=tenant)
    assert caught.value.status == 424
    other = (await create_tenant(service.db, name="other")).id
    foreign = await _agent(service, other, "x")
    with pytest.raises(NoVoiceAgentConfigured):  # a pin never crosses tenants
        await resolve_voice_agent(service, tenant_id=tenant, campaign=Pin(foreign))


async def test_lazy_create_pins_default_once(service: VoiceAgentService) -> None:
    tenant = (await create_tenant(service.db, name="t")).id
    await update_tenant(service.db, tenant, {"voice_agent_default_ws_url": "wss://ai.example.com"},
                        allow_insecure_urls=False)
    first, second = await asyncio.gather(resolve_voice_agent(service, tenant_id=tenant),
                                         resolve_voice_agent(service, tenant_id=tenant))
    assert first.id == second.id
    assert (first.ws_url, first.max_concurrent, first.subprotocol, first.token_lifetime,
            first.has_auth_token) == ("wss://ai.example.com", 100, "audio.drachtio.org",
                                      "30min_with_refresh", False)
    assert (await get_tenant(service.db, tenant)).default_voice_agent_id == first.id
    async with service.db.read() as session:
        count = await session.scalar(
            select(func.count()).select_from(VoiceAgent).where(VoiceAgent.tenant_id == tenant))
    assert count == 1
    # Later edits of the tenant column never touch the row.
    await update_tenant(service.db, tenant, {"voice_agent_default_ws_url": "wss://new.example"},
                        allow_insecure_urls=False)
    again = await resolve_voice_agent(service, tenant_id=tenant)
    assert (again.id, again.ws_url) == (first.id, "wss://ai.example.com")


async def test_check_subprotocol(service: VoiceAgentService) -> None:
    tenant = (await create_tenant(service.db, name="t")).id
    agent = await service.get(tenant, await _agent(service, tenant, "j",
                                                   subprotocol="audio.jambonz.org"))
    check_subprotocol(agent, ("audio.drachtio.org", "audio.jambonz.org"))
    with pytest.raises(SubprotocolMismatch) as caught:
        check_subprotocol(agent, ("audio.drachtio.org",))
    assert caught.value.status == 424 and caught.value.type == "subprotocol_mismatch"
    assert new_id() not in caught.value.message
