"""`AudioFork`: Yotel's side of the v1 audio fork (PRODUCT.md §6), one per AI session.

Yotel is the WebSocket client; the tenant's voice AI is the server at the agent's `ws_url`.

    fork = AudioFork(ForkConfig(url=agent.ws_url, subprotocol=agent.subprotocol,
                                auth_token=token, encoding="pcmu"),
                     metadata={"call_id": ..., "tenant_id": ..., ...},   # PRODUCT.md §6.2
                     mint_token=mint,          # async () -> (token, expires_at), refresh agents
                     on_latency=stats_cb)      # (kind, seconds): "rtp_to_ws" | "ws_to_rtp"
    await fork.connect()            # at ringing; ForkConnectError if the AI cannot be had
    fork.start_audio(now)           # at answer: caller frame 0 starts now
    fork.push_caller(rtp_ts, payload, now)   # RTP receive path: frames go out at once
    frame = fork.tick(now)          # every 20 ms media-clock tick: fills caller gaps with
                                    # silence; returns the AI's next 160-byte frame or None
    fork.send_caller_frame(frame)   # alternative to push_caller for a ready-made 160-byte frame
    fork.send_dtmf("5", 200); fork.send_event("hold", {}); fork.send_warning/send_error(...)
    await fork.close("hangup")      # `stop` frame, then close 1000 (1001 drain, 4000, 4001, 4009)
    outcome = await fork.wait_closed()   # also `fork.outcome` (a future)

Outcomes: "closed" (Yotel closed it), "ai_hangup" (the AI closed with 1000: the call hangs up
with outcome `hangup`), "ai_disconnected" (the AI closed with 4xxx, or dropped and was not back
within the reconnect budget). Every method but `connect`, `close` and `wait_closed` is
non-blocking and cheap, for ~50 frames/s each way per call and hundreds of calls per process.

Caller frames go through a bounded backlog feeding one writer task: more than 500 ms waiting
(a slow AI) drops the oldest and sends one `warning` (`caller_audio_dropped`, `dropped_ms`) per
episode. While the fork is redialling, caller audio and text are not queued (the resumed
metadata's `gap_ms` tells the AI), and the playout queue restarts empty with the new socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.typing import Subprotocol

from yotel.fork import frames
from yotel.fork.playout import Playout
from yotel.fork.timeline import CallerTimeline, silence_frame
from yotel.net.guard import UnsafeUrlError, resolve_public

log = logging.getLogger(__name__)
LatencyCallback = Callable[[str, float], None]
MintToken = Callable[[], Awaitable[tuple[str, str]]]
RTP_TO_WS = "rtp_to_ws"  # caller frame handed to the fork -> written to the socket
WS_TO_RTP = "ws_to_rtp"  # AI audio received -> its first byte pulled for playout


class ForkConnectError(Exception):
    """The AI could not be reached, refused us, or did not select the subprotocol."""


@dataclass(frozen=True)
class ForkConfig:
    url: str
    subprotocol: str = frames.DRACHTIO_SUBPROTOCOL
    auth_token: str | None = None
    encoding: str = "pcmu"
    allow_insecure: bool = False
    connect_timeout_s: float = 5.0
    ping_interval_s: float = 10.0
    ping_timeout_s: float = 5.0
    close_timeout_s: float = 2.0  # how long a closing handshake (ours or a failed ping's) waits
    reconnect_first_s: float = 0.25
    reconnect_max_s: float = 2.0
    reconnect_budget_s: float = 8.0
    token_refresh_s: float | None = 25 * 60  # None: no refresh (ws_session agents)
    backlog_frames: int = 25  # 500 ms of caller audio
    # Messages over this close the socket (1009); text over frames.MAX_TEXT_BYTES but under it
    # is answered with an `error` frame instead, so the session survives.
    max_message_bytes: int = 4 << 20


class AudioFork:
    def __init__(self, config: ForkConfig, metadata: Mapping[str, Any], *,
                 on_latency: LatencyCallback | None = None,
                 mint_token: MintToken | None = None) -> None:
        self.config = config
        self._metadata = dict(metadata)
        self._on_latency = on_latency
        self._mint_token = mint_token
        self._silence = silence_frame(config.encoding)
        self.playout = Playout(self._silence)
        self.timeline: CallerTimeline | None = None
        self._ws: ClientConnection | None = None
        self._audio: deque[tuple[bytes, float]] = deque()  # (frame, enqueued at; <0: silence)
        self._text: deque[bytes] = deque()
        self._backlog_dropped = 0  # frames dropped since the last warning
        self._wakeup = asyncio.Event()
        self._arrivals: deque[tuple[int, float]] = deque()  # (stream byte offset, receive time)
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._loop = asyncio.get_running_loop()
        self.outcome: asyncio.Future[str] = self._loop.create_future()
        self.dropped_frames = 0
        self.reconnects = 0

    # -- connection --------------------------------------------------------------------------
    async def connect(self) -> None:
        """Open the socket and send metadata; ForkConnectError if that fails."""
        ws = await self._open(self.config.connect_timeout_s)
        await self._send_metadata(ws, resumed=False, gap_ms=None)
        self._ws = ws
        self._spawn(self._session())
        self._spawn(self._writer())
        if self._mint_token is not None and self.config.token_refresh_s:
            self._spawn(self._refresh_tokens(self.config.token_refresh_s))

    async def _open(self, open_timeout_s: float) -> ClientConnection:
        cfg = self.config
        headers = {"Authorization": f"Bearer {cfg.auth_token}"} if cfg.auth_token else None
        try:
            pinned = await self._pinned_address()
            ws = await connect(cfg.url, subprotocols=[Subprotocol(cfg.subprotocol)],
                               additional_headers=headers, open_timeout=open_timeout_s, proxy=None,
                               ping_interval=cfg.ping_interval_s, ping_timeout=cfg.ping_timeout_s,
                               close_timeout=cfg.close_timeout_s,
                               max_size=cfg.max_message_bytes, compression=None,
                               user_agent_header="yotel-audio-fork/1", **pinned)
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError, UnsafeUrlError) as exc:
            raise ForkConnectError(f"cannot open the audio fork: {exc}") from exc
        if ws.subprotocol != cfg.subprotocol:  # §6.1: not selecting it fails the connect
            await ws.close(4000, "subprotocol not selected")
            raise ForkConnectError(f"the AI did not select subprotocol {cfg.subprotocol}")
        return ws

    async def _pinned_address(self) -> dict[str, Any]:
        """Connect to the address the SSRF guard checked, not whatever DNS says next; the URL
        still supplies the Host header and (for wss) the TLS server name."""
        parts = urlsplit(self.config.url)
        host = parts.hostname or ""
        secure = parts.scheme == "wss"
        port = parts.port or (443 if secure else 80)
        address = await resolve_public(host, port, allow_insecure=self.config.allow_insecure)
        pinned: dict[str, Any] = {"host": address, "port": port}
        if secure:
            pinned["server_hostname"] = host
        return pinned

    async def _send_metadata(self, ws: ClientConnection, *, resumed: bool,
                             gap_ms: int | None) -> None:
        meta = frames.Metadata(self._metadata, self.config.subprotocol, resumed, gap_ms)
        try:
            await ws.send(bytes(meta), text=True)
        except ConnectionClosed as exc:
            raise ForkConnectError("the AI closed before metadata") from exc

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def connected(self) -> bool:
        return self._ws is not None

    # -- caller audio (engine -> AI) -----------------------------------------------------------
    def start_audio(self, now: float) -> None:
        """The call was answered: caller frame 0 starts now."""
        self.timeline = CallerTimeline(self._silence, now)

    def push_caller(self, timestamp: int, payload: bytes, now: float) -> None:
        """A caller RTP packet (timestamp, G.711 payload) received at `now`."""
        if self.timeline is not None:
            for frame in self.timeline.push(timestamp, payload, now):
                self.send_caller_frame(frame, now)

    def send_caller_frame(self, frame: bytes, enqueued_at: float = -1.0) -> None:
        """Queue one 160-byte caller frame; never blocks. `enqueued_at` (loop time) feeds the
        rtp_to_ws latency; negative for frames that are not measured (silence fill)."""
        if self._ws is None:
            return
        audio = self._audio
        audio.append((frame, enqueued_at))
        if len(audio) > self.config.backlog_frames:
            audio.popleft()  # §6.3: a slow AI loses the oldest audio, not the newest
            self.dropped_frames += 1
            self._backlog_dropped += 1
        self._wakeup.set()

    def tick(self, now: float) -> bytes | None:
        """Once per 20 ms media-clock tick: fill overdue caller slots with silence and return
        the AI frame to play now (None: the AI is silent)."""
        if self.timeline is not None:
            for silence in self.timeline.tick(now):
                self.send_caller_frame(silence)
        return self.next_frame(now)

    # -- AI audio (AI -> engine) --------------------------------------------------------------
    def next_frame(self, now: float) -> bytes | None:
        """Pull the AI's next 160-byte frame (None: nothing to play)."""
        frame, marks = self.playout.next_frame()
        for mark in marks:
            self._send_text(mark)
        if frame is not None and self._arrivals:
            self._record_playout(now)
        return frame

    def _record_playout(self, now: float) -> None:
        arrivals, played = self._arrivals, self.playout.played
        while arrivals and arrivals[0][0] < played:
            _, received = arrivals.popleft()
            if self._on_latency is not None:
                self._on_latency(WS_TO_RTP, now - received)

    def _ai_audio(self, audio: bytes) -> None:
        start = self.playout.received
        dropped = self.playout.append(audio)
        if len(audio) > dropped:
            self._arrivals.append((start, self._loop.time()))
        if dropped:
            self._send_text(frames.WarningFrame("playout_overflow", dropped // 8))

    def _ai_text(self, text: str) -> None:
        try:
            command = frames.parse(text)
        except frames.FrameError as exc:  # answered, ignored; the session goes on (§6.5)
            self._send_text(frames.ErrorFrame(exc.code, exc.message))
            return
        if isinstance(command, frames.Clear):
            cleared, marks = self.playout.clear()
            self._arrivals.clear()
            for mark in marks:
                self._send_text(mark)
            self._send_text(cleared)
        elif isinstance(command, frames.Mark):
            self._add_mark(command.name)
        elif isinstance(command, frames.ClearMarks):
            self.playout.clear_marks()
        else:
            self._ai_audio(command.audio)

    def _add_mark(self, name: str) -> None:
        try:
            answers = self.playout.add_mark(name)
        except OverflowError as exc:
            self._send_text(frames.ErrorFrame("too_many_marks", str(exc)))
            return
        for answer in answers:
            self._send_text(answer)

    # -- text (Yotel -> AI) -------------------------------------------------------------------
    def _send_text(self, frame: frames.YotelFrame) -> None:
        if self._ws is not None:
            self._text.append(bytes(frame))
            self._wakeup.set()

    def send_dtmf(self, digit: str, duration_ms: int) -> None:
        self._send_text(frames.Dtmf(digit, duration_ms))

    def send_event(self, name: str, data: Mapping[str, Any] | None = None) -> None:
        self._send_text(frames.Event(name, dict(data or {})))

    def send_warning(self, code: str, dropped_ms: int) -> None:
        self._send_text(frames.WarningFrame(code, dropped_ms))

    def send_error(self, code: str, message: str) -> None:
        self._send_text(frames.ErrorFrame(code, message))

    async def _writer(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            ws = self._ws
            if ws is None:
                self._audio.clear()
                self._text.clear()
                continue
            try:
                await self._drain(ws)
            except ConnectionClosed:
                self._audio.clear()  # the session task decides what happens next
                self._text.clear()

    async def _drain(self, ws: ClientConnection) -> None:
        text, audio, on_latency = self._text, self._audio, self._on_latency
        while text or audio:
            while text:
                await ws.send(text.popleft(), text=True)
            if self._backlog_dropped:
                dropped, self._backlog_dropped = self._backlog_dropped, 0
                await ws.send(bytes(frames.WarningFrame("caller_audio_dropped", dropped * 20)),
                              text=True)
            if audio:
                frame, enqueued = audio.popleft()
                await ws.send(frame)
                if enqueued >= 0 and on_latency is not None:
                    on_latency(RTP_TO_WS, self._loop.time() - enqueued)

    # -- session lifetime ---------------------------------------------------------------------
    async def _session(self) -> None:
        try:
            while True:
                ws = self._ws
                assert ws is not None
                code = await self._read(ws)
                if self._closing:
                    return self._finish("closed")
                if code == 1000:
                    return self._finish("ai_hangup")
                # §6.7: never redial after 1000 or a 4xxx close.
                if 4000 <= code < 5000 or not await self._reconnect():
                    return self._finish("ai_disconnected")
        except Exception:  # a bug here must end the session visibly, not hang the call
            log.exception("audio fork session failed")
            self._finish("ai_disconnected")

    async def _read(self, ws: ClientConnection) -> int:
        with contextlib.suppress(ConnectionClosed):
            async for message in ws:
                if isinstance(message, bytes):
                    self._ai_audio(message)
                else:
                    self._ai_text(message)
        return ws.close_code if ws.close_code is not None else 1006

    async def _reconnect(self) -> bool:
        """§6.7: redial with back-off (250 ms doubling, ≤ 2 s apart, ≤ 8 s in all)."""
        cfg, loop = self.config, self._loop
        self._ws = None
        self._wakeup.set()  # the writer drops what was queued for the dead socket
        lost_at, delay = loop.time(), cfg.reconnect_first_s
        while not self._closing:
            remaining = cfg.reconnect_budget_s - (loop.time() - lost_at) - delay
            if remaining <= 0:
                return False
            await asyncio.sleep(delay)
            delay = min(delay * 2, cfg.reconnect_max_s)
            try:
                ws = await self._open(min(cfg.connect_timeout_s, remaining))
                gap_ms = int((loop.time() - lost_at) * 1000)
                await self._send_metadata(ws, resumed=True, gap_ms=gap_ms)
            except ForkConnectError as exc:
                log.info("audio fork redial failed: %s", exc)
                continue
            self.playout = Playout(self._silence)
            self._arrivals.clear()
            self._ws = ws
            self.reconnects += 1
            return True
        return False

    async def _refresh_tokens(self, every_s: float) -> None:
        """§6.6: a fresh callback token at minute 25 and every 25 min after."""
        assert self._mint_token is not None
        while True:
            await asyncio.sleep(every_s)
            try:
                token, expires_at = await self._mint_token()
            except Exception:  # the old token stays valid until its expiry; try next time
                log.exception("minting a refreshed callback token failed")
                continue
            self._metadata |= {"yotel_callback_token": token, "token_expires_at": expires_at}
            self._send_text(frames.TokenRefresh(token, expires_at))

    def _finish(self, outcome: str) -> None:
        self._ws = None
        if not self.outcome.done():
            self.outcome.set_result(outcome)

    async def wait_closed(self) -> str:
        """Wait until the session ends; its outcome."""
        return await asyncio.shield(self.outcome)

    async def close(self, reason: str = "hangup", code: int = 1000) -> None:
        """Send `stop` with `reason`, close with `code`, and stop the fork's tasks."""
        self._closing = True
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(ConnectionClosed):
                await ws.send(bytes(frames.Stop(reason)), text=True)
            await ws.close(code, reason)
        current = asyncio.current_task()
        tasks = [task for task in self._tasks if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._finish("closed")
