"""A fake voice AI: a real WebSocket server speaking the v1 audio fork (PRODUCT.md §6), for
tests (ours and yours). It records every frame with its arrival time, checks each against the
protocol, and can echo, play audio, run a script of frames, and misbehave.

    async with FakeVoiceAI(mode="echo", token="secret") as ai:
        ... point a voice agent at ai.url (ws://127.0.0.1:<port>/stream) ...
        await ai.wait_for_frames(50)             # caller frames on the latest session
        ai.metadata, ai.received_frames, ai.received_texts
        session = ai.sessions[-1]                 # or: await ai.next_session()
        await session.send_text({"type": "clear"}); await session.wait_for_text("cleared")

Modes: "echo" (each caller frame sent back), "play" (`play_audio` after the metadata, at
`play_speed` x real time, 0 = as fast as possible), "silent", and "scripted" (silent but for
`script`). `script` (any mode) is `[(seconds after metadata, frame), ...]` where a frame is a
dict or str (text) or bytes (audio).

Faults: `subprotocol=None` never selects one (the client must fail the connect); `token`
requires that Bearer token (401 otherwise); `handshake_delay_s` holds the upgrade (connect
timeouts); `close_after_frames` / `close_after_s` close each session with `close_code`, 1006
meaning: drop the TCP connection without a closing handshake; `ignore_pings` stops reading once
metadata has arrived (a wedged server: pings go unanswered); `stall_s` stops reading for that
long after the metadata (a slow AI: TCP back-pressure reaches Yotel); `reply_delay_s` delays
every echoed frame.

Hostile AIs (`fault`, from the metadata on; what Yotel must survive without another call
noticing): "flood_binary" (1-byte audio messages as fast as the socket takes them),
"flood_text" (valid `clearMarks` frames), "flood_ping" (pings), "garbage" (text that is not
JSON), "huge" (one binary message of `huge_bytes`, 8 MiB by default), "never_read" (stops
reading: Yotel's writes back up). `python -m yotel.testing.fake_ai FAULT ...` serves one AI per
fault in its own process (so a flood costs that process, not yours): it prints
`{"urls": [...]}` on one line, then one JSON line per ended session (fault, close code, counts
of warnings and errors received), until its stdin closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from yotel.fork import frames as wire
from yotel.fork.gate import frame_header

FRAME = 160
FAULTS = ("flood_binary", "flood_text", "flood_ping", "garbage", "huge", "never_read")
ABORT = 1006  # not a code one can send (RFC 6455 §7.4.1): "drop the connection" here
_FLOODS = {"flood_binary": (0x2, b"\x01"), "flood_text": (0x1, b'{"type": "clearMarks"}'),
           "garbage": (0x1, b"not json {"), "flood_ping": (0x9, b"p")}  # (opcode, payload)
ScriptItem = tuple[float, dict[str, Any] | str | bytes]


@dataclass
class FakeSession:
    """One WebSocket connection from Yotel."""

    ws: ServerConnection
    metadata: dict[str, Any] = field(default_factory=dict)
    binary: list[tuple[float, bytes]] = field(default_factory=list)
    texts: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)  # frames Yotel must never send
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    wedged: bool = False
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def authorization(self) -> str | None:
        return self.ws.request.headers.get("Authorization") if self.ws.request else None

    def _note(self) -> None:
        self._changed.set()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _wait(self, ready: Callable[[], bool], timeout: float) -> None:
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

    def _record(self, message: str | bytes, now: float) -> dict[str, Any] | None:
        if not self.metadata and not (isinstance(message, str) and '"metadata"' in message):
            self.violations.append("a frame before the metadata frame")  # §6.2: it is first
        if isinstance(message, bytes):
            self.binary.append((now, message))
            if len(message) != FRAME:
                self.violations.append(f"binary frame of {len(message)} bytes")
            return None
        try:
            wire.parse_yotel_frame(message)
        except wire.FrameError as exc:
            self.violations.append(f"{exc.code}: {exc.message}")
        try:
            body = json.loads(message)
        except ValueError:
            body = {"type": None, "raw": message}
        frame = body if isinstance(body, dict) else {"type": None, "raw": body}
        self.texts.append((now, frame))
        if frame.get("type") == "metadata" and not self.metadata:
            self.metadata = frame
        return frame

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

    async def run_script(self, script: Sequence[ScriptItem]) -> None:
        """Send each frame at its offset (seconds) from now."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        with contextlib.suppress(ConnectionClosed):
            for at, frame in sorted(script, key=lambda item: item[0]):
                await asyncio.sleep(max(start + at - loop.time(), 0))
                if isinstance(frame, bytes):
                    await self.send_audio(frame)
                else:
                    await self.send_text(frame)

    def stop_answering_pings(self) -> None:
        """Hang like a wedged server: stop reading the socket, so pings go unanswered."""
        self.wedged = True
        self.ws.transport.pause_reading()

    async def stall(self, seconds: float) -> None:
        """Stop reading for `seconds` (the kernel buffers fill, the client's sends block)."""
        self.ws.transport.pause_reading()
        try:
            await asyncio.sleep(seconds)
        finally:
            self.ws.transport.resume_reading()

    async def misbehave(self, fault: str, huge_bytes: int = 8 << 20) -> None:
        """Run one of `FAULTS` until the connection ends (see the module docstring)."""
        if fault == "never_read":
            return self.stop_answering_pings()
        ws = self.ws
        with contextlib.suppress(ConnectionClosed):
            if fault == "huge":
                return await ws.send(b"\x55" * huge_bytes)
            # As an attacker would: frames built once and written raw, as fast as the socket
            # takes them, so the flood costs this side next to nothing per message.
            opcode, payload = _FLOODS[fault]
            blob = (frame_header(0x80 | opcode, len(payload)) + payload) * (8192 // len(payload))
            while not ws.transport.is_closing():
                ws.transport.write(blob)
                await ws.drain()
        return None

    async def wait_closed(self, timeout: float = 10.0) -> int | None:
        """Wait for the connection to end; the close code Yotel sent (None if none)."""
        await asyncio.wait_for(self.closed.wait(), timeout)
        return self.ws.close_code

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close with `code`; `ABORT` (1006) drops the TCP connection instead."""
        if code == ABORT:
            self.abort()
        else:
            await self.ws.close(code, reason)

    def abort(self) -> None:
        """Drop the TCP connection without a closing handshake (the client sees 1006)."""
        self.ws.transport.abort()

    async def _close_later(self, delay_s: float, code: int) -> None:
        await asyncio.sleep(delay_s)
        with contextlib.suppress(ConnectionClosed):
            await self.close(code, "fault injected")


class FakeVoiceAI:
    def __init__(self, mode: str = "echo", *, subprotocol: str | None = "audio.drachtio.org",
                 token: str | None = None, play_audio: bytes = b"", play_speed: float = 1.0,
                 script: Sequence[ScriptItem] = (), close_after_frames: int | None = None,
                 close_after_s: float | None = None, close_code: int = 1000,
                 ignore_pings: bool = False, stall_s: float = 0.0, reply_delay_s: float = 0.0,
                 handshake_delay_s: float = 0.0, fault: str | None = None,
                 huge_bytes: int = 8 << 20) -> None:
        """See the module docstring for the modes and faults."""
        if mode not in ("echo", "play", "silent", "scripted"):
            raise ValueError(f"unknown mode {mode!r}")
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}")
        self.fault = fault
        self.huge_bytes = huge_bytes
        self.mode = mode
        self.subprotocol = subprotocol
        self.token = token
        self.play_audio = play_audio
        self.play_speed = play_speed
        self.script = list(script)
        self.close_after_frames = close_after_frames
        self.close_after_s = close_after_s
        self.close_code = close_code
        self.ignore_pings = ignore_pings
        self.reply_delay_s = reply_delay_s
        self.stall_s = stall_s
        self.handshake_delay_s = handshake_delay_s
        self.sessions: list[FakeSession] = []
        self.on_session_end: Callable[[FakeVoiceAI, FakeSession], None] | None = None
        self.rejected = 0
        self._new: asyncio.Queue[FakeSession] = asyncio.Queue()
        self._connected = asyncio.Event()
        self._server: Server | None = None
        self.url = ""

    async def __aenter__(self) -> FakeVoiceAI:
        self._server = await serve(self._handle, "127.0.0.1", 0,
                                   select_subprotocol=self._select,
                                   process_request=self._check_auth, compression=None,
                                   max_size=None)
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

    # -- what tests read -----------------------------------------------------------------------
    async def next_session(self, timeout: float = 10.0) -> FakeSession:
        """The next session to connect (each is returned once, in order)."""
        return await asyncio.wait_for(self._new.get(), timeout)

    async def latest_session(self, timeout: float = 10.0) -> FakeSession:
        """The most recent session, waiting for a first one if none connected yet."""
        if not self.sessions:
            await asyncio.wait_for(self._connected.wait(), timeout)
        return self.sessions[-1]

    async def wait_for_frames(self, count: int, timeout: float = 10.0) -> list[bytes]:
        """Wait until the latest session received `count` caller frames; all of them."""
        session = await self.latest_session(timeout)
        await session.wait_for_binary(count, timeout)
        return [frame for _, frame in session.binary]

    @property
    def metadata(self) -> dict[str, Any]:
        """The latest session's metadata frame ({} before it arrived)."""
        return self.sessions[-1].metadata if self.sessions else {}

    @property
    def received_frames(self) -> list[tuple[float, bytes]]:
        """(arrival loop time, caller frame) across every session, in order."""
        return [item for session in self.sessions for item in session.binary]

    @property
    def received_texts(self) -> list[tuple[float, dict[str, Any]]]:
        """(arrival loop time, text frame) across every session, in order."""
        return [item for session in self.sessions for item in session.texts]

    # -- the server ----------------------------------------------------------------------------
    def _select(self, connection: ServerConnection, offered: Any) -> Any:
        if self.subprotocol is not None and self.subprotocol in offered:
            return self.subprotocol
        return None

    async def _check_auth(self, connection: ServerConnection,
                          request: Request) -> Response | None:
        if self.handshake_delay_s:
            await asyncio.sleep(self.handshake_delay_s)
        if self.token is None or request.headers.get("Authorization") == f"Bearer {self.token}":
            return None
        self.rejected += 1
        return Response(401, "Unauthorized", Headers(), b"bad token\n")

    async def _handle(self, ws: ServerConnection) -> None:
        session = FakeSession(ws)
        self.sessions.append(session)
        self._connected.set()
        await self._new.put(session)
        echo: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        try:
            async for message in ws:
                frame = session._record(message, loop.time())
                if frame is not None and frame is session.metadata:
                    self._on_metadata(session, echo)
                elif isinstance(message, bytes):
                    await self._on_binary(session, message, echo)
                session._note()
        except ConnectionClosed:
            pass
        finally:
            for task in list(session._tasks):
                task.cancel()
            session.closed.set()
            session._note()
            if self.on_session_end is not None:
                self.on_session_end(self, session)

    def _on_metadata(self, session: FakeSession,
                     echo: asyncio.Queue[tuple[float, bytes]]) -> None:
        if self.ignore_pings:
            session.stop_answering_pings()
        elif self.stall_s:
            session._spawn(session.stall(self.stall_s))
        if self.mode == "echo" and self.reply_delay_s:
            session._spawn(self._delayed_echo(session, echo))
        if self.mode == "play" and self.play_audio:
            speed = self.play_speed
            session._spawn(session.play(self.play_audio, realtime=speed > 0, speed=speed or 1.0))
        if self.script:
            session._spawn(session.run_script(self.script))
        if self.close_after_s is not None:
            session._spawn(session._close_later(self.close_after_s, self.close_code))
        if self.fault is not None:
            session._spawn(session.misbehave(self.fault, self.huge_bytes))

    async def _on_binary(self, session: FakeSession, frame: bytes,
                         echo: asyncio.Queue[tuple[float, bytes]]) -> None:
        if self.mode == "echo":
            if self.reply_delay_s:
                echo.put_nowait((asyncio.get_running_loop().time() + self.reply_delay_s, frame))
            else:
                await session.ws.send(frame)
        limit = self.close_after_frames
        if limit is not None and len(session.binary) == limit:
            await session.close(self.close_code)

    async def _delayed_echo(self, session: FakeSession,
                            echo: asyncio.Queue[tuple[float, bytes]]) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(ConnectionClosed):
            while True:
                due, frame = await echo.get()
                await asyncio.sleep(max(due - loop.time(), 0))
                await session.ws.send(frame)


async def _serve(faults: Sequence[str]) -> None:
    """The `python -m yotel.testing.fake_ai` process: one hostile AI per fault."""
    async with contextlib.AsyncExitStack() as stack:
        ais = [await stack.enter_async_context(FakeVoiceAI("silent", fault=f)) for f in faults]
        for ai in ais:
            ai.on_session_end = _report
        print(json.dumps({"urls": [ai.url for ai in ais]}), flush=True)
        await asyncio.to_thread(sys.stdin.read)  # until the test closes our stdin


def _report(ai: FakeVoiceAI, session: FakeSession) -> None:
    print(json.dumps({"fault": ai.fault, "close_code": session.ws.close_code,
                      "warnings": [w.get("code") for w in session.of_type("warning")],
                      "errors": len(session.of_type("error"))}), flush=True)


if __name__ == "__main__":
    asyncio.run(_serve(sys.argv[1:] or list(FAULTS)))
