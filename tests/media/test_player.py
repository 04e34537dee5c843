"""The audio player: SSRF-safe fetch from a real local HTTP server, decoding, frames, looping."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from yotel.media.player import (
    AudioFetchError,
    AudioPlayer,
    FetchLimits,
    decode_audio,
    fetch_audio,
    load_audio,
)
from yotel.net.guard import UnsafeUrlError
from yotel.testing.audio import has_tone, samples, tone, wav_bytes

MP3 = (Path(__file__).parent / "fixtures" / "tone_1000hz_16k_mono.mp3").read_bytes()
INSECURE = FetchLimits(allow_insecure=True, timeout_s=5)


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    chunked: bool = False


@dataclass
class AudioServer:
    """A minimal HTTP/1.1 server on 127.0.0.1 (one request per connection)."""

    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[dict[str, str]] = field(default_factory=list)
    port: int = 0
    handlers: set[asyncio.Task[None]] = field(default_factory=set)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.handlers.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            path = head[0].split(" ")[1]
            fields = (h.partition(":") for h in head[1:] if h)
            headers = {k.lower(): v.strip() for k, _, v in fields}
            self.requests.append({"path": path, **headers})
            route = self.routes.get(path, Route(404, b"no"))
            await asyncio.sleep(route.delay_s)
            writer.write(self.response(route))
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    @staticmethod
    def response(route: Route) -> bytes:
        lines = [f"HTTP/1.1 {route.status} X", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in route.headers.items()]
        if route.chunked:
            body = b"".join(b"%x\r\n%s\r\n" % (len(route.body[i:i + 4096]), route.body[i:i + 4096])
                            for i in range(0, len(route.body), 4096)) + b"0\r\n\r\n"
            lines.append("Transfer-Encoding: chunked")
        else:
            body = route.body
            lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@pytest.fixture
async def server() -> AsyncIterator[AudioServer]:
    audio = AudioServer()
    listener = await asyncio.start_server(audio.handle, "127.0.0.1", 0)
    audio.port = listener.sockets[0].getsockname()[1]
    yield audio
    listener.close()
    await listener.wait_closed()
    for task in audio.handlers:  # a slow route's handler outlives its client's time-out
        task.cancel()
    await asyncio.gather(*audio.handlers, return_exceptions=True)


async def test_wav_of_any_rate_and_channels_becomes_8k_mono(server: AudioServer) -> None:
    stereo = np.repeat(samples(tone(440, 1.0, rate=44100)), 2).tobytes()
    server.routes["/hello.wav"] = Route(body=wav_bytes(stereo, rate=44100, channels=2),
                                        headers={"Content-Type": "audio/wav"})
    pcm = await load_audio(server.url("/hello.wav"), INSECURE)
    assert len(pcm) == pytest.approx(16000, abs=64)  # 1 s of 8 kHz int16
    assert has_tone(pcm, 440, min_ratio=0.9)


async def test_mp3_is_decoded(server: AudioServer) -> None:
    server.routes["/moh.mp3"] = Route(body=MP3, chunked=True)
    player = await AudioPlayer.from_url(server.url("/moh.mp3"), INSECURE, loop=True)
    assert player.duration_s == pytest.approx(1.0, abs=0.1)  # encoder padding aside
    audio = b"".join(player.read_frame() or b"" for _ in range(100))  # 2 s: it loops
    assert len(audio) == 100 * 320 and not player.finished
    assert has_tone(audio, 1000, min_ratio=0.8)


async def test_connects_to_the_resolved_address_keeping_the_host_name(
        server: AudioServer, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, "audio.test", "127.0.0.1")
    server.routes["/a.wav"] = Route(body=wav_bytes(tone(300, 0.2)))
    assert await load_audio(server.url("/a.wav", host="audio.test"), INSECURE)
    assert server.requests[-1]["host"] == f"audio.test:{server.port}"


async def test_local_addresses_are_refused_unless_insecure_is_allowed(
        server: AudioServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.routes["/a.wav"] = Route(body=wav_bytes(tone(300, 0.2)))
    secure = FetchLimits(allow_insecure=False)
    for url in (server.url("/a.wav"),  # http, loopback
                f"https://127.0.0.1:{server.port}/a.wav",  # loopback literal
                f"https://localhost:{server.port}/a.wav"):
        with pytest.raises(UnsafeUrlError):
            await fetch_audio(url, secure)
    fake_dns(monkeypatch, "rebound.test", "127.0.0.1")  # a public-looking name, internal answer
    with pytest.raises(UnsafeUrlError):
        await fetch_audio(f"https://rebound.test:{server.port}/a.wav", secure)
    assert server.requests == []  # nothing ever reached the server


async def test_redirects_are_followed_and_bounded(server: AudioServer) -> None:
    server.routes["/old.wav"] = Route(302, headers={"Location": "/new.wav"})
    server.routes["/new.wav"] = Route(body=wav_bytes(tone(700, 0.2)))
    assert has_tone(await load_audio(server.url("/old.wav"), INSECURE), 700)
    server.routes["/loop"] = Route(302, headers={"Location": "/loop"})
    with pytest.raises(AudioFetchError, match="redirects"):
        await fetch_audio(server.url("/loop"), INSECURE)
    server.routes["/ftp"] = Route(302, headers={"Location": "ftp://127.0.0.1/x.wav"})
    with pytest.raises(UnsafeUrlError):  # each hop passes the guard again
        await fetch_audio(server.url("/ftp"), INSECURE)


@pytest.mark.parametrize("route", [
    Route(404, b"missing"),
    Route(body=b"\0" * 2048, headers={"Content-Length": "999999999"}),  # declared too big
    Route(body=b"\0" * 300_000, chunked=True),  # streamed too big
    Route(body=b"this is not audio at all" * 10),
])
async def test_failures_are_audio_fetch_errors(server: AudioServer, route: Route) -> None:
    server.routes["/x"] = route
    with pytest.raises(AudioFetchError):
        await load_audio(server.url("/x"), FetchLimits(allow_insecure=True, max_bytes=200_000))


async def test_a_slow_server_times_out(server: AudioServer) -> None:
    server.routes["/slow"] = Route(body=b"x", delay_s=3.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(AudioFetchError, match="longer"):
        await fetch_audio(server.url("/slow"), FetchLimits(allow_insecure=True, timeout_s=0.3))
    assert loop.time() - started < 2.5


def test_player_frames_pad_the_tail_and_loop_without_gaps() -> None:
    pcm = bytes(range(200)) * 4  # 800 bytes: 2.5 frames
    player = AudioPlayer(pcm)
    got = [player.read_frame() for _ in range(4)]
    assert got[0] == pcm[:320] and got[1] == pcm[320:640]
    assert got[2] == pcm[640:] + bytes(160) and got[3] is None and player.finished
    looping = AudioPlayer(pcm, loop=True)
    stream = b"".join(looping.next_frame() or b"" for _ in range(10))
    assert stream == (pcm * 4)[:3200]
    tiny = AudioPlayer(b"\x01\x02" * 10, loop=True)  # shorter than a frame
    assert tiny.read_frame() == b"\x01\x02" * 160
    looping.rewind()
    assert looping.read_frame() == pcm[:320]
    with pytest.raises(ValueError):
        AudioPlayer(b"", loop=True)
    with pytest.raises(ValueError):
        AudioPlayer(b"\0\0\0")
    with pytest.raises(AudioFetchError):
        decode_audio(b"")


def fake_dns(monkeypatch: pytest.MonkeyPatch, name: str, address: str) -> None:
    """Answer `name` with `address` on the running loop, the way a hostile DNS server might."""
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo

    async def getaddrinfo(host: Any, port: Any, **kwargs: Any) -> Any:
        if host == name:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return await real(host, port, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
