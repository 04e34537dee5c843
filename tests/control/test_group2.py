"""Page 003 group 2 through a whole node: a three-party conference driven by the AI (each phone
hears the others and the AI, the AI hears both phones and not itself; remove and leave; the
conference_changed events), and a monitor stream with whisper and barge between two calls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from yotel.calls.service import Originate
from yotel.counters import Counters
from yotel.db.engine import Database
from yotel.db.models import OutboxEvent
from yotel.rtp import g711
from yotel.rtp.ports import RtpPortPool
from yotel.settings import Settings
from yotel.testing.audio import tone, tone_g711, tone_ratio, wav_bytes
from yotel.testing.fake_ai import FakeSession, FakeVoiceAI
from yotel.testing.phone import Phone
from yotel.testing.server import RunningNode, running_node
from yotel.testing.wavserver import WavServer

A_HZ, B_HZ, AI_HZ, AI2_HZ, WHISPER_HZ = 440.0, 1000.0, 2300.0, 1700.0, 3100.0
SCOPES = ("voice_agents:write", "calls:write", "calls:read", "tenant:admin")


@dataclass
class Scene:
    node: RunningNode
    http: httpx.AsyncClient
    phones: list[Phone]
    tenant_id: str

    async def call(self, phone: Phone, ai: FakeVoiceAI) -> tuple[str, FakeSession, str]:
        agent = (await self.http.post("/api/v1/voice-agents", json={
            "name": "g2", "ws_url": ai.url})).json()
        live = await self.node.services.calls.originate(self.tenant_id, Originate(
            to=phone.uri, voice_agent_id=agent["id"]))
        session = await ai.next_session()
        await asyncio.wait_for(phone.answered.wait(), 10)
        await asyncio.sleep(0.2)
        return live.id, session, session.metadata["yotel_callback_token"]

    async def verb(self, call_id: str, token: str, event: str, **fields: Any) -> httpx.Response:
        return await self.http.post(f"/api/v1/ai-sessions/{call_id}/control",
                                    json={"event": event, **fields},
                                    headers={"Authorization": f"Bearer {token}"})

    async def ok(self, call_id: str, token: str, event: str, **fields: Any) -> dict[str, Any]:
        reply = await self.verb(call_id, token, event, **fields)
        assert reply.status_code == 200, reply.text
        result: dict[str, Any] = reply.json()["result"]
        return result


@pytest.fixture
async def scene(make_settings: Callable[..., Settings], counters: Counters,
                make_tenant_key: Any) -> AsyncIterator[Scene]:
    phones = [await Phone(RtpPortPool(48000 + 500 * i, 48000 + 500 * i + 498)).start()
              for i in range(3)]
    trunk = f"sip:127.0.0.1:{phones[1].ua.port}"  # E.164 participants ring phone B
    settings = make_settings(allow_insecure_urls=True, rtp_port_min=50000, rtp_port_max=51998,
                             outbound_trunk=trunk, drain_timeout_s=1.0)
    key = await make_tenant_key(*SCOPES)
    try:
        async with running_node(settings, counters=counters) as node, httpx.AsyncClient(
                base_url=node.base_url, headers=key.headers, timeout=30) as http:
            yield Scene(node, http, phones, key.tenant_id)
    finally:
        for phone in phones:
            await phone.close()


async def eventually(check: Callable[[], bool], seconds: float = 3.0) -> None:
    """Audio shows after a few ticks, on a loaded machine after more: wait for `check` (the
    asserts after it say what failed)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not check() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)


def heard(phone: Phone, frames: int = 25) -> bytes:
    return g711.decode(b"".join(p for _, p in phone.received[-frames:]), "pcmu")


async def test_a_three_party_conference_driven_by_the_ai(scene: Scene, db: Database) -> None:
    a, b, _ = scene.phones
    async with FakeVoiceAI(mode="play", play_audio=tone_g711(AI_HZ, 10.0, amplitude=4000)) as ai:
        call_id, session, token = await scene.call(a, ai)
        started = await scene.ok(call_id, token, "conference_start")
        assert started["conference_id"].startswith("conf-")
        added = await scene.ok(call_id, token, "conference_add", participant_type="e164",
                               destination="+15551230000")
        assert added["member_id"].startswith("mem-")
        assert b.invites[0].request.uri.startswith("sip:15551230000@")
        a.send_audio(tone_g711(A_HZ, 4.0, amplitude=4000))
        b.send_audio(tone_g711(B_HZ, 4.0, amplitude=4000))

        def ai_heard() -> bytes:
            return g711.decode(b"".join(f for _, f in session.binary[-25:]), "pcmu")

        await eventually(lambda: tone_ratio(heard(a), B_HZ) > 0.2
                         and tone_ratio(heard(b), A_HZ) > 0.2
                         and tone_ratio(ai_heard(), A_HZ) > 0.25
                         and tone_ratio(ai_heard(), B_HZ) > 0.25)
        assert tone_ratio(heard(a), A_HZ) < 0.05
        assert tone_ratio(heard(a), B_HZ) > 0.2 and tone_ratio(heard(a), AI_HZ) > 0.2
        assert tone_ratio(heard(b), B_HZ) < 0.05
        assert tone_ratio(heard(b), A_HZ) > 0.2 and tone_ratio(heard(b), AI_HZ) > 0.2
        assert tone_ratio(ai_heard(), AI_HZ) < 0.05
        assert tone_ratio(ai_heard(), A_HZ) > 0.25 and tone_ratio(ai_heard(), B_HZ) > 0.25
        state = await scene.ok(call_id, token, "get_call_state")
        assert state["conference_id"] == started["conference_id"]

        await scene.ok(call_id, token, "conference_remove", member_id=added["member_id"])
        assert b.dialog is not None
        await asyncio.wait_for(b.dialog.terminated.wait(), 5)
        repeat = await scene.verb(call_id, token, "conference_remove",
                                  member_id=added["member_id"])
        assert repeat.status_code == 404
        await scene.ok(call_id, token, "conference_leave")
        stop = await session.wait_for_text("stop")
        assert stop[0]["reason"] == "conference_leave"
        changes = [e["data"]["change"] for e in session.of_type("event")
                   if e["name"] == "conference_changed"]
        assert changes == ["started", "member_added", "member_removed"]
        await asyncio.sleep(0.3)
        assert (await scene.verb(call_id, token, "conference_leave")).status_code == 409
        assert a.dialog is not None
        await a.dialog.bye()

    async with db.read() as s:
        rows = (await s.scalars(select(OutboxEvent).where(
            OutboxEvent.call_id == call_id,
            OutboxEvent.type == "ai_session.conference_changed").order_by(
            OutboxEvent.sequence))).all()
    participants = [[p["type"] for p in r.payload["data"]["participants"]] for r in rows]
    assert participants[:3] == [["caller", "ai_agent"], ["caller", "e164", "ai_agent"],
                                ["caller", "ai_agent"]]


async def test_monitor_whisper_and_barge_between_two_calls(scene: Scene) -> None:
    a, _, c = scene.phones
    async with FakeVoiceAI(mode="play", play_audio=tone_g711(AI_HZ, 10.0, amplitude=4000)) \
            as target_ai, FakeVoiceAI(mode="silent") as coach_ai:
        target, _target_session, _target_token = await scene.call(a, target_ai)
        coach, _coach_session, coach_token = await scene.call(c, coach_ai)
        a.send_audio(tone_g711(A_HZ, 4.0, amplitude=4000))

        unrelated = await scene.verb(coach, coach_token, "whisper", target_call_id=target,
                                     audio_url="http://127.0.0.1:1/x.wav")
        assert unrelated.status_code == 403
        await scene.ok(coach, coach_token, "monitor_start", target_call_id=target)
        monitor = await coach_ai.next_session()
        assert monitor.metadata["stream"] == "monitor"
        assert monitor.metadata["target_call_id"] == target
        def mixed() -> bytes:
            return g711.decode(b"".join(f for _, f in monitor.binary[-25:]), "pcmu")

        await eventually(lambda: tone_ratio(mixed(), A_HZ) > 0.25
                         and tone_ratio(mixed(), AI_HZ) > 0.25)
        assert tone_ratio(mixed(), A_HZ) > 0.25 and tone_ratio(mixed(), AI_HZ) > 0.25

        async with WavServer(wav_bytes(tone(WHISPER_HZ, 2.0, amplitude=4000))) as server:
            whispered = await scene.ok(coach, coach_token, "whisper", target_call_id=target,
                                       audio_url=server.url)
        assert whispered["duration_ms"] == 2000
        await eventually(lambda: tone_ratio(heard(a), WHISPER_HZ) > 0.15)
        assert tone_ratio(heard(a), WHISPER_HZ) > 0.15
        assert tone_ratio(heard(c), WHISPER_HZ) < 0.02  # the coach's own caller hears nothing

        await scene.ok(coach, coach_token, "barge", target_call_id=target)
        await monitor.send_audio(tone_g711(AI2_HZ, 2.0, amplitude=4000))
        await eventually(lambda: tone_ratio(heard(a), AI2_HZ) > 0.15)
        assert tone_ratio(heard(a), AI2_HZ) > 0.15  # the target's side hears the coach AI
        await scene.ok(coach, coach_token, "monitor_stop", target_call_id=target)
        assert (await monitor.wait_for_text("stop"))[0]["reason"] == "monitor_stop"
        again = await scene.verb(coach, coach_token, "monitor_stop", target_call_id=target)
        assert again.status_code == 409
        for phone in (a, c):
            assert phone.dialog is not None
            await phone.dialog.bye()

