"""`Outbox`: Yotel → AI frames of one fork session, in order.

While the socket keeps up (nothing queued, the transport under its high-water mark), a frame
is written straight through (`GatedConnection.write_now`): no task wake-up per frame. Under
back-pressure frames wait in two bounded queues drained by one writer task, text first:

- caller audio: at most `backlog_frames` (500 ms, PRODUCT.md §6.3); beyond, the oldest is
  dropped and the writer sends one `warning` (`caller_audio_dropped`, `dropped_ms`) before the
  next audio frame;
- text: replies to the AI (mark answers, `cleared`, `error`, `warning`) are dropped once
  `text_backlog` frames wait (an AI that floods us and does not read gets no unbounded
  memory); Yotel's own frames (dtmf, event, token_refresh) always queue.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from websockets.exceptions import ConnectionClosed

from yotel.fork import frames
from yotel.fork.connection import GatedConnection

LatencyCallback = Callable[[str, float], None]
RTP_TO_WS = "rtp_to_ws"  # caller frame handed to the fork -> written to the socket


class Outbox:
    def __init__(self, *, backlog_frames: int, text_backlog: int,
                 on_latency: LatencyCallback | None) -> None:
        self.ws: GatedConnection | None = None
        self.backlog_frames = backlog_frames
        self.text_backlog = text_backlog
        self._on_latency = on_latency
        self._audio: deque[tuple[bytes, float]] = deque()  # (frame, enqueued at; <0: silence)
        self._text: deque[bytes] = deque()
        self._backlog_dropped = 0  # frames dropped since the last warning
        self._wakeup = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self.dropped_frames = 0
        self.text_dropped = 0
        self.written_through = 0
        self.queued = 0

    def attach(self, ws: GatedConnection | None) -> None:
        """A new socket (None: none; what waits for the old one is dropped)."""
        self.ws = ws
        self._audio.clear()
        self._text.clear()

    def audio(self, frame: bytes, enqueued_at: float) -> None:
        ws = self.ws
        if ws is None:
            return
        audio = self._audio
        if not audio and not self._text and ws.write_now(frame):
            self.written_through += 1
            if enqueued_at >= 0 and self._on_latency is not None:
                self._on_latency(RTP_TO_WS, self._loop.time() - enqueued_at)
            return
        audio.append((frame, enqueued_at))
        self.queued += 1
        if len(audio) > self.backlog_frames:
            audio.popleft()  # §6.3: a slow AI loses the oldest audio, not the newest
            self.dropped_frames += 1
            self._backlog_dropped += 1
        self._wakeup.set()

    def text(self, data: bytes, *, reply: bool) -> None:
        ws = self.ws
        if ws is None:
            return
        text = self._text
        if not text and not self._audio and ws.write_now(data, text=True):
            self.written_through += 1
            return
        if reply and len(text) >= self.text_backlog:
            self.text_dropped += 1
            return
        text.append(data)
        self.queued += 1
        self._wakeup.set()

    def take_text(self) -> list[bytes]:
        """What text still waits (for `close`, which sends it before `stop`)."""
        pending = list(self._text)
        self._text.clear()
        return pending

    async def run(self) -> None:
        """The writer task: drains the queues whenever something was queued."""
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            ws = self.ws
            if ws is None:
                self.attach(None)
                continue
            try:
                await self._drain(ws)
            except ConnectionClosed:
                self._audio.clear()  # the session task decides what happens next
                self._text.clear()

    async def _drain(self, ws: GatedConnection) -> None:
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
