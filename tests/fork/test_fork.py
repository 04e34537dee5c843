"""The audio fork against the fake voice AI, over real WebSockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yotel.fork import frames
from yotel.fork.client import AudioFork, ForkConfig, ForkConnectError
from yotel.fork.playout import Playout
from yotel.fork.timeline import CallerTimeline
from yotel.testing.fake_ai import FakeVoiceAI

META = {"call_id": "c-1", "tenant_id": "t-1", "direction": "inbound"}


def config(url: str, **kw: Any) -> ForkConfig:
    return ForkConfig(url=url, allow_insecure=True, **kw)


async def pump(fork: AudioFork, frames_out: list[bytes], ticks: int) -> None:
    """Drive the fork like the engine's clock would, collecting the AI's frames."""
    loop = asyncio.get_running_loop()
    for _ in range(ticks):
        frame = fork.tick(loop.time())
        if frame is not None:
            frames_out.append(frame)
        await asyncio.sleep(0.02)


async def test_metadata_auth_subprotocol_and_caller_frames() -> None:
    async with FakeVoiceAI(mode="silent", subprotocol="audio.jambonz.org", token="tok") as ai:
        fork = AudioFork(config(ai.url, subprotocol="audio.jambonz.org", auth_token="tok"), META)
        await fork.connect()
        session = await ai.next_session()
        await session.wait_for_text("metadata")
        meta = session.metadata
        assert meta["protocol"] == "yotel.audio-fork/1" and meta["call_id"] == "c-1"
        assert meta["callSid"] == "c-1" and meta["sampleRate"] == 8000 and not meta["resumed"]
        assert session.authorization == "Bearer tok"
        loop = asyncio.get_running_loop()
        fork.start_audio(loop.time())
        for k in (0, 1, 4):  # frames 2 and 3 lost
            fork.push_caller(1000 + 160 * k, bytes([k]) * 160, loop.time())
        await session.wait_for_binary(5)
        got = [payload for _, payload in session.binary]
        assert all(len(p) == 160 for p in got)
        assert [p[0] for p in got] == [0, 1, 0xFF, 0xFF, 4]  # silence filled the gap
        await fork.close("hangup")
        assert await fork.outcome == "closed"
        assert (await session.wait_for_text("stop"))[0]["reason"] == "hangup"


async def test_echoed_audio_plays_out_in_order_and_clock_fills_silence() -> None:
    async with FakeVoiceAI(mode="echo") as ai:
        fork = AudioFork(config(ai.url), META)
        await fork.connect()
        loop = asyncio.get_running_loop()
        fork.start_audio(loop.time())
        for k in range(5):
            fork.push_caller(160 * k, bytes([10 + k]) * 160, loop.time())
        played: list[bytes] = []
        await pump(fork, played, 15)
        assert [p[0] for p in played[:5]] == [10, 11, 12, 13, 14]
        session = ai.sessions[0]
        assert len(session.binary) >= 10  # the clock kept the caller timeline going
        await fork.close()


async def test_clear_marks_and_errors() -> None:
    async with FakeVoiceAI(mode="silent") as ai:
        fork = AudioFork(config(ai.url), META)
        await fork.connect()
        session = await ai.next_session()
        await session.send_text({"type": "mark", "name": "empty"})  # nothing queued: at once
        await session.send_audio(b"\x01" * 1600)  # 200 ms
        await session.send_text({"type": "mark", "data": {"name": "m1"}})  # jambonz shape
        await session.send_audio(b"\x02" * 1600)
        await session.send_text({"type": "mark", "name": "m2"})
        await session.send_text({"type": "bogus"})
        await session.send_text("{not json")
        await session.wait_for_text("error", 2)
        played: list[bytes] = []
        await pump(fork, played, 12)  # 240 ms: m1 reached, m2 not
        await session.send_text({"type": "killAudio"})
        cleared = (await session.wait_for_text("cleared"))[0]
        marks = await session.wait_for_text("mark", 3)
        assert [(m["name"], m["event"]) for m in marks] == [
            ("empty", "playout"), ("m1", "playout"), ("m2", "cleared")]
        assert cleared["played_ms"] + cleared["discarded_ms"] == 400
        before = len(played)
        await pump(fork, played, 3)
        assert len(played) == before  # nothing plays after clear
        b64 = base64.b64encode(b"\x03" * 320).decode()
        await session.send_text({"type": "playAudio", "data": {"audioContent": b64}})
        await asyncio.sleep(0.1)
        await pump(fork, played, 3)
        assert played[-1] == b"\x03" * 160
        codes = [e["code"] for e in session.of_type("error")]
        assert codes == ["unknown_frame", "invalid_json"]
        await fork.close()


async def test_subprotocol_must_be_selected_and_token_checked() -> None:
    async with FakeVoiceAI(subprotocol=None) as ai:
        with pytest.raises(ForkConnectError):
            await AudioFork(config(ai.url), META).connect()
    async with FakeVoiceAI(token="right") as ai:
        with pytest.raises(ForkConnectError):
            await AudioFork(config(ai.url, auth_token="wrong"), META).connect()
        assert ai.rejected == 1


async def test_loopback_refused_unless_insecure_allowed() -> None:
    async with FakeVoiceAI() as ai:
        with pytest.raises(ForkConnectError):
            await AudioFork(ForkConfig(url=ai.url, allow_insecure=False), META).connect()


async def test_ai_close_1000_is_a_hangup_and_not_redialled() -> None:
    async with FakeVoiceAI(mode="silent") as ai:
        fork = AudioFork(config(ai.url), META)
        await fork.connect()
        await (await ai.next_session()).close(1000)
        assert await asyncio.wait_for(fork.outcome, 5) == "ai_hangup"
        assert len(ai.sessions) == 1
        await fork.close()


async def test_abrupt_drop_reconnects_with_resumed_metadata() -> None:
    async with FakeVoiceAI(mode="silent") as ai:
        fork = AudioFork(config(ai.url), META)
        await fork.connect()
        (await ai.next_session()).abort()
        second = await ai.next_session()
        meta = (await second.wait_for_text("metadata"))[0]
        assert meta["resumed"] is True and meta["gap_ms"] >= 200
        assert fork.reconnects == 1 and not fork.outcome.done()
        await fork.close()


async def test_gives_up_after_budget_with_ai_disconnected() -> None:
    async with FakeVoiceAI(mode="silent", close_after_frames=None) as ai:
        fork = AudioFork(config(ai.url, reconnect_budget_s=0.6), META)
        await fork.connect()
        session = await ai.next_session()
    session.abort()  # the server is gone: every redial fails
    assert await asyncio.wait_for(fork.outcome, 5) == "ai_disconnected"
    await fork.close()


async def test_a_socket_that_keeps_up_loses_nothing_handed_over_at_once() -> None:
    # Frames are written straight through while the transport is not backed up, so 800 ms
    # handed over at once is not a 500 ms backlog (that takes an AI that stops reading:
    # test_policy.py's slow-AI test).
    async with FakeVoiceAI(mode="silent") as ai:
        fork = AudioFork(config(ai.url), META)
        await fork.connect()
        session = await ai.next_session()
        start = asyncio.get_running_loop().time()
        fork.start_audio(start)
        for k in range(40):
            fork.push_caller(160 * k, bytes([k + 1]) * 160, start + 0.02 * k)
        await session.wait_for_binary(40)
        assert [frame[0] for _, frame in session.binary] == list(range(1, 41))
        assert fork.dropped_frames == 0 and session.of_type("warning") == []
        await fork.close()


async def test_token_refresh_is_sent_on_schedule() -> None:
    async def mint() -> tuple[str, str]:
        return "yt_cb_NEW", "2026-11-23T03:00:00Z"

    async with FakeVoiceAI(mode="silent") as ai:
        fork = AudioFork(config(ai.url, token_refresh_s=0.1), META, mint_token=mint)
        await fork.connect()
        refreshes = await (await ai.next_session()).wait_for_text("token_refresh", 2)
        assert refreshes[0]["yotel_callback_token"] == "yt_cb_NEW"
        await fork.close()


def test_playout_cap_and_mark_limit() -> None:
    playout = Playout()
    assert playout.append(b"\0" * (61 * 8000)) == 8000  # 1 s over the 60 s cap
    for i in range(100):
        playout.add_mark(f"m{i}")
    with pytest.raises(OverflowError):
        playout.add_mark("one too many")


def test_timeline_drops_late_packets_and_handles_wrap() -> None:
    timeline = CallerTimeline(b"\xff" * 160, start=0.0)
    assert len(timeline.push(0xFFFFFF60, b"a" * 160, 0.0)) == 1  # slot 0, just before wrap
    assert timeline.push(0x00000000, b"b" * 160, 0.02) == [b"b" * 160]  # wrapped: slot 1
    assert timeline.push(0xFFFFFF60, b"a" * 160, 0.03) == []  # a duplicate is late
    assert timeline.late == 1
    assert timeline.tick(0.2) == [b"\xff" * 160] * 6  # slots 2..7 overdue (grace 2)


@given(st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_frame_parser_only_raises_frame_error(text: str) -> None:
    try:
        frames.parse(text)
    except frames.FrameError:
        pass
