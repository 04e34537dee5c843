"""Scheduled callbacks (PRODUCT.md §4): dialled at `scheduled_at`, not before, with their own
`voice_agent_id` when they name one (else their campaign's agent), never when the number is on
a DND list; `completed` once answered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from yotel.counters import Counters
from yotel.db.models import Call, Callback
from yotel.domain.ids import new_id
from yotel.settings import Settings
from yotel.testing.sipp import SippProcess, sipp_running

from .scene import DialingNode, dialing_node, node_settings, until


@pytest.fixture
async def uas() -> AsyncIterator[SippProcess]:
    async with sipp_running(scenario="uas_answer_bye", calls=100, timeout_s=60,
                            extra=["-d", "500"]) as sipp:
        yield sipp


async def schedule(dn: DialingNode, tenant_id: str, phone: str, *, in_s: float,
                   voice_agent_id: str | None = None, campaign_id: str | None = None) -> str:
    callback_id = new_id()
    async with dn.db.write() as session:
        session.add(Callback(id=callback_id, tenant_id=tenant_id, phone=phone,
                             scheduled_at=datetime.now(UTC) + timedelta(seconds=in_s),
                             voice_agent_id=voice_agent_id, campaign_id=campaign_id,
                             reason="asked to be called back"))
    return callback_id


async def callback(dn: DialingNode, callback_id: str) -> Callback:
    async with dn.db.read() as session:
        row = await session.get(Callback, callback_id)
        assert row is not None
        return row


async def call_to(dn: DialingNode, phone: str) -> Call | None:
    async with dn.db.read() as session:
        return (await session.scalars(select(Call).where(Call.to == phone))).first()


async def test_due_callbacks_are_dialled_at_their_time_with_their_own_agent(
        make_settings: Callable[..., Settings], counters: Counters, make_tenant_key: Any,
        uas: SippProcess) -> None:
    settings = node_settings(make_settings, uas.port)
    async with dialing_node(settings, counters, make_tenant_key) as dn:
        tenant_id = (await dn.http.get("/api/v1/tenant")).json()["id"]
        own = (await dn.http.post("/api/v1/voice-agents", json={
            "name": "callbacks", "ws_url": dn.ai.url})).json()["id"]
        campaign = await dn.campaign(leads=[])  # pinned to dn.agent_id
        await dn.http.post("/api/v1/dnd", json={"numbers": ["+14155559003"]})
        pinned = await schedule(dn, tenant_id, "+14155559001", in_s=0, voice_agent_id=own,
                                campaign_id=campaign)
        later = await schedule(dn, tenant_id, "+14155559002", in_s=2.5, campaign_id=campaign)
        blocked = await schedule(dn, tenant_id, "+14155559003", in_s=0)

        async def settled(callback_id: str, status: str) -> bool:
            return (await callback(dn, callback_id)).status == status

        await until(lambda: settled(pinned, "completed"), timeout=15)
        first = await call_to(dn, "+14155559001")
        assert first is not None and first.voice_agent_id == own
        assert (await callback(dn, later)).status == "scheduled"  # not before its time
        assert await call_to(dn, "+14155559002") is None
        await until(lambda: settled(later, "completed"), timeout=15)
        second = await call_to(dn, "+14155559002")
        assert second is not None and second.voice_agent_id == dn.agent_id  # the campaign's
        assert second.started_at >= (await callback(dn, later)).scheduled_at
        await asyncio.sleep(0.2)
        done = await callback(dn, blocked)
        assert (done.status, done.attempts) == ("dnd_blocked", 0)
        assert await call_to(dn, "+14155559003") is None
        assert (await callback(dn, pinned)).attempts == 1
        assert await dn.node.services.calls.slots.active(own) == 0
