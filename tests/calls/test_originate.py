"""The call path through a whole node (API + SIP + call layer): `POST /calls` reaches a phone
and the tenant's AI, with the §6.2 metadata, a working callback token, the phone's audio, a
stereo recording (left the caller, right the AI), the call record's outcome and its webhook
events in causal order. Real sockets everywhere."""

from __future__ import annotations

import asyncio
import gc
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from yotel.counters import Counters
from yotel.db.engine import Database
from yotel.db.models import OutboxEvent
from yotel.rtp import g711
from yotel.rtp.ports import RtpPortPool
from yotel.settings import Settings
from yotel.testing.audio import has_tone, read_wav, tone_g711
from yotel.testing.fake_ai import FakeVoiceAI
from yotel.testing.phone import Phone
from yotel.testing.server import RunningNode, running_node

PHONE_HZ, AI_HZ = 440.0, 1200.0
SCOPES = ("voice_agents:write", "calls:write", "recordings:read", "tenant:admin")


@pytest.fixture
async def phone() -> AsyncIterator[Phone]:
    phone = await Phone(RtpPortPool(40000, 40998)).start()
    yield phone
    await phone.close()


@pytest.fixture
async def node(make_settings: Callable[..., Settings],
               counters: Counters) -> AsyncIterator[RunningNode]:
    settings = make_settings(allow_insecure_urls=True, rtp_port_min=41000, rtp_port_max=42998,
                             drain_timeout_s=2.0)
    async with running_node(settings, counters=counters) as running:
        yield running


async def wait_for(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            value = await check()
            if value:
                return value
            await asyncio.sleep(0.05)


async def events_of(db: Database, call_id: str) -> list[str]:
    async with db.read() as session:
        rows = await session.scalars(select(OutboxEvent).where(OutboxEvent.call_id == call_id)
                                     .order_by(OutboxEvent.sequence))
        return [row.type for row in rows]


async def test_post_calls_connects_phone_and_ai_records_and_reports(
        node: RunningNode, phone: Phone, make_tenant_key: Any, db: Database) -> None:
    key = await make_tenant_key(*SCOPES)
    async with FakeVoiceAI(mode="play", play_audio=tone_g711(AI_HZ, 6.0)) as ai, \
            httpx.AsyncClient(base_url=node.base_url, headers=key.headers, timeout=10) as http:
        agent = (await http.post("/api/v1/voice-agents", json={
            "name": "support", "ws_url": ai.url})).json()
        created = await http.post("/api/v1/calls", json={
            "to": phone.uri, "voice_agent_id": agent["id"], "caller_id": "+15550001111",
            "lead": {"name": "Ann", "custom_fields": {"plan": "gold"}}})
        assert created.status_code == 201, created.text
        call = created.json()
        assert call["direction"] == "outbound" and call["voice_agent_id"] == agent["id"]

        session = await ai.next_session()
        metadata = session.metadata
        assert metadata["call_id"] == call["id"] and metadata["tenant_id"] == key.tenant_id
        assert metadata["lead"]["custom_fields"] == {"plan": "gold"}
        assert metadata["control_url"] == (
            f"{node.services.calls.config.public_url}/api/v1/ai-sessions/{call['id']}/control")
        assert metadata["audio"] == {"encoding": "pcmu", "sample_rate": 8000, "channels": 1,
                                     "frame_ms": 20}
        token = metadata["yotel_callback_token"]
        assert token.startswith("yt_cb_") and len(token) == 32

        await asyncio.wait_for(phone.answered.wait(), 10)
        phone.send_audio(tone_g711(PHONE_HZ, 1.0))
        await session.wait_for_binary(60, timeout=10)
        frames = [frame for _, frame in session.binary[-40:]]
        assert {len(f) for f in frames} == {160}
        assert has_tone(g711.decode(b"".join(frames), "pcmu"), PHONE_HZ)

        as_ai = {"Authorization": f"Bearer {token}"}
        ai_session = await http.get(f"/api/v1/ai-sessions/{call['id']}", headers=as_ai)
        assert ai_session.status_code == 200, ai_session.text
        assert ai_session.json()["voice_agent_id"] == agent["id"]

        await asyncio.sleep(1.5)
        assert phone.dialog is not None
        await phone.dialog.bye()

        async def ended() -> dict[str, Any] | None:
            body = (await http.get(f"/api/v1/calls/{call['id']}")).json()
            return body if body["state"] == "ended" and body["recording"] else None

        record = await wait_for(ended)
        assert record["outcome"] == "caller_hangup" and record["answered_at"]
        wav = await http.get(f"/api/v1/calls/{call['id']}/recording")
        assert wav.status_code == 200 and wav.headers["content-type"] == "audio/wav"
        audio = read_wav(wav.content)
        assert audio.channels == 2 and audio.duration_s > 2.0
        middle = audio.span(0.8, 1.8)
        assert has_tone(middle.channel(0), PHONE_HZ) and has_tone(middle.channel(1), AI_HZ)
        stopped = await session.wait_for_text("stop")
        assert stopped[0]["reason"] == "caller_hangup"
        gc.collect()  # a full collection, timed by the node's hook
        metrics = (await http.get("/metrics")).text
        assert "yotel_calls_started_total 1.0" in metrics
        assert re.search(r'yotel_gc_collections_total\{generation="2"\} [1-9]', metrics)
        assert re.search(r'yotel_gc_max_pause_seconds\{generation="2"\} [0-9.e-]+', metrics)
        assert 'yotel_sip_invites_refused_total{reason="unknown_number"} 0.0' in metrics

    assert await events_of(db, call["id"]) == [
        "call.started", "call.answered", "ai_session.started", "ai_session.ended",
        "call.ended", "call.recording_ready"]
    assert await node.services.calls.slots.active(agent["id"]) == 0


async def test_an_e164_call_goes_through_the_trunk_and_errors_come_before_any_sip(
        make_settings: Callable[..., Settings], counters: Counters, phone: Phone,
        make_tenant_key: Any) -> None:
    trunk = f"sip:127.0.0.1:{phone.ua.port}"
    settings = make_settings(allow_insecure_urls=True, rtp_port_min=41000, rtp_port_max=42998,
                             outbound_trunk=trunk, drain_timeout_s=1.0)
    key = await make_tenant_key(*SCOPES)
    async with running_node(settings, counters=counters) as node, \
            FakeVoiceAI(mode="silent") as ai, \
            httpx.AsyncClient(base_url=node.base_url, headers=key.headers, timeout=10) as http:
        none = await http.post("/api/v1/calls", json={"to": "+15551234567"})
        assert none.status_code == 424 and none.json()["error"]["type"] == \
            "no_voice_agent_configured"
        agent = (await http.post("/api/v1/voice-agents", json={
            "name": "one", "ws_url": ai.url, "max_concurrent": 1})).json()
        bad = await http.post("/api/v1/calls", json={"to": "555-1234",
                                                     "voice_agent_id": agent["id"]})
        assert bad.status_code == 400
        first = await http.post("/api/v1/calls", json={"to": "+15551234567",
                                                       "voice_agent_id": agent["id"]})
        assert first.status_code == 201, first.text
        over = await http.post("/api/v1/calls", json={"to": "+15557654321",
                                                      "voice_agent_id": agent["id"]})
        assert over.status_code == 429 and over.json()["error"]["type"] == "max_concurrent"
        await asyncio.wait_for(phone.answered.wait(), 10)
        invite = phone.invites[0].request
        assert invite.uri == f"sip:15551234567@127.0.0.1:{phone.ua.port}"  # PRODUCT.md §8
        assert phone.dialog is not None
        await phone.dialog.bye()
        call_id = first.json()["id"]

        async def slot_free() -> bool:
            body = (await http.get(f"/api/v1/voice-agents/{agent['id']}")).json()
            return body["active_calls"] == 0

        await wait_for(slot_free)
        record = (await http.get(f"/api/v1/calls/{call_id}")).json()
        assert record["state"] == "ended" and record["outcome"] == "caller_hangup"
