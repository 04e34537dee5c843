"""`AudioFork`: Yotel's side of the v1 audio fork (PRODUCT.md §6), one per AI session.

The media engine drives it from two places:
- the RTP receive path: `push_caller(rtp_timestamp, payload, now)` (sent at once, low latency);
- the 20 ms media clock: `tick(now) -> bytes | None`, which fills caller gaps with silence and
  returns the AI's next frame to play (None: the AI is silent).
Everything on the socket happens in the fork's own task: `await fork.connect()`, then
`start_audio(now)` at answer, `send_dtmf`/`send_event` at any time, `await fork.close(reason)`
at the end, and `await fork.outcome` tells how the session ended: "closed" (we closed it),
"ai_hangup" (the AI closed with 1000) or "ai_disconnected" (dropped and not back within the
reconnect budget).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from yotel.fork import frames
from yotel.fork.playout import Playout
from yotel.fork.timeline import CallerTimeline
from yotel.net.guard import UnsafeUrlError, resolve_public

log = logging.getLogger(__name__)
LatencyCallback = Callable[[str, float], None]
MintToken = Callable[[], Awaitable[tuple[str, str]]]


class ForkConnectError(Exception):
    """The AI could not be reached, refused us, or did not select the subprotocol."""


@dataclass(frozen=True)
class ForkConfig:
    url: str
    subprotocol: str = "audio.drachtio.org"
    auth_token: str | None = None
    encoding: str = "pcmu"
    allow_insecure: bool = False
    connect_timeout_s: float = 5.0
    ping_interval_s: float = 10.0
    ping_timeout_s: float = 5.0
    reconnect_first_s: float = 0.25
    reconnect_max_s: float = 2.0
    reconnect_budget_s: float = 8.0
    token_refresh_s: float | None = 25 * 60  # None for ws_session agents
    backlog_frames: int = 25  # 500 ms


class AudioFork:
    def __init__(self, config: ForkConfig, metadata: dict[str, Any], *,
                 on_latency: LatencyCallback | None = None,
                 mint_token: MintToken | None = None) -> None:
        self.config = config
        self._metadata = metadata
        self._on_latency = on_latency
        self._mint_token = mint_token
        self._silence = bytes([0xFF if config.encoding == "pcmu" else 0xD5]) * 160
        self.playout = Playout()
        self.timeline: CallerTimeline | None = None
        self._ws: ClientConnection | None = None
        self._out: deque[tuple[bytes | str, float]] = deque()
        self._wakeup = asyncio.Event()
        self._arrivals: deque[tuple[int, float]] = deque()  # (stream end byte, receive time)
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self.outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.dropped_frames = 0
        self.reconnects = 0

    # -- connection ------------------------------------------------------------------------
    async def connect(self) -> None:
        """Open the socket and send metadata; ForkConnectError if that fails."""
        self._ws = await self._open()
        await self._ws.send(frames.dump(frames.metadata(self._metadata,
                                                        subprotocol=self.config.subprotocol)))
        self._spawn(self._session())
        self._spawn(self._writer())
        if self._mint_token is not None and self.config.token_refresh_s:
            self._spawn(self._refresh_tokens(self.config.token_refresh_s))

    async def _open(self) -> ClientConnection:
        cfg = self.config
        headers = {"Authorization": f"Bearer {cfg.auth_token}"} if cfg.auth_token else None
        try:
            extra = await self._pinned_address()
            ws = await connect(cfg.url, subprotocols=[cfg.subprotocol],  # type: ignore[list-item]
                               additional_headers=headers, open_timeout=cfg.connect_timeout_s,
                               ping_interval=cfg.ping_interval_s, ping_timeout=cfg.ping_timeout_s,
                               max_size=1 << 20, compression=None, **extra)
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError, UnsafeUrlError) as exc:
            raise ForkConnectError(f"cannot open the audio fork: {exc}") from exc
        if ws.subprotocol != cfg.subprotocol:
            await ws.close(4000, "subprotocol not selected")
            raise ForkConnectError(f"the AI did not select subprotocol {cfg.subprotocol}")
        return ws

    async def _pinned_address(self) -> dict[str, Any]:
        """Connect to the address we checked, not to whatever DNS says next (SSRF)."""
        parts = urlsplit(self.config.url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "wss" else 80)
        address = await resolve_public(host, port, allow_insecure=self.config.allow_insecure)
        return {"host": address, "port": port}

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- media -----------------------------------------------------------------------------
    def start_audio(self, now: float) -> None:
        """The call was answered: caller frame 0 starts now."""
        self.timeline = CallerTimeline(self._silence, now)

    def push_caller(self, timestamp: int, payload: bytes, now: float) -> None:
        if self.timeline is not None:
            for frame in self.timeline.push(timestamp, payload, now):
                self._enqueue(frame, now)

    def tick(self, now: float) -> bytes | None:
        if self.timeline is not None:
            for silence in self.timeline.tick(now):
                self._enqueue(silence, -1.0)
        frame, marks = self.playout.next_frame()
        for name, event, played in marks:
            self._text(frames.mark_reply(name, event, played))
        if frame is None:
            return None
        self._record_playout(now)
        return frame if len(frame) == 160 else (frame + self._silence)[:160]

    def _record_playout(self, now: float) -> None:
        arrivals = self._arrivals
        while arrivals and arrivals[0][0] <= self.playout.played:
            _, received = arrivals.popleft()
            if self._on_latency is not None:
                self._on_latency("ws_to_rtp", now - received)

    def _enqueue(self, frame: bytes, arrived: float) -> None:
        out = self._out
        out.append((frame, arrived))
        if len(out) > self.config.backlog_frames:
            dropped = 0
            while len(out) > self.config.backlog_frames:
                out.popleft()
                dropped += 1
            self.dropped_frames += dropped
            out.append((frames.dump(frames.warning("backpressure", dropped * 20)), -1.0))
        self._wakeup.set()

    def _text(self, frame: dict[str, Any]) -> None:
        self._out.append((frames.dump(frame), -1.0))
        self._wakeup.set()

    def send_dtmf(self, digit: str, duration_ms: int) -> None:
        self._text(frames.dtmf(digit, duration_ms))

    def send_event(self, name: str, data: dict[str, Any] | None = None) -> None:
        self._text(frames.event(name, data))

    async def _writer(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._out:
                ws = self._ws
                if ws is None:  # reconnecting: caller audio of the gap is not delivered
                    self._out.clear()
                    break
                frame, arrived = self._out.popleft()
                with contextlib.suppress(ConnectionClosed):
                    await ws.send(frame)
                if arrived >= 0 and self._on_latency is not None:
                    self._on_latency("rtp_to_ws", loop.time() - arrived)

    # -- the AI's side -----------------------------------------------------------------------
    async def _session(self) -> None:
        while True:
            ws = self._ws
            assert ws is not None
            code = await self._read(ws)
            if self._closing:
                self._finish("closed")
                return
            if code == 1000:
                self._finish("ai_hangup")
                return
            if 4000 <= code < 5000 or not await self._reconnect():
                self._finish("ai_disconnected")
                return

    async def _read(self, ws: ClientConnection) -> int:
        try:
            async for message in ws:
                if isinstance(message, bytes):
                    self._ai_audio(message)
                else:
                    self._ai_text(message)
        except ConnectionClosed:
            pass
        return ws.close_code if ws.close_code is not None else 1006

    def _ai_audio(self, audio: bytes) -> None:
        dropped = self.playout.append(audio)
        self._arrivals.append((self.playout.received, asyncio.get_running_loop().time()))
        if dropped:
            self._text(frames.warning("playout_queue_full", dropped // 8))

    def _ai_text(self, text: str) -> None:
        try:
            command = frames.parse(text)
        except frames.FrameError as exc:
            self._text(frames.error(exc.code, str(exc)))
            return
        if isinstance(command, frames.Clear):
            played, discarded, marks = self.playout.clear()
            self._arrivals.clear()
            for name, event, at in marks:
                self._text(frames.mark_reply(name, event, at))
            self._text({"type": "cleared", "played_ms": played, "discarded_ms": discarded})
        elif isinstance(command, frames.Mark):
            try:
                for name, event, at in self.playout.add_mark(command.name):
                    self._text(frames.mark_reply(name, event, at))
            except OverflowError as exc:
                self._text(frames.error("too_many_marks", str(exc)))
        elif isinstance(command, frames.ClearMarks):
            self.playout.clear_marks()
        else:
            self._ai_audio(command.audio)

    async def _reconnect(self) -> bool:
        """§6.7: redial with back-off (250 ms doubling, ≤ 2 s apart, ≤ 8 s in all)."""
        loop = asyncio.get_running_loop()
        self._ws = None
        lost_at, delay = loop.time(), self.config.reconnect_first_s
        while loop.time() + delay - lost_at <= self.config.reconnect_budget_s:
            await asyncio.sleep(delay)
            try:
                ws = await self._open()
            except ForkConnectError:
                delay = min(delay * 2, self.config.reconnect_max_s)
                continue
            gap_ms = int((loop.time() - lost_at) * 1000)
            await ws.send(frames.dump(frames.metadata(
                self._metadata, subprotocol=self.config.subprotocol, resumed=True,
                gap_ms=gap_ms)))
            self._ws = ws
            self.reconnects += 1
            return True
        return False

    async def _refresh_tokens(self, every_s: float) -> None:
        assert self._mint_token is not None
        while True:
            await asyncio.sleep(every_s)
            token, expires_at = await self._mint_token()
            self._text(frames.token_refresh(token, expires_at))

    def _finish(self, outcome: str) -> None:
        if not self.outcome.done():
            self.outcome.set_result(outcome)

    async def close(self, reason: str = "hangup", code: int = 1000) -> None:
        """Send `stop`, close the socket, and stop the fork's tasks."""
        self._closing = True
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(ConnectionClosed):
                await ws.send(frames.dump(frames.stop(reason)))
            await ws.close(code, reason)
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        self._finish("closed")
