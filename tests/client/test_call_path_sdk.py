"""The SDK's call-path resources against the real API server on a real socket: trunks,
campaigns (actions, leads), leads, DND, numbers, flows, agents and queues, calls, AI sessions,
callbacks; async and sync (the sync client in a worker thread: the server shares the loop)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from yotel import AsyncYotel, ConflictError, NotFoundError, ValidationError, Yotel
from yotel.db.engine import Database
from yotel.db.models import AiSession, Call, Callback
from yotel.domain.ids import new_id

TenantKeyFactory = Callable[..., Awaitable[Any]]
ALL = ("tenant:admin", "campaigns:write", "leads:write", "flows:write", "numbers:write",
       "calls:read", "voice_agents:write")
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


async def test_trunks_campaigns_and_leads(api_url: str,
                                          make_tenant_key: TenantKeyFactory) -> None:
    key = await make_tenant_key(*ALL)
    async with AsyncYotel(key.key, api_url) as client:
        trunk = await client.sip_trunks.create(name="carrier", host="sip.example.com",
                                               username="u", password="s3cret")
        assert trunk.has_password and "s3cret" not in trunk.model_dump_json()
        trunk = await client.sip_trunks.update(trunk.id, password=None, port=5080)
        assert (trunk.has_password, trunk.port) == (False, 5080)
        assert (await client.tenant.update(default_trunk_id=trunk.id)).default_trunk_id == trunk.id
        campaign = await client.campaigns.create(
            name="spring", trunk_id=trunk.id, pacing={"calls_per_second": 5},
            calling_window={"timezone": "Europe/Paris", "start": "08:00", "end": "20:00"})
        assert campaign.status == "draft" and campaign.pacing.calls_per_second == 5
        assert campaign.calling_window is not None and campaign.calling_window.start == "08:00"
        added = await client.campaigns.add_leads(campaign.id, [
            {"phone": "+14155550100", "name": "Ann", "custom_fields": {"tier": 1}},
            {"phone": "+14155550100"}, {"phone": "555"}])
        assert added.created == 1
        assert [(r.index, r.reason) for r in added.rejected] == [(1, "duplicate"),
                                                                 (2, "bad_phone")]
        with pytest.raises(TypeError):
            await client.campaigns.add_leads(campaign.id, [{"number": "+1"}])  # type: ignore[list-item]
        for action, status in (("start", "running"), ("pause", "paused"),
                               ("resume", "running"), ("stop", "stopped")):
            campaign = await getattr(client.campaigns, action)(campaign.id)
            assert campaign.status == status
        with pytest.raises(ConflictError):
            await client.campaigns.start(campaign.id)
        assert (await client.campaigns.get(campaign.id)).stats.total == 1
        leads = [lead async for lead in client.campaigns.iter_leads(campaign.id, limit=1)]
        assert [lead.phone for lead in leads] == ["+14155550100"]
        lead = await client.leads.update(leads[0].id, status="completed", disposition="sold")
        assert (lead.status, lead.status_set_by, lead.disposition) == (
            "completed", "user", "sold")
        assert (await client.leads.get(lead.id)).custom_fields == {"tier": 1}
        page = await client.campaigns.list_leads(campaign.id, status="pending")
        assert page.data == []
        with pytest.raises(ConflictError):
            await client.sip_trunks.delete(trunk.id)  # the tenant default


async def test_dnd_numbers_flows_agents_queues(api_url: str,
                                               make_tenant_key: TenantKeyFactory) -> None:
    key = await make_tenant_key(*ALL)
    async with AsyncYotel(key.key, api_url) as client:
        added = await client.dnd.add(["+14155550100", "bad"])
        assert added.created == 1 and added.rejected[0].reason == "bad_phone"
        entry = await client.dnd.get("+14155550100")
        assert [e.id async for e in client.dnd.iter()] == [entry.id]
        await client.dnd.delete(entry.id)
        with pytest.raises(NotFoundError):
            await client.dnd.get("+14155550100")
        agent = await client.agents.create(name="Bo", contact="sip:bo@pbx.example.com")
        queue = await client.agent_queues.create(name="desk", agent_ids=[agent.id],
                                                 strategy="round_robin")
        assert queue.agent_ids == [agent.id] and queue.strategy == "round_robin"
        ai = await client.voice_agents.create(name="ai", ws_url="wss://ai.example.com/ws")
        graph = {
            "name": "ivr", "entry": "menu",
            "nodes": [{"id": "menu", "type": "gather_dtmf", "data": {"max_digits": 1}},
                      {"id": "ai", "type": "connect_voice_agent",
                       "data": {"voice_agent_id": ai.id}},
                      {"id": "desk", "type": "transfer", "data": {
                          "destination_type": "agent_queue", "destination": "desk"}}],
            "edges": [{"from": "menu", "to": "ai", "on": "1"},
                      {"from": "menu", "to": "desk", "on": "timeout"}],
        }
        flow = await client.flows.create(**graph)
        assert [n.id for n in flow.nodes] == ["menu", "ai", "desk"]
        with pytest.raises(ValidationError) as bad:
            await client.flows.update(flow.id, edges=[{"from": "menu", "to": "gone", "on": "1"}])
        assert bad.value.details[0]["node_id"] == "menu"
        assert bad.value.details[0]["type"] == "dangling_edge"
        number = await client.numbers.create(e164="+14155550123", flow_id=flow.id)
        assert number.flow_id == flow.id
        with pytest.raises(ConflictError):
            await client.flows.delete(flow.id)
        with pytest.raises(TypeError):
            await client.numbers.create(number="+14155550124")
        updated = await client.numbers.update(number.id, flow_id=None)
        assert updated.flow_id is None
        await client.flows.delete(flow.id)
        assert (await client.agents.update(agent.id, on_duty=False)).on_duty is False
        assert [q.name for q in (await client.agent_queues.list()).data] == ["desk"]


async def test_calls_sessions_callbacks_async_and_sync(
        api_url: str, make_tenant_key: TenantKeyFactory, db: Database) -> None:
    key = await make_tenant_key(*ALL)
    calls = [Call(id=new_id(), tenant_id=key.tenant_id, direction=d, from_="+14155550100",
                  to="+14155550111", state="ended", outcome=o,
                  started_at=T0 + timedelta(minutes=i), created_at=T0 + timedelta(minutes=i))
             for i, (d, o) in enumerate((("outbound", "busy"), ("inbound", "hangup")))]
    async with db.write() as session:
        session.add_all(calls)
        await session.flush()
        session.add(AiSession(call_id=calls[1].id, tenant_id=key.tenant_id, started_at=T0,
                              metadata_={"logs": [{"verb": "mute"}]}))
        session.add(Callback(id=new_id(), tenant_id=key.tenant_id, phone="+14155550100",
                             scheduled_at=T0, status="scheduled", attempts=0))
    async with AsyncYotel(key.key, api_url) as client:
        listed = [c async for c in client.calls.iter(limit=1)]
        assert [c.id for c in listed] == [c.id for c in calls]
        assert listed[0].from_ == "+14155550100" and listed[0].outcome == "busy"
        inbound = await client.calls.list(direction="inbound", since=T0)
        assert [c.id for c in inbound.data] == [calls[1].id]
        session_out = await client.ai_sessions.get(calls[1].id)
        assert session_out.metadata["logs"] == [{"verb": "mute"}]
        callbacks = (await client.callbacks.list(status="scheduled")).data
        assert len(callbacks) == 1

    def sync_scenario() -> None:
        with Yotel(key.key, api_url) as client:
            assert client.calls.get(calls[0].id).direction == "outbound"
            assert [c.id for c in client.calls.iter(outcome="hangup")] == [calls[1].id]
            campaign = client.campaigns.create()
            assert client.campaigns.start(campaign.id).status == "running"
            assert client.campaigns.add_leads(campaign.id, [{"phone": "+14155550100"}]).created
            assert [x.phone for x in client.campaigns.iter_leads(campaign.id)] == [
                "+14155550100"]
            client.callbacks.delete(callbacks[0].id)
            with pytest.raises(NotFoundError):
                client.callbacks.get(callbacks[0].id)
            trunk = client.sip_trunks.create(name="t", host="10.0.0.1")
            assert [t.id for t in client.sip_trunks.iter()] == [trunk.id]

    await asyncio.to_thread(sync_scenario)
