"""What the dialer does when a call cannot be placed: the voice agent at its `max_concurrent`
(429) makes the campaign wait, no lead failed; an agent this node cannot serve (424
`subprotocol_mismatch`) pauses the campaign before any SIP is sent, its leads untouched."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from yotel.counters import Counters
from yotel.settings import Settings
from yotel.testing.sipp import SippProcess, sipp_running

from .scene import dialing_node, max_overlap, node_settings, until


@pytest.fixture
async def uas() -> AsyncIterator[SippProcess]:
    async with sipp_running(scenario="uas_answer_bye", calls=100, timeout_s=60,
                            extra=["-d", "600"]) as sipp:
        yield sipp


async def test_an_agent_at_its_cap_makes_the_dialer_wait_not_fail_leads(
        make_settings: Callable[..., Settings], counters: Counters, make_tenant_key: Any,
        uas: SippProcess) -> None:
    settings = node_settings(make_settings, uas.port)
    async with dialing_node(settings, counters, make_tenant_key, max_concurrent=1) as dn:
        phones = [f"+1303555{i:04d}" for i in range(4)]
        campaign = await dn.campaign(leads=[{"phone": p} for p in phones],
                                     pacing={"calls_per_second": 20, "max_concurrent_calls": 4},
                                     retry={"max_attempts": 1, "retry_after_s": 0})
        await dn.action(campaign, "start")
        await until(lambda: _status(dn, campaign, "completed"), timeout=40)
        leads = await dn.leads(campaign)
        assert {(lead.status, lead.attempts) for lead in leads.values()} == {("completed", 1)}
        calls = await dn.calls(campaign)
        assert len(calls) == 4 and max_overlap(calls) == 1  # the agent's cap, not the campaign's
        assert dn.dialer.dialer.stats.agent_busy > 0  # the 429 path was taken
        assert await dn.node.services.calls.slots.active(dn.agent_id) == 0


async def test_an_agent_this_node_cannot_serve_pauses_the_campaign_before_any_sip(
        make_settings: Callable[..., Settings], counters: Counters, make_tenant_key: Any,
        uas: SippProcess) -> None:
    settings = node_settings(make_settings, uas.port,
                             audio_fork_subprotocols=("audio.drachtio.org",))
    async with dialing_node(settings, counters, make_tenant_key) as dn:
        agent = await dn.http.post("/api/v1/voice-agents", json={
            "name": "jambonz", "ws_url": dn.ai.url, "subprotocol": "audio.jambonz.org"})
        assert agent.status_code == 201, agent.text
        campaign = await dn.campaign(leads=[{"phone": "+13035550100"}],
                                     voice_agent_id=agent.json()["id"])
        await dn.action(campaign, "start")
        await until(lambda: _status(dn, campaign, "paused"), timeout=10)
        await asyncio.sleep(0.3)
        lead = (await dn.leads(campaign))["+13035550100"]
        assert (lead.status, lead.attempts, lead.claimed_by) == ("pending", 0, None)
        assert await dn.calls(campaign) == []  # no call row, no INVITE
        assert dn.ai.sessions == []


async def _status(dn: Any, campaign: str, wanted: str) -> bool:
    return bool(await dn.status(campaign) == wanted)
