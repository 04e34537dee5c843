"""One call's audio path: what happens on each caller packet and on each clock tick.

- caller RTP → `on_audio` → 20 ms re-framing → fork (sent at once; no clock in that path) and the
  recorder's caller buffer; a bridged peer gets the payload on arrival;
- each 20 ms tick → `on_tick`: the fork fills caller gaps and yields the AI's next frame; ONE
  frame goes to the caller (music on hold > prompt > bridged: nothing > AI > silence); the
  recorder gets the caller frame and the AI frame of that tick.
The call owns the lifecycle; this owns no socket and no task.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from yotel.fork.client import AudioFork
from yotel.media.bridge import Bridge, Side
from yotel.media.gates import CallGates
from yotel.media.leg import Leg
from yotel.media.recorder import StereoRecorder
from yotel.media.reframe import FRAME, Reframer
from yotel.media.stats import MediaStats
from yotel.rtp import g711

RECORDER_BACKLOG = 10  # caller frames kept for the recorder between ticks (jitter)
Emit = Callable[..., None]


class PcmSource(Protocol):
    """A prompt or music on hold: 20 ms of 8 kHz int16 PCM per call, None when finished."""

    def read_frame(self) -> bytes | None: ...


class MediaPath:
    def __init__(self, leg: Leg, stats: MediaStats, emit: Emit) -> None:
        self.leg = leg
        self._stats = stats
        self._emit = emit
        self._loop = asyncio.get_running_loop()
        self.fork: AudioFork | None = None
        self.fork_encoding = leg.encoding
        self.player: PcmSource | None = None
        self.moh: PcmSource | None = None
        self.recorder: StereoRecorder | None = None
        self.gates = CallGates(leg.encoding, leg.encoding)  # type: ignore[arg-type]
        self.held = False
        self.bridge: tuple[Bridge, Side] | None = None
        self.caller_frames: deque[bytes] = deque(maxlen=RECORDER_BACKLOG)
        self._reframer = Reframer()
        self.silence = g711.silence(leg.encoding)

    def start(self) -> None:
        """Answered: the law is now negotiated; caller packets and digits come here."""
        self.silence = g711.silence(self.leg.encoding)
        gates, law = self.gates, self.leg.encoding
        self.gates = CallGates(law, law)  # type: ignore[arg-type]
        self.gates.mute("in", gates.is_muted("in"))
        self.gates.mute("out", gates.is_muted("out"))
        session = self.leg.session
        session.on_audio = self.on_audio
        session.on_dtmf = self.on_dtmf

    def attach_fork(self, fork: AudioFork, encoding: str) -> None:
        self.fork, self.fork_encoding = fork, encoding

    # -- caller → AI (on arrival) --------------------------------------------------------------
    def on_audio(self, payload: bytes, timestamp: int, _sequence: int) -> None:
        self._stats.packets.rtp_in += 1
        payload = self.gates.inbound.apply(payload)
        if self.bridge is not None:
            bridge, side = self.bridge
            bridge.forward(side, payload)
        if len(payload) == FRAME and self._reframer.idle:  # the common case: no list, no copy
            self._caller_frame(timestamp, payload, self._loop.time())
            return
        now = self._loop.time()
        for ts, frame in self._reframer.push(timestamp, payload):
            self._caller_frame(ts, frame, now)

    def _caller_frame(self, timestamp: int, frame: bytes, now: float) -> None:
        fork = self.fork
        if fork is not None:
            fork.push_caller(timestamp, self._to_ai(frame), now)
        if self.recorder is not None:
            self.caller_frames.append(frame)

    def _to_ai(self, frame: bytes) -> bytes:
        # The leg's law is negotiated with the peer; the AI gets its agent's (§6.3).
        if self.fork_encoding == self.leg.encoding:
            return frame
        return g711.transcode(frame, self.leg.encoding, self.fork_encoding)

    def on_dtmf(self, digit: str, duration_ms: int) -> None:
        if self.fork is not None:
            self.fork.send_dtmf(digit, duration_ms)
        self._emit("dtmf", digit=digit, duration_ms=duration_ms)

    # -- the tick: → caller, → recorder -----------------------------------------------------------
    def on_tick(self, now: float) -> None:
        fork = self.fork
        ai = fork.tick(now) if fork is not None else None
        if ai is not None and self.fork_encoding != self.leg.encoding:
            ai = g711.transcode(ai, self.fork_encoding, self.leg.encoding)
        frame = self._next_outgoing(ai)
        if frame is not None:
            self.leg.send_frame(self.gates.outbound.apply(frame))
            if frame is ai:
                self._stats.packets.ai_frames_played += 1
            self._stats.packets.rtp_out += 1
        if self.recorder is not None:
            caller = self.caller_frames.popleft() if self.caller_frames else None
            self.recorder.write(g711.decode(caller, self.leg.encoding) if caller else None,
                                g711.decode(ai, self.leg.encoding) if ai else None)

    def _next_outgoing(self, ai: bytes | None) -> bytes | None:
        """Music on hold > prompt > bridged peer (relayed on arrival: None) > AI > silence."""
        if self.held:
            return self._from_source(self.moh) or self.silence
        if self.player is not None:
            pcm = self.player.read_frame()
            if pcm is not None:
                return g711.encode(pcm, self.leg.encoding)
            self.player = None
            self._emit("play_finished")
        if self.bridge is not None:
            return None
        # Silence when the AI is quiet keeps the caller's jitter buffer and NAT binding alive.
        return self.silence if ai is None else ai

    def _from_source(self, source: PcmSource | None) -> bytes | None:
        pcm = source.read_frame() if source is not None else None
        return g711.encode(pcm, self.leg.encoding) if pcm is not None else None

    def event_to_ai(self, name: str, data: dict[str, Any] | None = None) -> None:
        if self.fork is not None:
            self.fork.send_event(name, data)
