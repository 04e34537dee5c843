"""The flow executor through a whole node: a test phone dials a DID and each node type does
its real thing: gather_dtmf branches on the caller's RFC 4733 digits (or times out), play_audio
plays a WAV fetched over HTTP, time_condition opens or closes, hangup ends the call, and a
prompt that cannot be fetched is skipped. Real sockets everywhere."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from yotel.counters import Counters
from yotel.settings import Settings
from yotel.testing.audio import tone, tone_g711, wav_bytes
from yotel.testing.fake_ai import FakeVoiceAI
from yotel.testing.phone import Phone
from yotel.testing.server import RunningNode

from .scene import (
    ai_session,
    audio_server,
    connect,
    did_uri,
    hangup,
    heard,
    node_with,
    phones,
    refused,
    tenant,
    wait_for,
)

PROMPT_HZ, CALLER_HZ = 700.0, 440.0


@pytest.fixture
async def node(make_settings: Callable[..., Settings],
               counters: Counters) -> AsyncIterator[RunningNode]:
    async with node_with(make_settings, counters) as running:
        yield running


@pytest.fixture
async def caller() -> AsyncIterator[Phone]:
    async with phones(1) as (phone,):
        yield phone


def gather(node_id: str = "menu", **data: Any) -> dict[str, Any]:
    return {"id": node_id, "type": "gather_dtmf", "data": {"max_digits": 1, "timeout_s": 2,
                                                           **data}}


def edge(source: str, target: str, on: str | None = None) -> dict[str, Any]:
    return {"from": source, "to": target, "on": on}


async def test_gather_dtmf_takes_the_edge_of_the_digit_pressed(
        node: RunningNode, caller: Phone, make_tenant_key: Any) -> None:
    async with tenant(node, make_tenant_key) as t, FakeVoiceAI(mode="silent") as ai:
        did = await t.did_running("menu", [gather(), connect(await t.voice_agent(ai.url)),
                                           hangup()],
                                  [edge("menu", "ai", "1"), edge("menu", "bye", "2"),
                                   edge("menu", "bye", "timeout")])
        await caller.call(did_uri(node, did))  # gather_dtmf answers: it needs the media
        assert caller.rtp is not None and caller.dialog is not None
        await asyncio.sleep(0.2)
        await caller.rtp.send_dtmf("1")
        session = await ai_session(ai)  # "1" led to the AI
        assert session.metadata["to"] == did
        await session.wait_for_binary(10)
        await caller.dialog.bye()
        assert (await t.ended_call())["outcome"] == "caller_hangup"


async def test_gather_dtmf_times_out_to_its_timeout_edge(
        node: RunningNode, caller: Phone, make_tenant_key: Any) -> None:
    async with tenant(node, make_tenant_key) as t:
        did = await t.did_running("menu", [gather(timeout_s=1), hangup()],
                                  [edge("menu", "bye", "timeout")])
        loop = asyncio.get_running_loop()
        await caller.call(did_uri(node, did))
        answered = loop.time()
        assert caller.dialog is not None
        await asyncio.wait_for(caller.dialog.terminated.wait(), 5)  # Yotel's BYE
        assert 0.9 <= loop.time() - answered < 4.0
        assert (await t.ended_call())["outcome"] == "hangup"


async def test_play_audio_plays_the_prompt_then_follows_done(
        node: RunningNode, caller: Phone, make_tenant_key: Any) -> None:
    prompt = wav_bytes(tone(PROMPT_HZ, 1.5, rate=16000), rate=16000)
    async with tenant(node, make_tenant_key) as t, \
            audio_server({"/hello.wav": prompt}) as base:
        did = await t.did_running("hello", [
            {"id": "hello", "type": "play_audio", "data": {"audio_url": f"{base}/hello.wav"}},
            hangup()], [edge("hello", "bye", "done")])
        loop = asyncio.get_running_loop()
        await caller.call(did_uri(node, did))
        answered = loop.time()

        async def hearing() -> bool:
            return heard(caller, PROMPT_HZ, last=25)

        await wait_for(hearing, 5)
        assert caller.dialog is not None
        await asyncio.wait_for(caller.dialog.terminated.wait(), 5)  # done -> hangup
        assert loop.time() - answered >= 1.4  # the whole prompt first
        assert (await t.ended_call())["outcome"] == "hangup"


async def test_a_prompt_that_cannot_be_fetched_is_skipped_and_the_flow_goes_on(
        node: RunningNode, caller: Phone, make_tenant_key: Any) -> None:
    async with tenant(node, make_tenant_key) as t, FakeVoiceAI(mode="silent") as ai, \
            audio_server({}) as base:
        did = await t.did_running("hello", [
            {"id": "hello", "type": "play_audio", "data": {"audio_url": f"{base}/gone.wav"}},
            connect(await t.voice_agent(ai.url))], [edge("hello", "ai")])
        await caller.call(did_uri(node, did))
        session = await ai_session(ai)
        assert session.metadata["to"] == did
        assert caller.dialog is not None
        await caller.dialog.bye()


def hours_around(now: datetime, *, open_: bool) -> list[dict[str, Any]]:
    """Open hours (every day) around `now`, or two hours ahead of it."""
    start = now - timedelta(hours=1) if open_ else now + timedelta(hours=2)
    end = start + timedelta(hours=2 if open_ else 1)
    return [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
             "start": start.strftime("%H:%M"), "end": end.strftime("%H:%M")}]


@pytest.mark.parametrize("open_", [True, False])
async def test_time_condition_routes_open_and_closed(
        node: RunningNode, caller: Phone, make_tenant_key: Any, open_: bool) -> None:
    now = datetime.now(UTC)
    async with tenant(node, make_tenant_key) as t, FakeVoiceAI(mode="silent") as ai:
        did = await t.did_running("hours", [
            {"id": "hours", "type": "time_condition",
             "data": {"timezone": "UTC", "hours": hours_around(now, open_=open_)}},
            connect(await t.voice_agent(ai.url)), hangup()],
            [edge("hours", "ai", "open"), edge("hours", "bye", "closed")])
        if open_:
            await caller.call(did_uri(node, did))
            assert (await ai_session(ai)).metadata["to"] == did
            assert caller.dialog is not None
            await caller.dialog.bye()
            assert (await t.ended_call())["outcome"] == "caller_hangup"
        else:
            # Closed: hung up before anything answered it (480, RFC 3261 §21.4.18).
            assert await refused(caller, did_uri(node, did)) == 480
            record = await t.ended_call()
            assert record["outcome"] == "hangup" and record["answered_at"] is None
            assert ai.sessions == []


async def test_an_unreachable_ai_takes_the_failed_edge_to_a_human(
        node: RunningNode, make_tenant_key: Any) -> None:
    async with phones(2) as (caller, human), tenant(node, make_tenant_key) as t:
        async with FakeVoiceAI() as gone:
            url = gone.url
        did = await t.did_running("ai", [
            connect(await t.voice_agent(url)),
            {"id": "human", "type": "transfer",
             "data": {"destination_type": "sip_uri", "destination": human.uri}}],
            [edge("ai", "human", "failed")])
        await caller.call(did_uri(node, did))
        caller.send_audio(tone_g711(CALLER_HZ, 1.0))
        await asyncio.wait_for(human.answered.wait(), 10)

        async def hearing() -> bool:
            return heard(human, CALLER_HZ)

        await wait_for(hearing)
        assert caller.dialog is not None
        await caller.dialog.bye()
        record = await t.ended_call()
        assert record["outcome"] == "transferred_sip_uri"
        assert await node.services.calls.slots.active(record["voice_agent_id"]) == 0
