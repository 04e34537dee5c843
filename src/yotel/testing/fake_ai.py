"""A fake voice AI: a real WebSocket server speaking the v1 audio fork, for tests (ours and
yours). It records every frame with its arrival time and can echo, play audio, send text
frames on demand, and misbehave (close with a code after N frames, drop the TCP connection,
stop answering pings).

    async with FakeVoiceAI(mode="echo") as ai:
        ... point a voice agent at ai.url ...
        session = await ai.next_session()
        await session.wait_for_binary(50)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

FRAME = 160


@dataclass
class FakeSession:
    ws: ServerConnection
    metadata: dict[str, Any] = field(default_factory=dict)
    binary: list[tuple[float, bytes]] = field(default_factory=list)
    texts: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    wedged: bool = False
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def authorization(self) -> str | None:
        return self.ws.request.headers.get("Authorization") if self.ws.request else None

    def _note(self) -> None:
        self._changed.set()

    async def _wait(self, ready: Any, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not ready():
                self._changed.clear()
                await self._changed.wait()

    async def wait_for_binary(self, count: int, timeout: float = 10.0) -> None:
        await self._wait(lambda: len(self.binary) >= count, timeout)

    async def wait_for_text(self, kind: str, count: int = 1,
                            timeout: float = 10.0) -> list[dict[str, Any]]:
        await self._wait(lambda: len(self.of_type(kind)) >= count, timeout)
        return self.of_type(kind)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [t for _, t in self.texts if t.get("type") == kind]

    async def send_text(self, frame: dict[str, Any] | str) -> None:
        await self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def send_audio(self, audio: bytes) -> None:
        await self.ws.send(audio)

    async def play(self, audio: bytes, *, realtime: bool = True, speed: float = 1.0) -> None:
        """Send `audio` in 20 ms frames, paced at `speed` x real time (unpaced if `realtime`
        is False)."""
        with contextlib.suppress(ConnectionClosed):
            for i in range(0, len(audio), FRAME):
                await self.ws.send(audio[i:i + FRAME])
                if realtime:
                    await asyncio.sleep(0.02 / speed)

    def stop_answering_pings(self) -> None:
        """Hang like a wedged server: stop reading the socket, so pings go unanswered."""
        self.wedged = True
        self.ws.transport.pause_reading()

    async def wait_closed(self, timeout: float = 10.0) -> int | None:
        """Wait for the connection to end; the close code Yotel sent (None if none)."""
        await asyncio.wait_for(self.closed.wait(), timeout)
        return self.ws.close_code

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.ws.close(code, reason)

    def abort(self) -> None:
        """Drop the TCP connection without a closing handshake (the client sees 1006)."""
        self.ws.transport.abort()


class FakeVoiceAI:
    def __init__(self, mode: str = "echo", *, subprotocol: str | None = "audio.drachtio.org",
                 token: str | None = None, play_audio: bytes = b"", play_speed: float = 1.0,
                 close_after_frames: int | None = None, close_code: int = 1000,
                 ignore_pings: bool = False) -> None:
        """`mode`: "echo" (every caller frame sent back), "play" (`play_audio` sent after the
        metadata, at `play_speed` x real time, 0 = as fast as possible) or "silent".
        `subprotocol=None` never selects one (the client must fail); `token` requires that
        Bearer token (401 otherwise). Faults: `close_after_frames` closes each session with
        `close_code` after that many caller frames (1006 = drop the TCP connection without a
        closing handshake); `ignore_pings` stops reading once metadata has arrived."""
        if mode not in ("echo", "play", "silent"):
            raise ValueError(f"unknown mode {mode!r}")
        self.mode = mode
        self.subprotocol = subprotocol
        self.token = token
        self.play_audio = play_audio
        self.close_after_frames = close_after_frames
        self.close_code = close_code
        self.play_speed = play_speed
        self.ignore_pings = ignore_pings
        self.sessions: list[FakeSession] = []
        self.rejected = 0
        self._new: asyncio.Queue[FakeSession] = asyncio.Queue()
        self._server: Server | None = None
        self.url = ""

    async def __aenter__(self) -> FakeVoiceAI:
        self._server = await serve(self._handle, "127.0.0.1", 0,
                                   select_subprotocol=self._select,
                                   process_request=self._check_auth, compression=None)
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/stream"
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        for session in self.sessions:
            if session.wedged:  # it would never read the closing handshake
                session.abort()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    async def next_session(self, timeout: float = 10.0) -> FakeSession:
        return await asyncio.wait_for(self._new.get(), timeout)

    def _select(self, connection: ServerConnection, offered: Any) -> Any:
        if self.subprotocol is not None and self.subprotocol in offered:
            return self.subprotocol
        return None

    def _check_auth(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.token is None or request.headers.get("Authorization") == f"Bearer {self.token}":
            return None
        self.rejected += 1
        return Response(401, "Unauthorized", Headers(), b"bad token\n")

    async def _handle(self, ws: ServerConnection) -> None:
        session = FakeSession(ws)
        self.sessions.append(session)
        await self._new.put(session)
        player: asyncio.Task[None] | None = None
        try:
            async for message in ws:
                now = asyncio.get_running_loop().time()
                if isinstance(message, bytes):
                    session.binary.append((now, message))
                    await self._on_binary(session, message)
                else:
                    frame = json.loads(message)
                    session.texts.append((now, frame))
                    if frame.get("type") == "metadata":
                        session.metadata = frame
                        player = self._on_metadata(session)
                session._note()
        except ConnectionClosed:
            pass
        finally:
            if player is not None:
                player.cancel()
            session.closed.set()
            session._note()

    def _on_metadata(self, session: FakeSession) -> asyncio.Task[None] | None:
        if self.ignore_pings:
            session.stop_answering_pings()
        if self.mode != "play" or not self.play_audio:
            return None
        speed = self.play_speed
        return asyncio.ensure_future(
            session.play(self.play_audio, realtime=speed > 0, speed=speed or 1.0))

    async def _on_binary(self, session: FakeSession, frame: bytes) -> None:
        if self.mode == "echo":
            await session.ws.send(frame)
        limit = self.close_after_frames
        if limit is not None and len(session.binary) == limit:
            if self.close_code == 1006:
                session.abort()
            else:
                await session.ws.close(self.close_code)
