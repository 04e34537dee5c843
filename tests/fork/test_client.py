"""AudioFork against the fake voice AI over real WebSockets on 127.0.0.1: metadata, faults,
reconnect policy, back-pressure, caps and latency hooks (PRODUCT.md §6)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from yotel.fork.client import RTP_TO_WS, WS_TO_RTP, AudioFork, ForkConfig
from yotel.testing.fake_ai import FakeVoiceAI

META: dict[str, Any] = {
    "call_id": "c-1", "tenant_id": "t-1", "voice_agent_id": "va-1", "direction": "outbound",
    "from": "+15550001", "to": "+15550002", "campaign_id": None, "flow_id": None,
    "lead": {"id": "l-1", "phone": "+15550002", "name": "Ann", "status": "new",
             "custom_fields": {}},
    "audio": {"encoding": "pcmu", "sample_rate": 8000, "channels": 1, "frame_ms": 20},
    "yotel_callback_token": "yt_cb_OLD", "token_expires_at": "2026-01-01T00:30:00Z",
    "control_url": "http://127.0.0.1:8080/api/v1/ai-sessions/c-1/control"}


def config(url: str, **kw: Any) -> ForkConfig:
    return ForkConfig(url=url, allow_insecure=True, **kw)


async def pull(fork: AudioFork, ticks: int) -> list[bytes]:
    out: list[bytes] = []
    loop = asyncio.get_running_loop()
    for _ in range(ticks):
        frame = fork.next_frame(loop.time())
        if frame is not None:
            out.append(frame)
        await asyncio.sleep(0.005)
    return out


async def test_metadata_is_first_with_every_field_and_close_code_is_sent() -> None:
    async with FakeVoiceAI(mode="silent") as ai:
        fork = AudioFork(config(ai.url), META)
        await fork.connect()
        session = await ai.next_session()
        first = (await session.wait_for_text("metadata"))[0]
        assert session.texts[0][1] is first
        assert first == {"type": "metadata", "protocol": "yotel.audio-fork/1", **META,
                         "resumed": False}
        assert session.authorization is None
        await fork.close("drain", 1001)
        assert await session.wait_closed() == 1001
        assert session.of_type("stop") == [{"type": "stop", "reason": "drain"}]
        assert await fork.wait_closed() == "closed"


async def test_bad_and_huge_text_frames_are_answered_and_audio_keeps_flowing() -> None:
    async with FakeVoiceAI(mode="echo") as ai:
        fork = AudioFork(config(ai.url), META)
        await fork.connect()
        session = await ai.next_session()
        await session.send_text('{"type": "clear", "pad": "' + "x" * (1_500_000) + '"}')
        await session.send_text("\x00garbage")
        await session.send_text({"type": "mark", "name": 42})
        errors = await session.wait_for_text("error", 3)
        assert [e["code"] for e in errors] == ["frame_too_large", "invalid_json",
                                               "invalid_frame"]
        loop = asyncio.get_running_loop()
        fork.start_audio(loop.time())
        fork.push_caller(0, b"\x07" * 160, loop.time())
        await session.wait_for_binary(1)
        played = await pull(fork, 20)
        assert played[:1] == [b"\x07" * 160]  # echoed back through the playout queue
        assert fork.reconnects == 0 and not fork.outcome.done()
        await fork.close()


async def test_ai_audio_over_the_cap_is_dropped_with_a_warning() -> None:
    async with FakeVoiceAI(mode="silent") as ai:
        fork = AudioFork(config(ai.url), META)
        await fork.connect()
        session = await ai.next_session()
        await session.send_audio(b"\x01" * (60 * 8000))
        await session.send_audio(b"\x02" * 4000)
        warning = (await session.wait_for_text("warning"))[0]
        assert warning == {"type": "warning", "code": "playout_overflow", "dropped_ms": 500}
        assert fork.playout.queued_ms == 60_000
        await fork.close()


async def test_play_mode_faster_than_real_time_plays_in_order_and_reports_latency() -> None:
    audio = b"".join(bytes([k]) * 160 for k in range(1, 11))
    hops: dict[str, list[float]] = {RTP_TO_WS: [], WS_TO_RTP: []}
    async with FakeVoiceAI(mode="play", play_audio=audio, play_speed=0) as ai:
        fork = AudioFork(config(ai.url), META,
                         on_latency=lambda kind, s: hops[kind].append(s))
        await fork.connect()
        session = await ai.next_session()
        loop = asyncio.get_running_loop()
        fork.start_audio(loop.time())
        fork.push_caller(0, b"\x09" * 160, loop.time())
        await session.wait_for_binary(1)
        played: list[bytes] = []
        async with asyncio.timeout(5):
            while len(played) < 10:
                played += await pull(fork, 1)
        assert [f[0] for f in played] == list(range(1, 11))
        assert len(hops[WS_TO_RTP]) == 10 and len(hops[RTP_TO_WS]) == 1
        assert all(0 <= s < 5 for s in hops[WS_TO_RTP] + hops[RTP_TO_WS])
        await fork.close()


async def test_reconnect_after_1011_sends_resumed_metadata_with_the_refreshed_token() -> None:
    async def mint() -> tuple[str, str]:
        return "yt_cb_NEW", "2026-01-01T01:00:00Z"

    async with FakeVoiceAI(mode="silent", close_after_frames=3, close_code=1011) as ai:
        fork = AudioFork(config(ai.url, token_refresh_s=0.05), META, mint_token=mint)
        await fork.connect()
        first = await ai.next_session()
        await first.wait_for_text("token_refresh")
        loop = asyncio.get_running_loop()
        fork.start_audio(loop.time())
        for k in range(3):
            fork.push_caller(160 * k, b"\x01" * 160, loop.time())
        second = await ai.next_session()
        meta = (await second.wait_for_text("metadata"))[0]
        assert meta["resumed"] is True and meta["gap_ms"] >= 200
        assert meta["yotel_callback_token"] == "yt_cb_NEW" and meta["call_id"] == "c-1"
        assert fork.reconnects == 1 and not fork.outcome.done()
        await fork.close()


async def test_unanswered_pings_count_as_a_drop() -> None:
    async with FakeVoiceAI(mode="silent", ignore_pings=True) as ai:
        fork = AudioFork(config(ai.url, ping_interval_s=0.1, ping_timeout_s=0.1,
                                close_timeout_s=0.2), META)
        await fork.connect()
        await ai.next_session()
        second = await ai.next_session(timeout=5)
        assert (await second.wait_for_text("metadata"))[0]["resumed"] is True
        await fork.close()


async def test_4xxx_close_is_final() -> None:
    async with FakeVoiceAI(mode="silent") as ai:
        fork = AudioFork(config(ai.url), META)
        await fork.connect()
        await (await ai.next_session()).close(4001, "token invalid")
        assert await asyncio.wait_for(fork.wait_closed(), 5) == "ai_disconnected"
        await asyncio.sleep(0.4)  # longer than the first redial delay
        assert len(ai.sessions) == 1


async def test_give_up_within_a_shrunk_budget() -> None:
    async with FakeVoiceAI(mode="silent") as ai:
        fork = AudioFork(config(ai.url, reconnect_first_s=0.05, reconnect_budget_s=0.5), META)
        await fork.connect()
        session = await ai.next_session()
    session.abort()
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await asyncio.wait_for(fork.wait_closed(), 5) == "ai_disconnected"
    assert loop.time() - started < 2.5
    await fork.close()


async def test_backpressure_sends_one_warning_per_episode_and_keeps_text() -> None:
    # Frames go straight through while the socket keeps up; only an AI that does not read
    # (its kernel buffers full) makes them wait, and past 500 ms waiting the oldest go.
    async with FakeVoiceAI(mode="silent", stall_s=3.0) as ai:
        fork = AudioFork(config(ai.url), META)
        await fork.connect()
        session = await ai.next_session()
        await session.wait_for_text("metadata")
        k = 0
        async with asyncio.timeout(5):
            while fork.dropped_frames == 0:
                for _ in range(50):
                    fork.send_caller_frame(bytes([k % 250]) * 160)
                    k += 1
                await asyncio.sleep(0)
        fork.send_dtmf("7", 100)  # queued behind the backlog: never dropped
        for _ in range(60):  # 1.2 s more at once: the same episode
            fork.send_caller_frame(bytes([k % 250]) * 160)
            k += 1
        await session.wait_for_binary(k - fork.dropped_frames)
        await session.wait_for_text("warning")
        await asyncio.sleep(0.1)
        # One warning per episode of back-pressure (the writer blocked), carrying all dropped.
        warnings = session.of_type("warning")
        assert {w["code"] for w in warnings} == {"caller_audio_dropped"} and len(warnings) <= 3
        assert sum(w["dropped_ms"] for w in warnings) == 20 * fork.dropped_frames
        assert fork.dropped_frames >= 35
        assert [b[0] for _, b in session.binary][-1] == (k - 1) % 250  # the newest survived
        dtmf = session.of_type("dtmf")
        assert dtmf == [{"type": "dtmf", "digit": "7", "duration_ms": 100, "event": "dtmf",
                         "dtmf": "7"}]
        await fork.close()


async def test_events_and_errors_reach_the_ai_as_text_frames() -> None:
    async with FakeVoiceAI(mode="silent") as ai:
        fork = AudioFork(config(ai.url), META)
        await fork.connect()
        session = await ai.next_session()
        fork.send_event("hold", {"by": "supervisor"})
        fork.send_warning("something", 0)
        fork.send_error("custom", "text")
        await session.wait_for_text("error")
        raw = [t for _, t in session.texts]
        assert raw[1:] == [
            {"type": "event", "name": "hold", "data": {"by": "supervisor"}},
            {"type": "warning", "code": "something", "dropped_ms": 0},
            {"type": "error", "code": "custom", "message": "text"}]
        assert json.dumps(raw)  # all were text frames, recorded as JSON
        await fork.close()
