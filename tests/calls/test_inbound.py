"""Inbound calls through a whole node: an INVITE to a DID runs that number's flow; sipp as the
phone network and a fake voice AI of our own. Real sockets everywhere."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import select

from yotel.counters import Counters
from yotel.db.engine import Database
from yotel.db.models import OutboxEvent
from yotel.rtp import g711
from yotel.settings import Settings
from yotel.testing.audio import rms
from yotel.testing.fake_ai import FakeVoiceAI
from yotel.testing.phone import Phone
from yotel.testing.server import RunningNode
from yotel.testing.sipp import start_sipp

from ..flows.scene import (
    ai_session,
    connect,
    did_uri,
    node_with,
    phones,
    refused,
    tenant,
    wait_for,
)


@pytest.fixture
async def node(make_settings: Callable[..., Settings],
               counters: Counters) -> AsyncIterator[RunningNode]:
    async with node_with(make_settings, counters) as running:
        yield running


@pytest.fixture
async def caller() -> AsyncIterator[Phone]:
    async with phones(1) as (phone,):
        yield phone


async def events_of(db: Database, call_id: str) -> list[str]:
    async with db.read() as session:
        rows = await session.scalars(select(OutboxEvent).where(OutboxEvent.call_id == call_id)
                                     .order_by(OutboxEvent.sequence))
        return [row.type for row in rows]


async def test_a_sipp_call_to_a_did_runs_its_flow_to_the_ai_with_audio_and_dtmf(
        node: RunningNode, make_tenant_key: Any, db: Database) -> None:
    async with tenant(node, make_tenant_key) as t, FakeVoiceAI(mode="silent") as ai:
        agent = await t.voice_agent(ai.url)
        flow_id = await t.flow("ai", [connect(agent)])
        did = await t.number(flow_id)
        # sipp dials the DID without its '+' (a Request-URI user part may carry either).
        sipp = await start_sipp(scenario="media_uac_pcap", remote=node.sip, timeout_s=30,
                                extra=["-s", did.removeprefix("+")])
        try:
            session = await ai_session(ai)
            metadata = session.metadata
            assert (metadata["direction"], metadata["to"], metadata["flow_id"],
                    metadata["voice_agent_id"]) == ("inbound", did, flow_id, agent)
            assert metadata["from"] == "sipp"
            await session.wait_for_binary(100, timeout=10)  # 2 s of the caller's timeline
            await session.wait_for_text("dtmf", timeout=15)
            result = await sipp.wait(20)
        finally:
            await sipp.stop()
        assert result.ok, result.report
        assert {len(frame) for _, frame in session.binary} == {160}
        speech = g711.decode(b"".join(frame for _, frame in session.binary[25:150]), "pcmu")
        assert rms(speech) > 300  # sipp's recorded audio, not the silence fill
        assert [d["digit"] for d in session.of_type("dtmf")] == ["1"]
        stopped = await session.wait_for_text("stop")
        assert stopped[0]["reason"] == "caller_hangup"
        record = await t.ended_call()
        assert record["outcome"] == "caller_hangup" and record["to"] == did
        assert record["voice_agent_id"] == agent and record["answered_at"]
    assert await events_of(db, record["id"]) == [
        "call.started", "call.answered", "ai_session.started", "ai_session.ended",
        "call.ended", "call.recording_ready"]
    assert await node.services.calls.slots.active(agent) == 0


async def test_the_call_is_answered_once_the_ai_is_connected_and_a_plus_did_matches(
        node: RunningNode, caller: Phone, make_tenant_key: Any) -> None:
    async with tenant(node, make_tenant_key) as t, \
            FakeVoiceAI(mode="silent", handshake_delay_s=0.5) as ai:
        did = await t.did_running("ai", [connect(await t.voice_agent(ai.url))])
        loop = asyncio.get_running_loop()
        started = loop.time()
        dialog = await caller.call(did_uri(node, did))
        assert loop.time() - started >= 0.45  # 200 only once the AI is connected
        session = await ai_session(ai)
        assert session.metadata["to"] == did
        await dialog.bye()
        assert (await t.ended_call())["outcome"] == "caller_hangup"


async def test_an_unknown_did_and_a_number_without_a_flow_get_404_before_any_port(
        node: RunningNode, caller: Phone, make_tenant_key: Any) -> None:
    engine = node.services.engine
    async with tenant(node, make_tenant_key) as t:
        unflowed = await t.number(None)
        for target in ("+14150000000", unflowed, "not-a-number"):
            assert await refused(caller, did_uri(node, target)) == 404, target
        queries = node.services.inbound.cache.queries
        for _ in range(5):  # a flood of one unknown DID: answered from the cache
            assert await refused(caller, did_uri(node, "+14150000000")) == 404
        assert node.services.inbound.cache.queries == queries
        assert engine.ports.in_use == 0 and engine.stats.screened_out >= 8
        assert await t.inbound_calls() == []


async def test_an_unreachable_ai_ends_the_call_ai_disconnected_not_silent(
        node: RunningNode, caller: Phone, make_tenant_key: Any) -> None:
    async with tenant(node, make_tenant_key) as t:
        async with FakeVoiceAI() as gone:
            url = gone.url
        did = await t.did_running("ai", [connect(await t.voice_agent(url))])
        # Never answered: nobody to talk to (480, RFC 3261 §21.4.18).
        assert await refused(caller, did_uri(node, did)) == 480
        record = await t.ended_call()
        assert record["outcome"] == "ai_disconnected" and record["answered_at"] is None

        async def slot_free() -> bool:
            return await node.services.calls.slots.active(record["voice_agent_id"]) == 0

        await wait_for(slot_free)
