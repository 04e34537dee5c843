"""Campaigns dialled end to end by a node's dialer, over real SIP to sipp or a test phone and
a fake AI on a real WebSocket: pacing and `max_concurrent_calls`, DND, the retry policy, pause,
the calling window, and every agent slot given back."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from yotel.counters import Counters
from yotel.rtp.ports import RtpPortPool
from yotel.settings import Settings
from yotel.testing.phone import Phone
from yotel.testing.sipp import SippProcess, sipp_running

from .scene import dialing_node, max_overlap, node_settings, until

Factory = Callable[..., Settings]


@pytest.fixture
async def uas() -> AsyncIterator[SippProcess]:
    """sipp answering every call and hanging up 1.5 s later."""
    async with sipp_running(scenario="uas_answer_bye", calls=1000, timeout_s=60,
                            extra=["-d", "1500"]) as sipp:
        yield sipp


def numbers(count: int, prefix: str = "+1415555") -> list[str]:
    return [f"{prefix}{i:04d}" for i in range(count)]


async def test_a_campaign_of_eight_leads_one_dnd_one_malformed(
        make_settings: Factory, counters: Counters, make_tenant_key: Any,
        uas: SippProcess) -> None:
    """Nine rows are sent: eight good numbers (one on the DND list) and one malformed, refused
    at add time. The seven others are dialled once each, never more than two at once."""
    settings = node_settings(make_settings, uas.port)
    async with dialing_node(settings, counters, make_tenant_key) as dn:
        phones = numbers(8)
        dnd = await dn.http.post("/api/v1/dnd", json={"numbers": [phones[3]]})
        assert dnd.status_code == 200, dnd.text
        campaign = await dn.campaign(
            leads=[{"phone": p} for p in phones[:5]] + [{"phone": "555-CALL-ME"}] +
                  [{"phone": p} for p in phones[5:]],
            pacing={"calls_per_second": 5, "max_concurrent_calls": 2})
        leads = await dn.leads(campaign)
        assert sorted(leads) == phones  # the malformed row was refused
        await dn.action(campaign, "start")
        await until(lambda: _is(dn.status(campaign), "completed"), timeout=40)

        leads = await dn.leads(campaign)
        calls = await dn.calls(campaign)
        assert leads[phones[3]].status == "dnd_blocked" and leads[phones[3]].attempts == 0
        dialled = [p for p in phones if p != phones[3]]
        assert sorted(c.to for c in calls) == dialled  # seven calls, one per lead
        assert {c.lead_id for c in calls} == {leads[p].id for p in dialled}
        for phone in dialled:
            lead = leads[phone]
            assert (lead.status, lead.attempts, lead.claimed_by) == ("completed", 1, None)
            assert lead.last_outcome == "caller_hangup" and lead.last_call_id
        assert max_overlap(calls) <= 2
        assert max_overlap(calls) == 2  # the cap was reached, so the bound means something
        assert await dn.node.services.calls.slots.active(dn.agent_id) == 0
        assert len(dn.ai.sessions) == 7


async def _is(status: Any, wanted: str) -> bool:
    return bool(await status == wanted)


async def test_busy_leads_are_retried_per_policy(
        make_settings: Factory, counters: Counters, make_tenant_key: Any) -> None:
    phone = await Phone(RtpPortPool(45000, 45998), answer_mode="busy").start()
    try:
        settings = node_settings(make_settings, phone.ua.port)
        async with dialing_node(settings, counters, make_tenant_key) as dn:
            campaign = await dn.campaign(
                leads=[{"phone": "+14155550100"}],
                retry={"max_attempts": 3, "retry_after_s": 1, "on": ["busy"]})
            await dn.action(campaign, "start")
            await until(lambda: _is(dn.status(campaign), "completed"), timeout=30)
            lead = (await dn.leads(campaign))["+14155550100"]
            assert (lead.status, lead.attempts, lead.last_outcome) == ("failed", 3, "busy")
            calls = await dn.calls(campaign)
            assert [c.outcome for c in calls] == ["busy"] * 3 and len(phone.invites) == 3
            gaps = [(b.started_at - a.started_at).total_seconds()
                    for a, b in itertools.pairwise(calls)]
            assert min(gaps) >= 0.9  # retry_after_s between attempts
            assert await dn.node.services.calls.slots.active(dn.agent_id) == 0
    finally:
        await phone.close()


async def test_a_paused_campaign_dials_nothing_until_resumed(
        make_settings: Factory, counters: Counters, make_tenant_key: Any,
        uas: SippProcess) -> None:
    settings = node_settings(make_settings, uas.port)
    async with dialing_node(settings, counters, make_tenant_key, start_dialer=False) as dn:
        campaign = await dn.campaign(leads=[{"phone": p} for p in numbers(3)],
                                     pacing={"calls_per_second": 10, "max_concurrent_calls": 3})
        await dn.action(campaign, "start")
        await dn.action(campaign, "pause")
        await dn.dialer.start()
        await asyncio.sleep(1.5)
        assert await dn.calls(campaign) == []
        assert {lead.status for lead in (await dn.leads(campaign)).values()} == {"pending"}
        await dn.action(campaign, "resume")
        await until(lambda: _is(dn.status(campaign), "completed"), timeout=30)
        assert len(await dn.calls(campaign)) == 3


async def test_leads_outside_the_calling_window_wait_for_it(
        make_settings: Factory, counters: Counters, make_tenant_key: Any,
        uas: SippProcess) -> None:
    """The window is open now in UTC, not in UTC+12: the lead in UTC+12 waits for its opening,
    the one in UTC is dialled."""
    now = datetime.now(UTC)
    start, end = (now - timedelta(hours=1)), (now + timedelta(hours=1))
    window = {"start": start.strftime("%H:%M"), "end": end.strftime("%H:%M"),
              "timezone": "UTC"}
    settings = node_settings(make_settings, uas.port)
    async with dialing_node(settings, counters, make_tenant_key) as dn:
        campaign = await dn.campaign(
            leads=[{"phone": "+14155550111", "timezone": "UTC"},
                   {"phone": "+14155550122", "timezone": "Etc/GMT-12"},
                   {"phone": "+14155550133"}],  # no zone: the window's (UTC)
            calling_window=window)
        await dn.action(campaign, "start")

        async def two_calls_ended() -> bool:
            calls = await dn.calls(campaign)
            return len(calls) == 2 and all(c.state == "ended" for c in calls)

        await until(two_calls_ended)
        await asyncio.sleep(0.5)
        leads = await dn.leads(campaign)
        waiting = leads["+14155550122"]
        assert (waiting.status, waiting.attempts) == ("pending", 0)
        assert waiting.next_attempt_at is not None
        # Its next opening: the window's start in UTC+12, at least ten hours away.
        assert waiting.next_attempt_at - now > timedelta(hours=10)
        assert (waiting.next_attempt_at + timedelta(hours=12)).strftime("%H:%M") == \
            window["start"]
        assert {c.to for c in await dn.calls(campaign)} == {"+14155550111", "+14155550133"}
        assert await dn.status(campaign) == "running"  # a lead is still to dial
