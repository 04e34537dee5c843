from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from yotel.db.models import VoiceAgent
from yotel.domain.errors import Conflict, NotFound, ServerError, ValidationError
from yotel.domain.ids import new_id
from yotel.domain.secretbox import SecretBox
from yotel.tenancy.tenants import create_tenant, update_tenant
from yotel.voice_agents.schemas import VoiceAgentCreate, VoiceAgentUpdate
from yotel.voice_agents.service import VoiceAgentService
from yotel.voice_agents.slots import AgentSlots

URL = "wss://ai.example.com/ws"


async def _tenant(service: VoiceAgentService) -> str:
    return (await create_tenant(service.db, name="t")).id


def _spec(**fields: Any) -> VoiceAgentCreate:
    return VoiceAgentCreate.model_validate({"name": "sales", "ws_url": URL, **fields})


async def test_create_defaults_and_sealed_token(service: VoiceAgentService) -> None:
    tenant = await _tenant(service)
    agent = await service.create(tenant, _spec(auth_token="tok-123"))
    assert (agent.max_concurrent, agent.token_lifetime, agent.subprotocol) == (
        100, "30min_with_refresh", "audio.drachtio.org")
    assert agent.audio.model_dump(mode="json") == {
        "encoding": "pcmu", "sample_rate": 8000, "frame_ms": 20}
    assert agent.has_auth_token
    token = service.open_auth_token(agent)
    assert token is not None and token.get_secret_value() == "tok-123"
    assert "tok-123" not in repr(agent) and "tok-123" not in repr(token)
    async with service.db.read() as session:
        row = (await session.scalars(select(VoiceAgent).where(VoiceAgent.id == agent.id))).one()
    assert row.auth_token_sealed is not None and "tok-123" not in row.auth_token_sealed


async def test_update_only_sent_fields_and_clear_token(service: VoiceAgentService) -> None:
    tenant = await _tenant(service)
    agent = await service.create(tenant, _spec(auth_token="t", max_concurrent=5))
    patch = VoiceAgentUpdate.model_validate({"name": "renamed", "audio": {"encoding": "pcma"}})
    updated = await service.update(tenant, agent.id, patch)
    assert (updated.name, updated.max_concurrent, updated.audio.encoding) == ("renamed", 5, "pcma")
    assert updated.has_auth_token
    cleared = await service.update(tenant, agent.id,
                                   VoiceAgentUpdate.model_validate({"auth_token": None}))
    assert not cleared.has_auth_token and cleared.name == "renamed"
    with pytest.raises(ValidationError):
        await service.update(tenant, agent.id,
                             VoiceAgentUpdate.model_validate({"ws_url": "ws://ai.example.com"}))


async def test_other_tenants_agents_do_not_exist(service: VoiceAgentService) -> None:
    mine, theirs = await _tenant(service), await _tenant(service)
    agent = await service.create(mine, _spec())
    for call in (service.get(theirs, agent.id), service.delete(theirs, agent.id),
                 service.update(theirs, agent.id, VoiceAgentUpdate.model_validate({"name": "x"})),
                 service.get(mine, "not-a-uuid"), service.get(mine, new_id())):
        with pytest.raises(NotFound):
            await call
    assert await service.list(theirs, limit=10) == []
    assert (await service.get(mine, agent.id)).name == "sales"


async def test_list_is_keyset_paginated(service: VoiceAgentService) -> None:
    tenant = await _tenant(service)
    made = [await service.create(tenant, _spec(name=f"a{i}")) for i in range(5)]
    first = await service.list(tenant, limit=2)
    rest = await service.list(tenant, limit=10, after=(first[-1].created_at, first[-1].id))
    assert [a.id for a in first + rest] == [a.id for a in made]


async def test_delete_refused_while_in_use(service: VoiceAgentService) -> None:
    tenant = await _tenant(service)
    busy = await service.create(tenant, _spec())
    slots = AgentSlots(service.counters)
    assert await slots.acquire(busy.id, "call-1", 5)
    try:
        with pytest.raises(Conflict, match="1 active call"):
            await service.delete(tenant, busy.id)
    finally:
        await slots.release(busy.id, "call-1")
    default = await service.create(tenant, _spec(name="default"))
    await update_tenant(service.db, tenant, {"default_voice_agent_id": default.id},
                        allow_insecure_urls=False)
    with pytest.raises(Conflict, match="default"):
        await service.delete(tenant, default.id)

    async def used_by_campaign(session: Any, tenant_id: str, agent_id: str) -> str | None:
        return "campaign c1" if agent_id == busy.id else None

    service.reference_checks.append(used_by_campaign)
    with pytest.raises(Conflict, match="campaign c1"):
        await service.delete(tenant, busy.id)
    service.reference_checks.clear()
    await service.delete(tenant, busy.id)
    with pytest.raises(NotFound):
        await service.get(tenant, busy.id)


async def test_unopenable_token_fails_only_when_used(service: VoiceAgentService) -> None:
    tenant = await _tenant(service)
    agent = await service.create(tenant, _spec(auth_token="t"))
    rotated = VoiceAgentService(db=service.db, box=SecretBox("another-secret"),
                                counters=service.counters, allow_insecure_urls=False)
    again = await rotated.get(tenant, agent.id)  # reads never decrypt
    assert again.has_auth_token
    with pytest.raises(ServerError):
        rotated.open_auth_token(again)
    assert service.open_auth_token(await service.create(tenant, _spec())) is None
