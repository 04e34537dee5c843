"""Reconnect policy, transfers, token refresh on a fake clock, connect timeout, slow-AI
back-pressure and the mark limit, against the fake voice AI on 127.0.0.1 (PRODUCT.md §6)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from yotel.fork.client import AudioFork, ForkConfig, ForkConnectError
from yotel.testing.fake_ai import ABORT, FakeVoiceAI

META: dict[str, Any] = {"call_id": "c-p", "tenant_id": "t-1", "direction": "outbound",
                        "yotel_callback_token": "yt_cb_0", "token_expires_at": "T0"}


def config(url: str, **kw: Any) -> ForkConfig:
    return ForkConfig(url=url, allow_insecure=True, **kw)


@pytest.mark.parametrize("code", [1011, ABORT])
async def test_a_drop_after_some_seconds_is_redialled_with_resumed_metadata(code: int) -> None:
    async with FakeVoiceAI(mode="silent", close_after_s=0.1, close_code=code) as ai:
        fork = AudioFork(config(ai.url, reconnect_first_s=0.05), META)
        await fork.connect()
        first = await ai.next_session()
        second = await ai.next_session()
        meta = (await second.wait_for_text("metadata"))[0]
        assert await first.wait_closed() in (code, None)
        assert meta["resumed"] is True and 50 <= meta["gap_ms"] < 2000
        assert {k: meta[k] for k in META} == META
        assert not fork.outcome.done() and fork.reconnects == 1
        await fork.close()
    assert first.violations == [] and second.violations == []


@pytest.mark.parametrize("code", [1000, 4000, 4001, 4009])
async def test_1000_and_4xxx_are_never_redialled(code: int) -> None:
    async with FakeVoiceAI(mode="silent", close_after_s=0.05, close_code=code) as ai:
        fork = AudioFork(config(ai.url, reconnect_first_s=0.01), META)
        await fork.connect()
        outcome = await asyncio.wait_for(fork.wait_closed(), 5)
        await asyncio.sleep(0.1)  # ten first-redial delays
        assert len(ai.sessions) == 1
    assert outcome == ("ai_hangup" if code == 1000 else "ai_disconnected")


@pytest.mark.parametrize("code", [1000, 1011])
async def test_the_ai_leaving_during_a_transfer_is_neither_a_hangup_nor_redialled(
        code: int) -> None:
    async with FakeVoiceAI(mode="silent") as ai:
        fork = AudioFork(config(ai.url, reconnect_first_s=0.01), META)
        await fork.connect()
        session = await ai.next_session()
        fork.begin_transfer()
        await session.close(code)
        assert await asyncio.wait_for(fork.wait_closed(), 5) == "closed"
        await asyncio.sleep(0.1)
        assert len(ai.sessions) == 1


async def test_give_up_is_ai_disconnected_within_the_budget() -> None:
    async with FakeVoiceAI(mode="silent") as ai:
        fork = AudioFork(config(ai.url, reconnect_first_s=0.05, reconnect_max_s=0.1,
                                reconnect_budget_s=0.4), META)
        await fork.connect()
        session = await ai.next_session()
    loop = asyncio.get_running_loop()
    lost_at = loop.time()
    session.abort()  # the server is already gone: every redial is refused
    assert await asyncio.wait_for(fork.wait_closed(), 5) == "ai_disconnected"
    assert loop.time() - lost_at < 0.4 + 0.5  # the budget, plus slack for a loaded machine
    await fork.close()


async def test_connect_times_out_on_a_server_that_never_upgrades() -> None:
    async with FakeVoiceAI(handshake_delay_s=0.8) as ai:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(ForkConnectError):
            await AudioFork(config(ai.url, connect_timeout_s=0.2), META).connect()
        assert loop.time() - started < 1.5


async def test_token_refresh_at_minute_25_and_every_25_minutes_on_a_fake_clock() -> None:
    clock = {"now": 0.0}
    asked: list[float] = []
    minted = 0

    async def fake_sleep(seconds: float) -> None:
        asked.append(seconds)
        clock["now"] += seconds
        await asyncio.sleep(0)

    async def mint() -> tuple[str, str]:
        nonlocal minted
        minted += 1
        return f"yt_cb_{minted}", f"T+{clock['now'] + 30 * 60:.0f}s"

    async with FakeVoiceAI(mode="silent") as ai:
        fork = AudioFork(config(ai.url), META, mint_token=mint, sleep=fake_sleep)
        await fork.connect()
        session = await ai.next_session()
        refreshes = await session.wait_for_text("token_refresh", 3)
        await fork.close()
    assert asked[:3] == [1500.0, 1500.0, 1500.0]
    assert refreshes[:3] == [
        {"type": "token_refresh", "yotel_callback_token": "yt_cb_1", "token_expires_at": "T+3300s"},
        {"type": "token_refresh", "yotel_callback_token": "yt_cb_2", "token_expires_at": "T+4800s"},
        {"type": "token_refresh", "yotel_callback_token": "yt_cb_3", "token_expires_at": "T+6300s"}]
    assert session.violations == []


async def test_no_refresh_for_agents_without_it() -> None:
    async def mint() -> tuple[str, str]:
        raise AssertionError("not a refresh agent")

    async def instant(seconds: float) -> None:
        await asyncio.sleep(0)

    async with FakeVoiceAI(mode="silent") as ai:
        fork = AudioFork(config(ai.url, token_refresh_s=None), META, mint_token=mint,
                         sleep=instant)
        await fork.connect()
        fork.send_event("hold")
        session = await ai.next_session()
        await session.wait_for_text("event")
        await fork.close()
    assert session.of_type("token_refresh") == []


async def test_a_slow_ai_costs_the_oldest_caller_audio_and_one_warning() -> None:
    async with FakeVoiceAI(mode="silent", stall_s=3.0) as ai:
        fork = AudioFork(config(ai.url), META)
        await fork.connect()
        session = await ai.next_session()
        await session.wait_for_text("metadata")
        # The AI is not reading: push caller frames until the socket pushes back.
        k = 0
        async with asyncio.timeout(5):
            while fork.dropped_frames == 0:
                for _ in range(50):
                    fork.send_caller_frame(bytes([k % 250 + 1]) * 160)
                    k += 1
                await asyncio.sleep(0)
        sent = k
        warning = (await session.wait_for_text("warning", timeout=10))[0]
        await session.wait_for_binary(sent - fork.dropped_frames, timeout=10)
        await fork.close()
    assert warning["code"] == "caller_audio_dropped" and warning["dropped_ms"] >= 20
    received = [frame[0] for _, frame in session.binary]
    assert received[-1] == (sent - 1) % 250 + 1  # the newest frame survived
    assert len(received) == sent - fork.dropped_frames
    assert session.violations == []


async def test_the_101st_outstanding_mark_is_refused_with_an_error() -> None:
    script: list[tuple[float, Any]] = [(0.0, b"\x01" * 1600)]
    script += [(0.0, {"type": "mark", "name": f"m{i}"}) for i in range(101)]
    async with FakeVoiceAI(mode="scripted", script=script) as ai:
        fork = AudioFork(config(ai.url), META)
        await fork.connect()
        session = await ai.next_session()
        error = (await session.wait_for_text("error"))[0]
        loop = asyncio.get_running_loop()
        for _ in range(10):
            fork.tick(loop.time())
        marks = await session.wait_for_text("mark", 100)
        await fork.close()
    assert error["code"] == "too_many_marks"
    assert [m["name"] for m in marks] == [f"m{i}" for i in range(100)]
    assert {m["event"] for m in marks} == {"playout"}


async def test_monitor_stream_metadata_carries_its_target() -> None:
    meta = {**META, "stream": "monitor", "target_call_id": "c-target"}
    async with FakeVoiceAI(mode="silent", subprotocol="audio.jambonz.org") as ai:
        fork = AudioFork(config(ai.url, subprotocol="audio.jambonz.org"), meta)
        await fork.connect()
        session = await ai.latest_session()
        await session.wait_for_text("metadata")
        await fork.close()
    assert ai.metadata["stream"] == "monitor" and ai.metadata["target_call_id"] == "c-target"
    assert ai.metadata["callSid"] == "c-p" and ai.metadata["mixType"] == "mono"
    assert session.violations == []


async def test_close_flushes_pending_text_before_stop_and_survives_a_long_reason() -> None:
    async with FakeVoiceAI(mode="silent") as ai:
        fork = AudioFork(config(ai.url), META)
        await fork.connect()
        session = await ai.next_session()
        fork.send_dtmf("9", 80)  # queued, not yet written
        await fork.close("caller_hangup" + "!" * 200, 4009)
        assert await session.wait_closed() == 4009
    kinds = [t["type"] for _, t in session.texts]
    assert kinds == ["metadata", "dtmf", "stop"]
    assert session.of_type("stop")[0]["reason"].startswith("caller_hangup")
    assert await fork.wait_closed() == "closed"


async def test_a_failed_token_mint_is_retried_in_30_seconds() -> None:
    asked: list[float] = []
    attempts = 0

    async def fake_sleep(seconds: float) -> None:
        asked.append(seconds)
        await asyncio.sleep(0)

    async def flaky_mint() -> tuple[str, str]:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ConnectionError("token store unavailable")
        return f"yt_cb_{attempts}", "later"

    async with FakeVoiceAI(mode="silent") as ai:
        fork = AudioFork(config(ai.url), META, mint_token=flaky_mint, sleep=fake_sleep)
        await fork.connect()
        session = await ai.next_session()
        refreshes = await session.wait_for_text("token_refresh", 2)
        await fork.close()
    assert asked[:4] == [1500.0, 30.0, 1500.0, 1500.0]
    assert [r["yotel_callback_token"] for r in refreshes[:2]] == ["yt_cb_2", "yt_cb_3"]


async def test_the_ais_last_words_can_play_out_after_its_1000_close() -> None:
    script: list[tuple[float, Any]] = [(0.0, b"\x21" * 1600)]
    async with FakeVoiceAI(mode="scripted", script=script, close_after_s=0.1) as ai:
        fork = AudioFork(config(ai.url), META)
        await fork.connect()
        assert await asyncio.wait_for(fork.wait_closed(), 5) == "ai_hangup"
        loop = asyncio.get_running_loop()
        drained = asyncio.ensure_future(fork.wait_playout_drained(5.0))
        played = [fork.tick(loop.time()) for _ in range(12)]
        assert await drained is True
        assert await fork.wait_playout_drained(0.01) is True  # nothing queued: at once
        await asyncio.sleep(0.01)
        assert fork.tasks == 0  # the session, writer and token timer all ended with it
        await fork.close()
    assert played == [b"\x21" * 160] * 10 + [None] * 2


async def test_the_caller_hears_silence_while_the_ai_is_redialled() -> None:
    async with FakeVoiceAI(mode="scripted", script=[(0.0, b"\x31" * 16000)]) as ai:
        fork = AudioFork(config(ai.url, reconnect_first_s=0.3), META)
        await fork.connect()
        first = await ai.next_session()
        async with asyncio.timeout(5):
            while fork.playout.queued_ms < 2000:
                await asyncio.sleep(0.005)
        loop = asyncio.get_running_loop()
        assert fork.tick(loop.time()) == b"\x31" * 160
        first.abort()
        async with asyncio.timeout(5):
            while fork.connected:
                await asyncio.sleep(0.005)
        assert fork.tick(loop.time()) is None and fork.playout.queued_ms == 0
        await fork.close()


async def test_overflow_warnings_are_coalesced_not_one_per_message() -> None:
    async with FakeVoiceAI(mode="silent") as ai:
        fork = AudioFork(config(ai.url, warning_interval_s=0.2), META)
        await fork.connect()
        session = await ai.next_session()
        await session.send_audio(b"\x01" * (60 * 8000 + 800))  # 100 ms over the cap
        for _ in range(20):
            await session.send_audio(b"\x02" * 160)  # 20 x 20 ms more, all over the cap
        first = (await session.wait_for_text("warning"))[0]
        loop = asyncio.get_running_loop()
        await asyncio.sleep(0.25)
        fork.tick(loop.time())  # the clock flushes what the interval held back
        warnings = await session.wait_for_text("warning", 2)
        await fork.close()
    assert first == {"type": "warning", "code": "playout_overflow", "dropped_ms": 100}
    assert len(warnings) == 2 and warnings[1]["dropped_ms"] == 400
