"""AudioFork against hostile fake AIs over real WebSockets on 127.0.0.1: floods are dropped
with `rate_limited` warnings and closed 4000 (outcome ai_disconnected, never redialled), a
message of any length is cut to the 60 s cap, and a fast but well-behaved AI is never limited."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from typing import Any

import pytest

from yotel.fork.client import AudioFork, ForkConfig
from yotel.fork.gate import frame_header
from yotel.fork.limits import ForkLimits
from yotel.testing.fake_ai import FakeVoiceAI

META = {"call_id": "c-1", "tenant_id": "t-1", "direction": "inbound"}
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
QUICK = ForkLimits(abuse_close_s=1.0)  # the defaults but for how long abuse is tolerated


def config(url: str, **kw: Any) -> ForkConfig:
    return ForkConfig(url=url, allow_insecure=True, limits=QUICK, **kw)


async def ticking(fork: AudioFork, seconds: float) -> list[bytes]:
    """Drive the fork like the media clock; the AI frames it played."""
    loop = asyncio.get_running_loop()
    played: list[bytes] = []
    end = loop.time() + seconds
    while loop.time() < end and not fork.outcome.done():
        frame = fork.tick(loop.time())
        if frame is not None:
            played.append(frame)
        await asyncio.sleep(0.02)
    return played


@pytest.mark.parametrize(("fault", "counted"), [
    ("flood_binary", "dropped_messages"), ("flood_text", "dropped_text"),
    ("flood_ping", "dropped_pings"), ("garbage", "dropped_text")])
async def test_a_flood_is_warned_then_closed_4000(fault: str, counted: str) -> None:
    async with FakeVoiceAI(mode="silent", fault=fault) as ai:
        fork = AudioFork(config(ai.url), META)
        await fork.connect()
        session = await ai.next_session()
        await ticking(fork, 6.0)
        assert await asyncio.wait_for(fork.wait_closed(), 5) == "ai_disconnected"
        assert await session.wait_closed() == 4000
        await fork.close()
    warnings = [w for w in session.of_type("warning") if w["code"] == "rate_limited"]
    assert warnings and sum(w[counted] for w in warnings) > 0
    assert len(warnings) <= 4  # at most one a second, not one per dropped message
    assert fork.violation is not None and fork.reconnects == 0 and len(ai.sessions) == 1
    if fault == "garbage":  # what was let through was answered, as §6.5 says
        assert {e["code"] for e in session.of_type("error")} >= {"invalid_json"}


async def test_one_8_mib_message_is_cut_to_the_60_s_cap_and_the_call_goes_on() -> None:
    async with FakeVoiceAI(mode="silent", fault="huge") as ai:
        fork = AudioFork(config(ai.url), META)
        await fork.connect()
        session = await ai.next_session()
        await session.wait_for_text("warning", timeout=10)
        played = await ticking(fork, 0.2)
        assert not fork.outcome.done()
        await fork.close()
    [warning] = session.of_type("warning")
    assert warning == {"type": "warning", "code": "playout_overflow",
                       "dropped_ms": ((8 << 20) - 480_000) // 8}
    assert played and set(played[0]) == {0x55}
    assert fork.playout.received == 480_000  # memory held: the cap, not the message


async def test_a_fast_well_behaved_ai_is_never_limited() -> None:
    # 60 s of audio (the cap) at once, as fast as the socket takes it: 2 000 messages of
    # 20 ms and 20 of one second, and 100 marks: what PRODUCT.md §6.4-§6.5 allow, so nothing
    # may be dropped.
    script: list[tuple[float, Any]] = [(0.0, b"\x11" * 8000) for _ in range(20)]
    script += [(0.0, {"type": "mark", "name": f"m{i}"}) for i in range(100)]
    async with FakeVoiceAI(mode="play", play_audio=b"\x22" * 320_000, play_speed=0,
                           script=script) as ai:
        fork = AudioFork(config(ai.url), META)
        await fork.connect()
        session = await ai.next_session()
        async with asyncio.timeout(10):
            while fork.playout.received < 480_000:
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        admission = fork.admission
        assert admission is not None and not admission.has_news
        assert session.of_type("warning") == [] and fork.violation is None
        await fork.close()


async def test_the_gate_sees_every_frame_even_when_the_101_arrives_in_pieces() -> None:
    # A raw server: the upgrade response a byte at a time, then in the same write as its last
    # byte, 50 binary frames: each must be counted by the gate, none parsed around it.
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        key = next(line.split(b":", 1)[1].strip() for line in request.split(b"\r\n")
                   if line.lower().startswith(b"sec-websocket-key:"))
        accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
        head = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept +
                b"\r\nSec-WebSocket-Protocol: audio.drachtio.org\r\n\r\n")
        for i in range(len(head) - 1):
            writer.write(head[i:i + 1])
            await writer.drain()
            await asyncio.sleep(0)
        writer.write(head[-1:] + (frame_header(0x82, 160) + b"\x01" * 160) * 50)
        await reader.read()  # until the client closes
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        fork = AudioFork(config(f"ws://127.0.0.1:{port}/"), META)
        await fork.connect()
        async with asyncio.timeout(5):
            while fork.playout.received < 50 * 160:
                await asyncio.sleep(0.01)
        ws = fork._ws
        assert ws is not None and ws.gate.frames == 50
        fork._ws.transport.abort()  # type: ignore[union-attr]
        await fork.close()
