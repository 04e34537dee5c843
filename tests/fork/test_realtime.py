"""The fork driven in real time, as the engine drives it: caller packets on arrival, a 20 ms
clock tick, over real WebSockets on 127.0.0.1 (PRODUCT.md §6.3-§6.5)."""

from __future__ import annotations

import asyncio
from typing import Any

from yotel.fork.client import RTP_TO_WS, WS_TO_RTP, AudioFork, ForkConfig
from yotel.testing.fake_ai import FakeVoiceAI

META: dict[str, Any] = {"call_id": "c-rt", "tenant_id": "t-1", "direction": "inbound"}
MU_SILENCE = 0xFF


def config(url: str, **kw: Any) -> ForkConfig:
    return ForkConfig(url=url, allow_insecure=True, **kw)


async def drive(fork: AudioFork, ticks: int, *, lost: frozenset[int] = frozenset(),
                hold: range = range(0)) -> list[bytes | None]:
    """Play a caller for `ticks` x 20 ms (packet k carries byte k % 200 + 1, none for `lost`
    or `hold` packets) and run the clock; the AI frames each tick returned."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    fork.start_audio(start)
    played: list[bytes | None] = []
    for k in range(ticks):
        await asyncio.sleep(max(start + 0.02 * k + 0.005 - loop.time(), 0))
        now = loop.time()
        if k not in lost and k not in hold:
            fork.push_caller(90_000 + 160 * k, bytes([k % 200 + 1]) * 160, now)
        played.append(fork.tick(now))
    return played


async def test_caller_timeline_is_continuous_at_50_frames_per_second() -> None:
    hops: list[float] = []
    async with FakeVoiceAI(mode="silent") as ai:
        fork = AudioFork(config(ai.url), META,
                         on_latency=lambda hop, s: hops.append(s) if hop == RTP_TO_WS else None)
        await fork.connect()
        session = await ai.next_session()
        await drive(fork, 60, lost=frozenset({7, 20, 21}), hold=range(30, 40))
        await session.wait_for_binary(60)  # the last packets arrived: nothing left to fill
        await fork.close()
        got = [frame for _, frame in session.binary]
        times = [t for t, _ in session.binary]
    assert session.violations == []
    assert {len(f) for f in got} == {160}
    # Every slot is present exactly once and in order: packets where they were sent, silence
    # where they were lost or the caller was on hold.
    for k, frame in enumerate(got):
        expected = MU_SILENCE if k in {7, 20, 21} or 30 <= k < 40 else k % 200 + 1
        assert frame == bytes([expected]) * 160, k
    assert len(got) == 60
    rate = (len(got) - 1) / (times[-1] - times[0])
    assert 40 <= rate <= 60, rate
    # The hop from the RTP receive path to the socket: the packet is sent on arrival, not on
    # the next tick. The contract is p99 <= 5 ms; allow a loaded CI machine some slack.
    hops.sort()
    assert len(hops) == 60 - 13
    assert hops[len(hops) // 2] < 0.005 and hops[-1] < 0.05


async def test_ai_audio_plays_in_order_one_frame_per_tick_and_marks_follow_playout() -> None:
    audio = b"".join(bytes([k + 1]) * 160 for k in range(25))  # 500 ms, sent at once
    script = [(0.0, audio), (0.0, {"type": "mark", "name": "end"})]
    latency: list[float] = []
    async with FakeVoiceAI(mode="scripted", script=script) as ai:
        fork = AudioFork(config(ai.url), META,
                         on_latency=lambda hop, s: latency.append(s) if hop == WS_TO_RTP else None)
        await fork.connect()
        session = await ai.next_session()
        await session.wait_for_text("metadata")
        async with asyncio.timeout(5):
            while fork.playout.queued_ms < 500:
                await asyncio.sleep(0.005)
        played = await drive(fork, 30)
        mark = (await session.wait_for_text("mark"))[0]
        await fork.close()
    assert played[:25] == [bytes([k + 1]) * 160 for k in range(25)]
    assert played[25:] == [None] * 5  # then silence: nothing queued
    assert mark == {"type": "mark", "name": "end", "event": "playout", "played_ms": 500}
    assert len(latency) == 1 and latency[0] < 1.0


async def test_clear_takes_effect_on_the_very_next_tick() -> None:
    async with FakeVoiceAI(mode="scripted", script=[(0.0, b"\x11" * 16000)]) as ai:  # 2 s
        fork = AudioFork(config(ai.url), META)
        await fork.connect()
        session = await ai.next_session()
        async with asyncio.timeout(5):
            while fork.playout.queued_ms < 2000:
                await asyncio.sleep(0.005)
        loop = asyncio.get_running_loop()
        played = [fork.tick(loop.time()) for _ in range(10)]
        await session.send_text({"type": "mark", "name": "pending"})
        await session.send_text({"type": "clear"})
        cleared = (await session.wait_for_text("cleared"))[0]
        after = fork.tick(loop.time())
        mark = (await session.wait_for_text("mark"))[0]
        await fork.close()
    assert played == [b"\x11" * 160] * 10 and after is None
    assert cleared == {"type": "cleared", "played_ms": 200, "discarded_ms": 1800}
    assert mark == {"type": "mark", "name": "pending", "event": "cleared", "played_ms": 200}


async def test_pcma_agents_get_a_law_silence_in_the_gaps() -> None:
    async with FakeVoiceAI(mode="silent") as ai:
        fork = AudioFork(config(ai.url, encoding="pcma"), META)
        await fork.connect()
        session = await ai.next_session()
        await drive(fork, 6, lost=frozenset({2, 3}))
        await session.wait_for_binary(6)
        await fork.close()
    assert [frame[0] for _, frame in session.binary] == [1, 2, 0xD5, 0xD5, 5, 6]


async def test_invalid_utf8_in_a_text_frame_costs_a_redial_not_the_call() -> None:
    # RFC 6455 §8.1: text must be UTF-8, and websockets fails such a connection (1007); that
    # is a drop like any other (§6.7), so the fork redials and audio flows on the new socket.
    async with FakeVoiceAI(mode="echo") as ai:
        fork = AudioFork(config(ai.url, reconnect_first_s=0.02), META)
        await fork.connect()
        first = await ai.next_session()
        await first.wait_for_text("metadata")
        await first.ws.send(b"\xff\xfe{garbage", text=True)
        second = await ai.next_session()
        assert (await second.wait_for_text("metadata"))[0]["resumed"] is True
        played = await drive(fork, 5)
        await second.wait_for_binary(5)
        assert fork.reconnects == 1 and not fork.outcome.done()
        await fork.close()
    assert [p for p in played if p is not None][:1] == [bytes([1]) * 160]
