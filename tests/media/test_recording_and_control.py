"""Recording channels, hold/unhold, mute and DTMF through the engine, with real sockets."""

from __future__ import annotations

import asyncio
import wave

import numpy as np

from yotel.fork.client import ForkConfig
from yotel.media.engine import MediaEngine
from yotel.testing.fake_ai import FakeVoiceAI

from .phone import Phone, dominant_hz, tone


async def test_recording_puts_caller_left_and_ai_right(engine: MediaEngine, phone: Phone) -> None:
    async with FakeVoiceAI(mode="play", play_audio=tone(1000, 3.0)) as ai:
        call = await engine.originate(
            phone.uri, fork=(ForkConfig(url=ai.url, allow_insecure=True), {"call_id": "rec"}))
        await asyncio.wait_for(call.answered.wait(), 5)
        phone.send_audio(tone(440, 1.0))
        recorder = call.start_recording()
        session = await ai.next_session()
        await session.wait_for_binary(60)
        await call.hangup()
        await call.wait_ended(5)
    with wave.open(str(recorder.path)) as wav:
        assert (wav.getnchannels(), wav.getframerate()) == (2, 8000)
        stereo = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    assert len(stereo) >= 8000  # ≥ 1 s
    middle = stereo[len(stereo) // 4: 3 * len(stereo) // 4]
    assert abs(dominant_hz(middle[:, 0]) - 440) < 15
    assert abs(dominant_hz(middle[:, 1]) - 1000) < 15


async def test_hold_mute_and_dtmf(engine: MediaEngine, phone: Phone) -> None:
    async with FakeVoiceAI(mode="play", play_audio=tone(1000, 5.0)) as ai:
        call = await engine.originate(
            phone.uri, fork=(ForkConfig(url=ai.url, allow_insecure=True), {"call_id": "hold"}))
        await asyncio.wait_for(call.answered.wait(), 5)
        session = await ai.next_session()
        await call.hold()
        assert call.leg.local is not None and call.leg.local.media.direction == "sendonly"
        assert call.leg.negotiated is not None and call.leg.negotiated.direction == "recvonly"
        mark = len(phone.received)
        await asyncio.sleep(0.3)
        held = [p for _, p in phone.received[mark:]]
        assert held and all(p == b"\xff" * 160 for p in held)  # no MOH given: silence, no AI
        await call.unhold()
        assert call.leg.negotiated is not None and call.leg.negotiated.direction == "sendrecv"
        events = await session.wait_for_text("event", 2)
        assert [e["name"] for e in events] == ["hold", "unhold"]
        call.mute("out")
        await asyncio.sleep(0.1)
        mark = len(phone.received)
        await asyncio.sleep(0.2)
        assert all(p == b"\xff" * 160 for _, p in phone.received[mark:])
        call.mute("out", False)
        await call.send_dtmf("7", 100)
        async with asyncio.timeout(5):
            while phone.digits != ["7"]:
                await asyncio.sleep(0.02)
        await call.hangup()
        assert (await call.wait_ended(5)).outcome == "hangup"
