"""Transfers through a whole node, with the one primitive the Control API verb and the flow
node share: a caller on a DID talks to a fake voice AI, then is bridged to a second phone (an
E.164 number through the trunk, a SIP URI, an agent queue); the caller's audio reaches the
phone and the AI's socket closes with `stop` reason `transfer`. Real sockets everywhere."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from yotel.calls.live import LiveCall
from yotel.calls.transfer import TransferFailed, transfer
from yotel.counters import Counters
from yotel.db.engine import Database
from yotel.db.models import OutboxEvent
from yotel.domain.errors import Conflict, NotFound, ValidationError
from yotel.settings import Settings
from yotel.testing.audio import has_tone, read_wav, tone_g711
from yotel.testing.baresip import BaresipOptions, baresip_running
from yotel.testing.fake_ai import FakeSession, FakeVoiceAI
from yotel.testing.phone import Phone
from yotel.testing.server import RunningNode

from ..flows.scene import (
    Tenant,
    ai_session,
    connect,
    did_uri,
    heard,
    node_with,
    phones,
    tenant,
    wait_for,
)

CALLER_HZ, HUMAN_HZ = 440.0, 1200.0


async def events_of(db: Database, call_id: str) -> list[str]:
    async with db.read() as session:
        rows = await session.scalars(select(OutboxEvent).where(OutboxEvent.call_id == call_id)
                                     .order_by(OutboxEvent.sequence))
        return [row.type for row in rows]


async def talking_to_ai(node: RunningNode, t: Tenant, ai: FakeVoiceAI,
                        caller: Phone) -> tuple[LiveCall, FakeSession]:
    """The caller dials a DID whose flow connects the AI; its live call and the AI's session."""
    did = await t.did_running("ai", [connect(await t.voice_agent(ai.url))])
    await caller.call(did_uri(node, did))
    caller.send_audio(tone_g711(CALLER_HZ, 1.0))
    session = await ai_session(ai)
    live = node.services.calls.directory.get(session.metadata["call_id"])
    assert live is not None
    await session.wait_for_binary(10)
    return live, session


async def hears(phone: Phone, freq_hz: float) -> None:
    async def check() -> bool:
        return heard(phone, freq_hz)

    await wait_for(check)


async def test_an_e164_transfer_reaches_a_phone_through_the_trunk_and_the_ai_drops(
        make_settings: Callable[..., Settings], counters: Counters, make_tenant_key: Any,
        db: Database) -> None:
    async with phones(2) as (caller, human):
        trunk = f"sip:127.0.0.1:{human.ua.port}"
        async with node_with(make_settings, counters, outbound_trunk=trunk) as node, \
                tenant(node, make_tenant_key) as t, FakeVoiceAI(mode="silent") as ai:
            live, session = await talking_to_ai(node, t, ai, caller)
            result = await transfer(node.services.calls, live, "e164", "+15557654321",
                                    {"intent": "billing"})
            assert result.answered_by == "+15557654321" and result.agent_id is None
            assert human.invites[0].request.uri == f"sip:15557654321@{trunk[4:]}"
            stop = await session.wait_for_text("stop")
            assert stop[0]["reason"] == "transfer"
            assert await session.wait_closed() == 1000
            await hears(human, CALLER_HZ)  # the caller's audio flows to the second phone
            human.send_audio(tone_g711(HUMAN_HZ, 1.0))
            await hears(caller, HUMAN_HZ)  # and back
            await asyncio.sleep(1.0)
            assert human.dialog is not None and caller.dialog is not None
            await human.dialog.bye()  # the human hangs up: the caller gets a BYE
            await asyncio.wait_for(caller.dialog.terminated.wait(), 5)
            record = await t.ended_call(recording=True)
            assert record["outcome"] == "transferred_e164"
            wav = await t.http.get(f"/api/v1/calls/{record['id']}/recording")
            audio = read_wav(wav.content)
            tail = audio.span(audio.duration_s - 0.8, audio.duration_s - 0.1)
            # Right channel: the AI, then the human bridged in (docs/media.md).
            assert has_tone(tail.channel(0), CALLER_HZ) and has_tone(tail.channel(1), HUMAN_HZ)
            assert await node.services.calls.slots.active(record["voice_agent_id"]) == 0
            assert node.services.engine.calls == {}
    assert await events_of(db, record["id"]) == [
        "call.started", "call.answered", "ai_session.started", "ai_session.transferred",
        "ai_session.ended", "call.ended", "call.recording_ready"]


async def test_a_flow_transfers_to_a_sip_uri_and_the_caller_hanging_up_ends_both(
        make_settings: Callable[..., Settings], counters: Counters,
        make_tenant_key: Any) -> None:
    async with phones(2) as (caller, human), node_with(make_settings, counters) as node, \
            tenant(node, make_tenant_key) as t:
        did = await t.did_running("out", [{"id": "out", "type": "transfer", "data": {
            "destination_type": "sip_uri", "destination": human.uri}}])
        await caller.call(did_uri(node, did))
        caller.send_audio(tone_g711(CALLER_HZ, 1.0))
        await asyncio.wait_for(human.answered.wait(), 10)
        await hears(human, CALLER_HZ)
        assert caller.dialog is not None and human.dialog is not None
        await caller.dialog.bye()
        await asyncio.wait_for(human.dialog.terminated.wait(), 5)  # the leg is not left behind
        record = await t.ended_call()
        assert record["outcome"] == "transferred_sip_uri"
        await wait_for(lambda: _no_calls(node))


async def _no_calls(node: RunningNode) -> bool:
    return node.services.engine.calls == {}


async def test_an_agent_queue_rings_all_the_first_answer_wins_the_other_is_cancelled(
        make_settings: Callable[..., Settings], counters: Counters,
        make_tenant_key: Any) -> None:
    async with phones(3) as (caller, quick, slow), node_with(make_settings, counters) as node, \
            tenant(node, make_tenant_key) as t, FakeVoiceAI(mode="silent") as ai:
        quick.answer_delay_s, slow.answer_mode = 0.3, "ring"
        quick_id, slow_id = await t.agent(quick.uri), await t.agent(slow.uri)
        off_duty = await t.agent("+15550009999", on_duty=False)  # never rung (no trunk either)
        await t.queue("tier1", [slow_id, off_duty, quick_id], "ring_all")
        live, session = await talking_to_ai(node, t, ai, caller)
        for kind, destination in (("e164", "+15557654321"),  # this node has no trunk
                                  ("e164", "555-1234"), ("sip_uri", "tel:+1555"),
                                  ("fax", "+15557654321")):
            with pytest.raises(ValidationError):
                await transfer(node.services.calls, live, kind, destination, {})
        result = await transfer(node.services.calls, live, "agent_queue", "tier1", {})
        assert result.agent_id == quick_id and result.answered_by == quick.uri
        assert slow.invites and slow.invites[0].cancelled.is_set()
        assert (await session.wait_for_text("stop"))[0]["reason"] == "transfer"
        await hears(quick, CALLER_HZ)
        assert caller.dialog is not None and quick.dialog is not None
        await caller.dialog.bye()
        await asyncio.wait_for(quick.dialog.terminated.wait(), 5)
        assert (await t.ended_call())["outcome"] == "transferred_agent_queue"


async def test_round_robin_rings_one_at_a_time_from_the_cursor_and_skips_a_busy_agent(
        make_settings: Callable[..., Settings], counters: Counters,
        make_tenant_key: Any) -> None:
    async with phones(3) as (_, busy, free), node_with(make_settings, counters) as node, \
            tenant(node, make_tenant_key) as t, FakeVoiceAI(mode="silent") as ai:
        busy.answer_mode = "busy"
        busy_id, free_id = await t.agent(busy.uri), await t.agent(free.uri)
        await t.queue("tier2", [busy_id, free_id], "round_robin")
        for turn in range(2):
            async with phones(1) as (caller,):
                live, _ = await talking_to_ai(node, t, ai, caller)
                result = await transfer(node.services.calls, live, "agent_queue", "tier2", {})
                assert result.agent_id == free_id
                assert caller.dialog is not None
                await caller.dialog.bye()
                await wait_for(lambda: _no_calls(node))
            assert free.rtp is not None
            free.rtp.close()  # the phone keeps only its latest call's socket
            # Turn 0 starts at the busy agent (cursor 0) and moves on; turn 1 at the free one.
            assert (len(busy.invites), len(free.invites)) == (1, turn + 1)


async def test_when_nobody_answers_the_caller_stays_with_the_ai(
        make_settings: Callable[..., Settings], counters: Counters,
        make_tenant_key: Any) -> None:
    async with phones(3) as (caller, busy, ringing):
        busy.answer_mode, ringing.answer_mode = "busy", "ring"
        trunk = f"sip:127.0.0.1:{busy.ua.port}"
        async with node_with(make_settings, counters, outbound_trunk=trunk) as node, \
                tenant(node, make_tenant_key) as t, FakeVoiceAI(mode="silent") as ai:
            live, session = await talking_to_ai(node, t, ai, caller)
            calls = node.services.calls
            with pytest.raises(TransferFailed, match="busy"):
                await transfer(calls, live, "e164", "+15557654321", {})
            with pytest.raises(NotFound):
                await transfer(calls, live, "agent_queue", "no-such-queue", {})
            await t.queue("empty", [await t.agent(ringing.uri, on_duty=False)], "ring_all")
            with pytest.raises(TransferFailed, match="no agent on duty"):
                await transfer(calls, live, "agent_queue", "empty", {})
            first = asyncio.ensure_future(transfer(calls, live, "sip_uri", ringing.uri, {},
                                                   ring_timeout_s=1.0))
            await asyncio.wait_for(ringing.invited.wait(), 5)
            with pytest.raises(Conflict, match="already being transferred"):
                await transfer(calls, live, "sip_uri", ringing.uri, {})
            with pytest.raises(TransferFailed, match="no_answer"):
                await first
            assert ringing.invites[0].cancelled.is_set()
            frames = len(session.binary)
            await session.wait_for_binary(frames + 25)  # the AI still hears the caller
            assert live.media.fork is not None and session.of_type("stop") == []
            assert caller.dialog is not None
            await caller.dialog.bye()
            assert (await t.ended_call())["outcome"] == "caller_hangup"


async def test_a_caller_hanging_up_while_the_transfer_rings_cancels_the_leg(
        make_settings: Callable[..., Settings], counters: Counters,
        make_tenant_key: Any) -> None:
    async with phones(2) as (caller, ringing), node_with(make_settings, counters) as node, \
            tenant(node, make_tenant_key) as t, FakeVoiceAI(mode="silent") as ai:
        ringing.answer_mode = "ring"
        live, _ = await talking_to_ai(node, t, ai, caller)
        pending = asyncio.ensure_future(transfer(node.services.calls, live, "sip_uri",
                                                 ringing.uri, {}))
        await asyncio.wait_for(ringing.invited.wait(), 5)
        assert caller.dialog is not None
        await caller.dialog.bye()
        with pytest.raises(Conflict, match="ended while the transfer was ringing"):
            await pending
        await asyncio.wait_for(ringing.invites[0].cancelled.wait(), 5)
        await wait_for(lambda: _no_calls(node))
        assert (await t.ended_call())["outcome"] == "caller_hangup"


async def test_the_control_api_transfer_verb_uses_the_primitive(
        make_settings: Callable[..., Settings], counters: Counters, make_tenant_key: Any,
        db: Database) -> None:
    """Issue 9's acceptance, from outside: the AI, with the token of its metadata frame,
    transfers its caller to an E.164 number; the caller's audio reaches the second phone and
    the AI's socket closes."""
    async with phones(2) as (caller, human):
        trunk = f"sip:127.0.0.1:{human.ua.port}"
        async with node_with(make_settings, counters, outbound_trunk=trunk) as node, \
                tenant(node, make_tenant_key) as t, FakeVoiceAI(mode="silent") as ai:
            live, session = await talking_to_ai(node, t, ai, caller)
            as_ai = {"Authorization": f"Bearer {session.metadata['yotel_callback_token']}"}
            url = f"/api/v1/ai-sessions/{live.id}/control"
            human.answer_mode = "busy"
            busy = await t.http.post(url, headers=as_ai, json={
                "event": "transfer", "destination_type": "e164",
                "destination": "+15557654321"})
            assert busy.status_code == 409, busy.text
            error = busy.json()["error"]
            assert error["type"] == "conflict"  # the documented 409 type (PRODUCT.md §3)
            assert {d["type"] for d in error["details"]} == {"transfer_failed"}
            human.answer_mode = "answer"
            reply = await t.http.post(url, headers=as_ai, json={
                "event": "transfer", "destination_type": "e164",
                "destination": "+15557654321", "metadata": {"intent": "billing"}})
            assert reply.status_code == 200, reply.text
            assert (await session.wait_for_text("stop"))[0]["reason"] == "transfer"
            assert await session.wait_closed() == 1000
            await hears(human, CALLER_HZ)
            assert caller.dialog is not None
            await caller.dialog.bye()
            assert (await t.ended_call())["outcome"] == "transferred_e164"
    async with db.read() as read:
        transferred = (await read.scalars(select(OutboxEvent).where(
            OutboxEvent.call_id == live.id, OutboxEvent.type == "ai_session.transferred"))).one()
    assert transferred.payload["data"]["destination"] == "+15557654321"
    assert transferred.payload["data"]["metadata"] == {"intent": "billing"}


async def test_a_transfer_to_baresip_carries_audio_both_ways(
        make_settings: Callable[..., Settings], counters: Counters, make_tenant_key: Any,
        tmp_path: Path) -> None:
    """A softphone we did not write takes the transfer (STYLE habit 14)."""
    caller_hz = 1000.0
    async with phones(1) as (caller,), node_with(make_settings, counters) as node, \
            tenant(node, make_tenant_key) as t, FakeVoiceAI(mode="silent") as ai, \
            baresip_running(BaresipOptions(timeout_s=40), workdir=tmp_path) as human:
        did = await t.did_running("ai", [connect(await t.voice_agent(ai.url))])
        await caller.call(did_uri(node, did))
        caller.send_audio(tone_g711(caller_hz, 1.0))
        session = await ai_session(ai)
        live = node.services.calls.directory.get(session.metadata["call_id"])
        assert live is not None
        await transfer(node.services.calls, live, "sip_uri", human.uri, {})
        await human.wait_event("CALL_ESTABLISHED", 10)
        assert (await session.wait_for_text("stop"))[0]["reason"] == "transfer"
        await hears(caller, 440.0)  # baresip's own tone, through the bridge
        await asyncio.sleep(1.5)
        await human.command("hangup")
        assert caller.dialog is not None
        await asyncio.wait_for(caller.dialog.terminated.wait(), 5)
        assert (await t.ended_call())["outcome"] == "transferred_sip_uri"
        output = await human.stop()
    heard_by_baresip = sorted(human.records.glob("*-dec.wav"))
    assert heard_by_baresip, output
    audio = read_wav(heard_by_baresip[-1].read_bytes())
    assert has_tone(audio.span(0.3, min(audio.duration_s, 1.5)).channel(0), caller_hz), output
