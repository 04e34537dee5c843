"""`AudioFork`: Yotel's side of the v1 audio fork (PRODUCT.md §6), one per AI session.

Yotel is the WebSocket client; the tenant's voice AI is the server at the agent's `ws_url`.

    fork = AudioFork(ForkConfig(url=agent.ws_url, subprotocol=agent.subprotocol,
                                auth_token=token, encoding="pcmu"),
                     metadata={"call_id": ..., "tenant_id": ..., ...},   # PRODUCT.md §6.2
                     mint_token=mint,          # async () -> (token, expires_at), refresh agents
                     on_latency=stats_cb,      # (kind, seconds): "rtp_to_ws" | "ws_to_rtp"
                     sleep=asyncio.sleep)      # the token-refresh timer (tests: a fake clock)
    await fork.connect()            # at ringing; ForkConnectError if the AI cannot be had
                                    # (DNS/SSRF refusal, timeout, 401, subprotocol not selected)
    fork.start_audio(now)           # at answer: caller frame 0 starts now
    fork.push_caller(rtp_ts, payload, now)   # RTP receive path: frames go out at once
    frame = fork.tick(now)          # every 20 ms media-clock tick: fills caller gaps with
                                    # silence; returns the AI's next 160-byte frame or None
    fork.send_caller_frame(frame)   # alternative to push_caller for a ready-made 160-byte frame
    fork.send_dtmf("5", 200); fork.send_event("hold", {}); fork.send_warning/send_error(...)
    fork.begin_transfer()           # the AI leaving now is not a hang-up (outcome "closed")
    await fork.wait_playout_drained(3.0)  # after "ai_hangup": let its last words play out
    await fork.close("hangup")      # `stop` frame, then close 1000 (1001 drain, 4000, 4001, 4009)
    outcome = await fork.wait_closed()   # also `fork.outcome` (a future)

Outcomes: "closed" (Yotel closed it, or the AI left during a transfer), "ai_hangup" (the AI
closed with 1000: the call hangs up with outcome `hangup`), "ai_disconnected" (the AI closed
with 4xxx, or dropped and was not back within the reconnect budget); the fork's tasks end with
the session, `close()` is still the way to release it. Every method but `connect`, `close`,
`wait_closed` and `wait_playout_drained` is non-blocking and cheap, for ~50 frames/s each way
per call and hundreds of calls per process.

Frames to the AI go straight through while the socket keeps up, else queue behind one writer
(`outbox.py`: 500 ms of caller audio at most, then the oldest is dropped with one `warning`
`caller_audio_dropped` per episode; replies are dropped past `text_backlog`). What the AI sends
is gated before it is parsed (`limits.py`, `gate.py`): over the session's rates it is dropped
and reported at most once per `warning_interval_s` (`warning` `rate_limited`); a message over
the 60 s cap is cut to it; an AI over a limit for `abuse_close_s` s in a row is closed 4000.
While the fork is redialling, caller audio and text are not queued (the resumed metadata's
`gap_ms` tells the AI), and the playout queue restarts empty with the new socket. The 101st
outstanding mark is answered with an `error` frame (`too_many_marks`) and ignored. Close codes
(`yotel.fork.dial`): 1000 call ended, 1001 drain, 4000 violation, 4001 token, 4009 ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Coroutine, Mapping
from typing import Any

from websockets.exceptions import ConnectionClosed

from yotel.aio.scope import ScopeClosed, TaskScope
from yotel.domain.audio import G711_FRAME_BYTES
from yotel.fork import frames
from yotel.fork.connection import PROTOCOL_VIOLATION, GatedConnection
from yotel.fork.dial import ForkConfig, ForkConnectError, dial, redial, send_metadata
from yotel.fork.limits import Admission
from yotel.fork.outbox import RTP_TO_WS, LatencyCallback, Outbox
from yotel.fork.playout import Playout
from yotel.fork.timeline import CallerTimeline, silence_frame
from yotel.fork.tokens import MintToken, Sleep, refresh_tokens

log = logging.getLogger(__name__)
WS_TO_RTP = "ws_to_rtp"  # AI audio received -> its first byte pulled for playout
__all__ = ["RTP_TO_WS", "WS_TO_RTP", "AudioFork", "ForkConfig", "ForkConnectError",
           "LatencyCallback", "MintToken"]


class AudioFork:
    def __init__(self, config: ForkConfig, metadata: Mapping[str, Any], *,
                 on_latency: LatencyCallback | None = None,
                 mint_token: MintToken | None = None, sleep: Sleep = asyncio.sleep) -> None:
        self.config = config
        self._metadata = dict(metadata)
        self._on_latency = on_latency
        self._mint_token = mint_token
        self._sleep = sleep  # the token-refresh timer's clock; tests inject a fake one
        self._silence = silence_frame(config.encoding)
        self.playout = Playout(self._silence)
        self.timeline: CallerTimeline | None = None
        self._ws: GatedConnection | None = None
        self._outbox = Outbox(backlog_frames=config.backlog_frames,
                              text_backlog=config.text_backlog, on_latency=on_latency)
        self._arrivals: deque[tuple[int, float]] = deque()  # (stream byte offset, receive time)
        self._drained: asyncio.Future[None] | None = None
        self._overflow_bytes = 0  # AI audio over the cap not yet reported
        self._overflow_warned_at = float("-inf")
        self._limits_warned_at = float("-inf")  # the last `rate_limited` report
        self._violation: str | None = None  # why we closed the AI with 4000
        self._scope = TaskScope("audio-fork")  # the session reader, the writer, the token timer
        self._closing = False
        self._transferring = False
        self._loop = asyncio.get_running_loop()
        self.outcome: asyncio.Future[str] = self._loop.create_future()
        self.reconnects = 0

    # -- connection --------------------------------------------------------------------------
    async def connect(self) -> None:
        """Open the socket and send metadata; ForkConnectError if that fails."""
        ws = await dial(self.config, self.config.connect_timeout_s)
        try:
            await send_metadata(ws, self._metadata_frame(resumed=False, gap_ms=None))
        except BaseException:  # failed or cancelled (the call ended while ringing)
            ws.transport.abort()
            raise
        self._attach(ws)
        self._spawn(self._session())
        self._spawn(self._outbox.run())
        if self._mint_token is not None and self.config.token_refresh_s:
            self._spawn(refresh_tokens(self._mint_token, self._deliver_token,
                                       every_s=self.config.token_refresh_s, sleep=self._sleep))

    def _metadata_frame(self, *, resumed: bool, gap_ms: int | None) -> frames.Metadata:
        return frames.Metadata(self._metadata, self.config.subprotocol, resumed, gap_ms)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        with contextlib.suppress(ScopeClosed):  # the fork is closed: nothing new starts
            self._scope.spawn(coro)

    @property
    def tasks(self) -> int:
        """The fork's own tasks still running (0 once it has ended)."""
        return self._scope.tasks

    def _attach(self, ws: GatedConnection | None) -> None:
        self._ws = ws
        self._outbox.attach(ws)
        if ws is not None:
            ws.on_gate = self._on_gate

    @property
    def connected(self) -> bool:
        return self._ws is not None

    @property
    def dropped_frames(self) -> int:
        """Caller frames dropped because the AI did not read them in time (§6.3)."""
        return self._outbox.dropped_frames

    @property
    def text_dropped(self) -> int:  # replies to the AI dropped: it did not read them
        return self._outbox.text_dropped

    @property
    def admission(self) -> Admission | None:
        """The current socket's inbound limits and what they dropped (None: no socket)."""
        return self._ws.admission if self._ws is not None else None

    @property
    def violation(self) -> str | None:  # why Yotel closed this AI with 4000 (None: it did not)
        return self._violation

    # -- caller audio (engine -> AI) -----------------------------------------------------------
    def start_audio(self, now: float) -> None:
        """The call was answered: caller frame 0 starts now."""
        self.timeline = CallerTimeline(self._silence, now)

    def push_caller(self, timestamp: int, payload: bytes, now: float) -> None:
        """A caller RTP packet (timestamp, G.711 payload) received at `now`."""
        if self.timeline is not None:
            silence = self._silence
            for frame in self.timeline.push(timestamp, payload, now):
                # Only the packet's own frames feed the rtp_to_ws histogram, not gap fill.
                self.send_caller_frame(frame, -1.0 if frame is silence else now)

    def send_caller_silence(self, frames: int) -> None:
        """`frames` frames of silence in the AI's caller timeline (periods a caller-less feed,
        a conference's mix or a monitor stream, could not send: the clock skipped them)."""
        for _ in range(frames):
            self.send_caller_frame(self._silence)

    def send_caller_frame(self, frame: bytes, enqueued_at: float = -1.0) -> None:
        """Send (or queue) one 160-byte caller frame; never blocks. `enqueued_at` (loop time)
        feeds the rtp_to_ws latency; negative for frames that are not measured (silence)."""
        self._outbox.audio(frame, enqueued_at)

    def tick(self, now: float) -> bytes | None:
        """Once per 20 ms media-clock tick: fill overdue caller slots with silence and return
        the AI frame to play now (None: the AI is silent)."""
        if self.timeline is not None:
            for silence in self.timeline.tick(now):
                self.send_caller_frame(silence)
        ws = self._ws
        if self._overflow_bytes or (ws is not None and ws.admission.has_news):
            self._report(now)
        return self.next_frame(now)

    # -- AI audio (AI -> engine) --------------------------------------------------------------
    def next_frame(self, now: float) -> bytes | None:
        """Pull the AI's next 160-byte frame (None: nothing to play)."""
        frame, marks = self.playout.next_frame()
        for mark in marks:
            self._reply(mark)
        if frame is not None and self._arrivals:
            self._record_playout(now)
        drained = self._drained
        if drained is not None and not self.playout.queue and not drained.done():
            drained.set_result(None)
        return frame

    def fall_behind(self, frames: int) -> int:
        """The media clock skipped `frames` periods of this call: the AI frames dropped to keep
        its playout's delay bounded (fork/playout.py)."""
        dropped, marks = self.playout.fall_behind(frames)
        for mark in marks:
            self._reply(mark)
        return -(-dropped // G711_FRAME_BYTES)

    async def wait_playout_drained(self, timeout_s: float) -> bool:
        """Wait (at most `timeout_s`) until the AI audio already queued has been played by the
        engine's ticks, e.g. the AI's last words before its 1000 close; False on timeout."""
        if not self.playout.queue:
            return True
        if self._drained is None or self._drained.done():
            self._drained = self._loop.create_future()
        try:
            await asyncio.wait_for(asyncio.shield(self._drained), timeout_s)
        except TimeoutError:
            return False
        return True

    def _record_playout(self, now: float) -> None:
        arrivals, played = self._arrivals, self.playout.played
        while arrivals and arrivals[0][0] < played:
            _, received = arrivals.popleft()
            if self._on_latency is not None:
                self._on_latency(WS_TO_RTP, now - received)

    def _ai_audio(self, audio: bytes) -> None:
        start = self.playout.received
        dropped = self.playout.append(audio)
        now = self._loop.time()
        if len(audio) > dropped:
            self._arrivals.append((start, now))
        if dropped:
            self._overflow_bytes += dropped
            self._report(now)

    def _report(self, now: float) -> None:
        # At most one warning of each kind per interval, carrying all dropped since the last,
        # so an AI far over the 60 s cap (§6.4) or a rate is told without one per message.
        interval, ws = self.config.warning_interval_s, self._ws
        if ws is not None and ws.admission.truncated_bytes:  # one message over the 60 s cap
            self._overflow_bytes += ws.admission.truncated_bytes
            ws.admission.truncated_bytes = 0
        if self._overflow_bytes and now - self._overflow_warned_at >= interval:
            self._overflow_warned_at = now
            dropped, self._overflow_bytes = self._overflow_bytes, 0
            self._reply(frames.WarningFrame("playout_overflow", dropped // 8))
        if ws is not None and ws.admission.has_news and now - self._limits_warned_at >= interval:
            self._limits_warned_at = now
            for frame in ws.admission.report():
                self._reply(frame)

    def _ai_text(self, text: str) -> None:
        try:
            command = frames.parse(text)
        except frames.FrameError as exc:  # answered, ignored; the session goes on (§6.5)
            self._reply(frames.ErrorFrame(exc.code, exc.message))
            return
        if isinstance(command, frames.Clear):
            cleared, marks = self.playout.clear()
            self._arrivals.clear()
            for mark in marks:
                self._reply(mark)
            self._reply(cleared)
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
            self._reply(frames.ErrorFrame("too_many_marks", str(exc)))
            return
        for answer in answers:
            self._reply(answer)

    # -- text (Yotel -> AI) -------------------------------------------------------------------
    def _send_text(self, frame: frames.YotelFrame) -> None:
        self._outbox.text(bytes(frame), reply=False)

    def _reply(self, frame: frames.YotelFrame) -> None:
        # Answers to what the AI sent: an AI that floods us while not reading them must not
        # grow memory without bound, so these are the ones given up.
        self._outbox.text(bytes(frame), reply=True)

    def send_dtmf(self, digit: str, duration_ms: int) -> None:
        self._send_text(frames.Dtmf(digit, duration_ms))

    def send_event(self, name: str, data: Mapping[str, Any] | None = None) -> None:
        self._send_text(frames.Event(name, dict(data or {})))

    def send_warning(self, code: str, dropped_ms: int) -> None:
        self._reply(frames.WarningFrame(code, dropped_ms))

    def send_error(self, code: str, message: str) -> None:
        self._reply(frames.ErrorFrame(code, message))

    # -- inbound limits -----------------------------------------------------------------------
    def _on_gate(self) -> None:
        """The socket's gate dropped, cut or refused something (called as it reads)."""
        ws = self._ws
        if ws is None or self._violation is not None:
            return
        now = self._loop.time()
        if ws.gate.violation is not None or ws.admission.abusive(now):
            self._violate(ws, ws.gate.violation or "over the fork's rate limits")
        else:
            self._report(now)

    def _violate(self, ws: GatedConnection, reason: str) -> None:
        """§6.7: close 4000 (protocol violation); never redialled, the call ends
        "ai_disconnected"."""
        self._violation = reason
        log.warning("audio fork: closing the AI with 4000: %s", reason)
        self._reply(frames.ErrorFrame("protocol_violation", reason))
        self._spawn(ws.close(PROTOCOL_VIOLATION, reason[:120]))

    # -- session lifetime ---------------------------------------------------------------------
    async def _session(self) -> None:
        try:
            while True:
                ws = self._ws
                assert ws is not None
                code = await self._read(ws)
                if self._closing or self._transferring:
                    return self._finish("closed")
                if self._violation is not None:  # we closed it 4000, whatever it answered
                    return self._finish("ai_disconnected")
                if code == 1000:
                    return self._finish("ai_hangup")
                # §6.7: never redial after 1000 or a 4xxx close.
                if 4000 <= code < 5000 or not await self._reconnect():
                    return self._finish("ai_disconnected")
        except Exception:  # a bug here must end the session visibly, not hang the call
            log.exception("audio fork session failed")
            self._finish("ai_disconnected")

    async def _read(self, ws: GatedConnection) -> int:
        with contextlib.suppress(ConnectionClosed):
            async for message in ws:
                if isinstance(message, bytes):
                    self._ai_audio(message)
                else:
                    self._ai_text(message)
        return ws.close_code if ws.close_code is not None else 1006

    async def _reconnect(self) -> bool:
        """§6.7: redial with back-off; False when the budget ran out (or we are closing)."""
        self._attach(None)  # what was queued for the dead socket is dropped
        self._new_playout()  # the caller hears silence while the AI is away (§6.7)
        lost_at = self._loop.time()

        def resumed() -> frames.Metadata:
            gap_ms = int((self._loop.time() - lost_at) * 1000)
            return self._metadata_frame(resumed=True, gap_ms=gap_ms)

        ws = await redial(self.config, resumed, lambda: not self._closing)
        if ws is None:
            return False
        self._attach(ws)
        self.reconnects += 1
        return True

    def _new_playout(self) -> None:
        self.playout = Playout(self._silence)
        self._arrivals.clear()
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def _deliver_token(self, token: str, expires_at: str) -> None:
        self._metadata |= {"yotel_callback_token": token, "token_expires_at": expires_at}
        self._send_text(frames.TokenRefresh(token, expires_at))

    def _finish(self, outcome: str) -> None:
        self._attach(None)
        self._scope.cancel_all()  # the writer and the token timer have nothing left to do
        if not self.outcome.done():
            self.outcome.set_result(outcome)

    def begin_transfer(self) -> None:
        """A transfer is under way (§6.5, §8: the AI's leg drops on transfer): from now on the
        AI closing, with 1000 or otherwise, ends the session with outcome "closed" (the call
        goes on) instead of "ai_hangup", and is never redialled."""
        self._transferring = True

    async def wait_closed(self) -> str:
        """Wait until the session ends; its outcome."""
        return await asyncio.shield(self.outcome)

    async def close(self, reason: str = "hangup", code: int = 1000) -> None:
        """Send `stop` with `reason`, close with `code`, and stop the fork's tasks."""
        self._closing = True
        ws, pending = self._ws, self._outbox.take_text()
        self._attach(None)
        if ws is not None:
            pending.append(bytes(frames.Stop(reason)))
            with contextlib.suppress(ConnectionClosed):
                for text in pending:  # a last dtmf or mark answer still goes, then `stop`
                    await ws.send(text, text=True)
            # RFC 6455 §5.5: a control frame's payload (code + reason) is at most 125 bytes.
            await ws.close(code, reason.encode()[:120].decode(errors="ignore"))
        await self._scope.close()
        self._finish("closed")
