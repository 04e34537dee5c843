"""PRODUCT.md §6.1/§6.7 through the engine: the fork opens while ringing, a dropped AI leaves the
caller on silence while it reconnects, a lost AI ends the call `ai_disconnected`; bridging."""

from __future__ import annotations

import asyncio

import numpy as np

from yotel.fork.client import ForkConfig
from yotel.media.call import Call
from yotel.media.engine import MediaEngine
from yotel.rtp import g711
from yotel.rtp.ports import RtpPortPool
from yotel.testing.fake_ai import FakeVoiceAI
from yotel.testing.phone import Phone, dominant_hz, tone

SILENT = b"\xff" * 160


async def test_fork_opens_while_ringing(engine: MediaEngine, phone: Phone) -> None:
    phone.answer_delay_s = 0.5
    async with FakeVoiceAI(mode="silent") as ai:
        call = await engine.originate(
            phone.uri, fork=(ForkConfig(url=ai.url, allow_insecure=True), {"call_id": "warm"}))
        session = await ai.next_session(5)
        await session.wait_for_text("metadata")
        assert call.state == "ringing"  # the AI is warm before the answer
        await asyncio.wait_for(call.answered.wait(), 5)
        await call.hangup()
        await call.wait_ended(5)


async def test_ai_drop_gives_silence_then_ai_disconnected(engine: MediaEngine,
                                                          phone: Phone) -> None:
    config = ForkConfig(url="", allow_insecure=True, reconnect_first_s=0.1,
                        reconnect_budget_s=0.8)
    ai = FakeVoiceAI(mode="play", play_audio=tone(1000, 5.0))
    await ai.__aenter__()
    try:
        call = await engine.originate(
            phone.uri, fork=(ForkConfig(**{**vars(config), "url": ai.url}), {"call_id": "drop"}))
        session = await ai.next_session(5)
        await asyncio.wait_for(call.answered.wait(), 5)
        await session.wait_for_binary(10)
        async with asyncio.timeout(5):
            while not any(p != SILENT for _, p in phone.received):
                await asyncio.sleep(0.02)
    finally:
        await ai.__aexit__(None, None, None)  # the AI goes away (1001, then refused redials)
    dropped_at = len(phone.received)
    end = await call.wait_ended(10)
    assert end.outcome == "ai_disconnected"
    during = [p for _, p in phone.received[dropped_at + 2:]]
    assert len(during) >= 20 and all(p == SILENT for p in during)  # the caller kept silence


async def test_bridge_relays_audio_between_two_calls(engine: MediaEngine, phone: Phone) -> None:
    other = await Phone(RtpPortPool(35000, 36999)).start()
    try:
        inbound: list[Call] = []

        async def handler(call: Call) -> None:
            inbound.append(call)
            await call.answer()

        engine.on_inbound(handler)
        host, port = engine.sip_address
        await phone.call(f"sip:200@{host}:{port}")
        outbound = await engine.originate(other.uri)
        await asyncio.wait_for(outbound.answered.wait(), 5)
        inbound[0].bridge(outbound)
        phone.send_audio(tone(440, 1.0))
        other.send_audio(tone(1200, 1.0))
        await asyncio.sleep(0.6)

        def heard(p: Phone) -> float:
            audio = b"".join(payload for _, payload in p.received[-20:])
            return dominant_hz(np.frombuffer(g711.decode(audio, "pcmu"), dtype="<i2"))

        assert abs(heard(other) - 440) < 20 and abs(heard(phone) - 1200) < 20
        ended: list[str] = []
        inbound[0].subscribe(lambda event: ended.append(event.kind))
        await outbound.hangup()
        assert inbound[0].bridged is None and "bridge_ended" in ended
        await inbound[0].hangup()
        await asyncio.wait_for(phone.dialog.terminated.wait(), 5)  # type: ignore[union-attr]
    finally:
        await other.close()
