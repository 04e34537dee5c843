"""One call's audio path: what happens on each caller packet and on each clock tick.

- caller RTP → `on_audio` → mute gate → 20 ms re-framing → the AI's fork (sent at once; no
  clock in that path) and the `said` buffer the tick reads; a bridged peer that relays gets the
  payload on arrival too.
- each 20 ms tick → `pull` (what the caller said this tick, the AI's next frame) then `push`
  (the caller's `Output` picks and mixes its sources; taps see both sides). A solo call does both
  in its own tick; in a conference the conference's tick does them for every member at once.
The call owns the lifecycle; this owns no socket and no task.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from yotel.domain.audio import G711_FRAME_BYTES, Encoding, as_encoding
from yotel.fork.client import AudioFork
from yotel.media.bridge import Bridge, Side
from yotel.media.clock import Cadence
from yotel.media.gates import MuteGate
from yotel.media.leg import Leg
from yotel.media.reframe import Reframer
from yotel.media.routing import Audio, Output
from yotel.media.stats import MediaStats
from yotel.media.taps import Tap
from yotel.rtp import g711

if TYPE_CHECKING:
    from yotel.media.conference import Conference

SAID_BACKLOG = 10  # caller frames kept between ticks (arrival jitter), oldest dropped beyond
Emit = Callable[..., None]


class MediaPath:
    def __init__(self, leg: Leg, stats: MediaStats, emit: Emit) -> None:
        self.leg = leg
        self._stats = stats
        self._emit = emit
        self._loop = asyncio.get_running_loop()
        self.law: Encoding = as_encoding(leg.encoding)
        self.out = Output(self.law, self._source_finished)
        self.caller_gate = MuteGate(self.law)  # "mute caller": nobody hears the caller
        self.fork: AudioFork | None = None
        self.fork_law: Encoding = self.law
        self.bridge: tuple[Bridge, Side] | None = None
        self.peer: MediaPath | None = None
        self.conference: Conference | None = None
        self.taps: dict[str, Tap] = {}
        self.said: deque[bytes] = deque(maxlen=SAID_BACKLOG)
        self.last_said: Audio | None = None  # what the caller said in the latest tick
        self._reframer = Reframer()
        self._cadence = Cadence()

    def start(self) -> None:
        """Answered: the law is now negotiated; caller packets and digits come here."""
        self.law = self.out.law = as_encoding(self.leg.encoding)
        self.caller_gate = _regated(self.caller_gate, self.law)
        session = self.leg.session
        session.on_audio = self.on_audio
        session.on_dtmf = self.on_dtmf

    def attach_fork(self, fork: AudioFork | None) -> None:
        self.fork = fork
        if fork is not None:
            self.fork_law = as_encoding(fork.config.encoding)

    # -- a bridged leg (FrameSink for Bridge) --------------------------------------------------
    @property
    def encoding(self) -> str:
        return self.law

    def send_frame(self, payload: bytes) -> None:
        """A bridged peer's packet, relayed on arrival unless our output must mix or cover it."""
        if self.out.relays_peer:
            self.leg.send_frame(payload)

    # -- caller → AI (on arrival) --------------------------------------------------------------
    def on_audio(self, payload: bytes, timestamp: int, _sequence: int) -> None:
        self._stats.packets.rtp_in += 1
        payload = self.caller_gate.apply(payload)
        if self.bridge is not None:
            bridge, side = self.bridge
            bridge.forward(side, payload)
        if len(payload) == G711_FRAME_BYTES and self._reframer.idle:  # common: no list, no copy
            self._caller_frame(timestamp, payload, self._loop.time())
            return
        now = self._loop.time()
        for ts, frame in self._reframer.push(timestamp, payload):
            self._caller_frame(ts, frame, now)

    def _caller_frame(self, timestamp: int, frame: bytes, now: float) -> None:
        self.said.append(frame)
        fork = self.fork
        if fork is not None and self.conference is None:  # in a conference the AI hears the mix
            fork.push_caller(timestamp, self._to_ai(frame), now)

    def _to_ai(self, frame: bytes) -> bytes:
        # The leg's law is negotiated with the peer; the AI gets its agent's (§6.3).
        if self.fork_law == self.law:
            return frame
        return g711.transcode(frame, self.law, self.fork_law)

    def on_dtmf(self, digit: str, duration_ms: int) -> None:
        if self.fork is not None:
            self.fork.send_dtmf(digit, duration_ms)
        self._emit("dtmf", digit=digit, duration_ms=duration_ms)

    # -- the tick --------------------------------------------------------------------------------
    def on_tick(self, now: float) -> None:
        """A solo call's tick (the conference ticks its members itself)."""
        self.catch_up(now)
        ai = self.pull(now)
        peer = self.peer
        if peer is None:
            self.push(ai, None, caller=self.last_said, other=ai)
            return
        # A bridged peer is relayed on arrival; only when our output must mix it (a whisper)
        # or covers it does the tick take its frame.
        heard = None if self.out.relays_peer else peer.last_said
        self.push(ai, heard, caller=self.last_said, other=peer.last_said)

    def catch_up(self, due: float) -> int:
        """Before a tick's work: periods the clock skipped since this path's previous tick
        (a stalled loop) are covered, and counted in the return. Our RTP timestamp advances
        over them, and the taps are told, so the recording gets their silence: its timeline
        stays the call's; the AI's queued audio is kept at most MAX_LATE_MS late. (A solo
        call's fork fills its caller timeline by the wall clock.)"""
        missed = self._cadence.missed(due)
        if missed:
            self.leg.session.skip(missed * G711_FRAME_BYTES)
            for observer in self.taps.values():
                observer.on_skipped(missed)
            if self.fork is not None:  # the AI's voice: a bounded delay, not a growing one
                self._stats.packets.ai_frames_dropped_late += self.fork.fall_behind(missed)
        return missed

    def pull(self, now: float) -> Audio | None:
        """Take this tick's caller frame (into `last_said`) and the AI's next frame."""
        frame = self.said.popleft() if self.said else None
        self.last_said = Audio(frame, self.law) if frame is not None else None
        fork = self.fork
        if fork is None:
            return None
        # In a conference the timeline is fed the mix, so its own gap fill must not run.
        ai = fork.tick(now) if self.conference is None else fork.next_frame(now)
        return Audio(ai, self.fork_law) if ai is not None else None

    def push(self, ai: Audio | None, peer: Audio | None, *, caller: Audio | None,
             other: Audio | None, tap: bool = True) -> None:
        """Send the caller this tick's frame and show both sides to the taps."""
        frame = self.out.frame(ai, peer)
        if frame is not None:
            self.leg.send_frame(frame)
            if ai is not None and frame is ai.data:
                self._stats.packets.ai_frames_played += 1
            self._stats.packets.rtp_out += 1
        if tap:
            for observer in self.taps.values():
                observer.on_tick(caller, other)

    def release(self) -> None:
        """The call ended: drop what points back at it (its events, its output's callback, a
        conference, the taps). The fork and a bridge were let go already (ForkSlot.close,
        CallVerbs.unbridge)."""
        self._emit = _ignore
        self.out.release()
        self.conference = None
        self.taps.clear()

    def feed_ai(self, pcm: bytes) -> None:
        """A conference's mix for the AI (everyone but itself), as its caller audio."""
        if self.fork is not None:
            self.fork.send_caller_frame(g711.encode(pcm, self.fork_law))

    def feed_ai_silence(self, ticks: int) -> None:
        """`ticks` skipped periods of a conference: silence in the AI's caller timeline."""
        if self.fork is not None:
            self.fork.send_caller_silence(ticks)

    # -- events --------------------------------------------------------------------------------
    def _source_finished(self, what: str, key: str) -> None:
        self._emit("play_finished" if what == "prompt" else "whisper_finished", key=key)

    def event_to_ai(self, name: str, data: dict[str, Any] | None = None) -> None:
        if self.fork is not None:
            self.fork.send_event(name, data)


def _ignore(*_args: Any, **_data: Any) -> None:
    """An ended call's events go nowhere."""


def _regated(gate: MuteGate, law: Encoding) -> MuteGate:
    fresh = MuteGate(law)
    fresh.muted = gate.muted
    return fresh
