"""One call: its SIP leg, its AI fork, player, recorder and bridge, and the task group that owns
them all.

Media paths (docs/media.md):
- caller RTP → `_on_audio` → fork timeline → WebSocket, at once (no clock in that path);
- each 20 ms clock tick → `_on_tick`: caller-gap silence to the AI, then ONE frame to the caller
  (music on hold > prompt > AI playout > silence), and one stereo frame to the recorder;
- a bridged peer's RTP is relayed on arrival (transcoded when the laws differ).
When the call ends, `_finish` unsubscribes from the clock and closes the scope: the fork (with
`stop` and close 1000), the recorder, the RTP socket, every task.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from yotel.fork.client import AudioFork, ForkConfig, MintToken
from yotel.media.clock import MediaClock
from yotel.media.events import CallEnd, CallEvent, outcome_for_status
from yotel.media.leg import Leg
from yotel.media.recorder import RecordingResult, StereoRecorder
from yotel.media.reframe import Reframer
from yotel.media.scope import MediaScope
from yotel.media.stats import MediaStats
from yotel.rtp import g711
from yotel.sip.dialog import InviteFailed
from yotel.sip.invite import IncomingInvite, OutgoingInvite

__all__ = ["Call", "CallEnd", "CallEvent", "ForkSpec", "PcmSource", "Runtime",
           "outcome_for_status"]
log = logging.getLogger(__name__)
RECORDER_BACKLOG = 10  # caller frames kept for the recorder between ticks (jitter)


class PcmSource(Protocol):
    """A prompt or music on hold: 20 ms of 8 kHz int16 PCM per call, None when finished."""

    def read_frame(self) -> bytes | None: ...


class ForkSpec(NamedTuple):
    """What `originate(fork=...)` opens at ringing: the agent's fork config, the §6.2 metadata,
    and for `30min_with_refresh` agents the callback that mints the next token."""

    config: ForkConfig
    metadata: dict[str, Any]
    mint_token: MintToken | None = None


@dataclass
class Runtime:
    """What a call borrows from its engine."""

    clock: MediaClock
    stats: MediaStats
    recordings_dir: Path
    forget: Callable[[Call], None]
    spawn: Callable[[Coroutine[Any, Any, Any]], None]  # engine-owned: outlives the call's scope


class Call:
    def __init__(self, runtime: Runtime, leg: Leg, *, direction: str, from_uri: str,
                 to_uri: str, call_id: str | None = None) -> None:
        self.id = call_id or str(uuid.uuid4())
        self.direction = direction
        self.from_uri, self.to_uri = from_uri, to_uri
        self.leg = leg
        self._rt = runtime
        self._loop = asyncio.get_running_loop()
        self.scope = MediaScope(f"call-{self.id[:8]}", on_failure=self._task_failed)
        self.scope.add(leg.close)
        self.state = "new"  # new | ringing | answered | ended
        self.answered_at: float | None = None
        self.end: CallEnd | None = None
        self.ended: asyncio.Future[CallEnd] = self._loop.create_future()
        self.answered = asyncio.Event()
        self.fork: AudioFork | None = None
        self._pending_fork: ForkSpec | None = None
        self.player: PcmSource | None = None
        self._moh: PcmSource | None = None
        self.recorder: StereoRecorder | None = None
        self.muted_in = self.muted_out = False  # caller→AI, AI/prompts→caller
        self.held = False
        self.bridged: Call | None = None
        self._caller_frames: deque[bytes] = deque(maxlen=RECORDER_BACKLOG)
        self._reframer = Reframer()
        self._fork_encoding = leg.encoding
        self._silence = g711.silence(leg.encoding)
        self._tick_token: int | None = None
        self._fork_close_code = 1000  # §6.7: 1001 when the node drains
        self._listeners: list[Callable[[CallEvent], None]] = []
        self.incoming: IncomingInvite | None = None
        self.outgoing: OutgoingInvite | None = None
        leg.on_ended = self._leg_ended
        leg.on_remote_hold = lambda held: self._emit("remote_hold", held=held)

    # -- events -----------------------------------------------------------------------------
    def subscribe(self, listener: Callable[[CallEvent], None]) -> None:
        self._listeners.append(listener)

    def _emit(self, kind: str, **data: Any) -> None:
        event = CallEvent(kind, self.id, data)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("call event listener failed")

    async def wait_ended(self, timeout: float | None = None) -> CallEnd:  # noqa: ASYNC109
        return await asyncio.wait_for(asyncio.shield(self.ended), timeout)

    # -- outbound progress (driven by the engine) ----------------------------------------------
    def on_provisional(self, status: int) -> None:
        if 180 <= status < 190 and self.state == "new":
            self.state = "ringing"
            self._emit("ringing", status=status)
            self._open_pending_fork()  # PRODUCT.md §6.1: the AI is warm at answer

    async def run_outbound(self, outgoing: OutgoingInvite, timeout_s: float) -> None:
        self.outgoing = outgoing
        try:
            dialog = await outgoing.wait_answer(timeout=timeout_s)
        except InviteFailed as exc:
            await self._finish(outcome_for_status(exc.status), exc.status, exc.reason)
            return
        self.leg.attach(dialog)
        try:
            self.leg.accept_answer(dialog.remote_sdp or b"")
        except ValueError as exc:  # no usable answer: we cannot carry media
            await self.leg.hangup()
            await self._finish("failed", 200, f"bad SDP answer: {exc}")
            return
        self._answered()

    # -- inbound (driven by the flow's handler) --------------------------------------------------
    async def ringing(self) -> None:
        if self.incoming is not None and self.state == "new":
            self.state = "ringing"
            await self.incoming.ringing()
            self._emit("ringing", status=180)

    async def answer(self) -> None:
        """200 OK with our answer (or our offer, for an offerless INVITE)."""
        if self.incoming is None or self.state in ("answered", "ended"):
            return
        sdp = self.leg.local if self.leg.local is not None else None
        body = bytes(sdp) if sdp is not None else self.leg.offer()
        if self.incoming.offer is not None:
            # The 200 leaves synchronously inside accept(): media starts with it, so caller RTP
            # sent as soon as the 200 arrives is not lost while we wait for the ACK.
            self._start_media()
        try:
            dialog = await self.incoming.accept(body)
        except InviteFailed as exc:
            await self._finish("caller_hangup" if exc.status == 487 else "failed", exc.status,
                               exc.reason)
            return
        self.leg.attach(dialog)
        if self.incoming.offer is None:  # §13.2.1: the answer came in the ACK
            self.leg.accept_answer(dialog.remote_sdp or b"")
        self._answered()

    async def reject(self, status: int = 486) -> None:
        if self.incoming is not None and self.state not in ("answered", "ended"):
            await self.incoming.reject(status)
            await self._finish("failed" if status >= 500 else "hangup", status, "rejected")

    async def watch_cancel(self) -> None:
        assert self.incoming is not None
        await self.incoming.cancelled.wait()
        if self.state != "answered":
            await self._finish("caller_hangup", 487, "caller cancelled")

    def _start_media(self) -> None:
        """Caller audio and the clock start at answer (PRODUCT.md §6.1, §6.3)."""
        if self._tick_token is not None:
            return
        self.answered_at = now = self._loop.time()
        self._silence = g711.silence(self.leg.encoding)
        session = self.leg.session
        session.on_audio = self._on_audio
        session.on_dtmf = self._on_dtmf
        if self.fork is not None:
            self.fork.start_audio(now)
        self._tick_token = self._rt.clock.subscribe(self._on_tick)

    def _answered(self) -> None:
        if self.state == "ended":
            return
        self.state = "answered"
        self._start_media()
        self.answered.set()
        self._emit("answered")
        self._open_pending_fork()

    # -- the AI fork -------------------------------------------------------------------------
    def prepare_fork(self, config: ForkConfig, metadata: dict[str, Any], *,
                     mint_token: MintToken | None = None) -> None:
        """Open this fork when the call rings (or answers without ringing)."""
        self._pending_fork = ForkSpec(config, metadata, mint_token)
        if self.state in ("ringing", "answered"):
            self._open_pending_fork()

    def _open_pending_fork(self) -> None:
        if self._pending_fork is not None and self.fork is None and self.state != "ended":
            spec, self._pending_fork = self._pending_fork, None
            self.scope.spawn(self._connect_or_end(spec), name="fork-connect")

    async def _connect_or_end(self, spec: ForkSpec) -> None:
        try:
            await self.attach_fork(spec.config, spec.metadata, mint_token=spec.mint_token)
        except Exception as exc:  # ForkConnectError or SSRF refusal: no AI, no call
            log.warning("call %s: audio fork failed to open: %s", self.id, exc)
            await self.hangup("ai_disconnected", reason=f"fork connect failed: {exc}")

    async def attach_fork(self, config: ForkConfig, metadata: dict[str, Any], *,
                          mint_token: MintToken | None = None) -> AudioFork:
        """Connect the AI now (raises ForkConnectError); caller audio flows from answer on."""
        histograms = {"rtp_to_ws": self._rt.stats.rtp_to_ws,
                      "ws_to_rtp": self._rt.stats.ws_to_rtp}
        fork = AudioFork(config, metadata, mint_token=mint_token,
                         on_latency=lambda hop, seconds: histograms[hop].record(seconds))
        await fork.connect()
        if self.state == "ended":
            await fork.close(self.end.outcome if self.end else "hangup")
            raise RuntimeError("the call ended while the fork was connecting")
        self.fork, self._fork_encoding = fork, config.encoding
        self.scope.add(lambda: fork.close(self._stop_reason(), self._fork_close_code))
        if self.answered_at is not None:
            fork.start_audio(self.answered_at)
        self.scope.spawn(self._watch_fork(fork), name="fork-watch")
        return fork

    async def _watch_fork(self, fork: AudioFork) -> None:
        outcome = await fork.outcome
        if self.state == "ended" or outcome == "closed":
            return
        # PRODUCT.md §6.7: a 1000 close is the AI hanging up; a lost AI ends the call.
        await self.hangup("hangup" if outcome == "ai_hangup" else "ai_disconnected",
                          reason=outcome)

    def _stop_reason(self) -> str:
        return self.end.outcome if self.end is not None else "hangup"

    # -- media paths ---------------------------------------------------------------------------
    def _on_audio(self, payload: bytes, timestamp: int, _sequence: int) -> None:
        packets = self._rt.stats.packets
        packets.rtp_in += 1
        peer = self.bridged
        if peer is not None and not self.muted_in:
            peer.leg.send_frame(g711.transcode(payload, self.leg.encoding, peer.leg.encoding))
        if self.muted_in:
            payload = self._silence
        fork, now = self.fork, self._loop.time()
        for ts, frame in self._reframer.push(timestamp, payload):
            if fork is not None:
                fork.push_caller(ts, self._to_ai(frame), now)
            if self.recorder is not None:
                self._caller_frames.append(frame)

    def _to_ai(self, frame: bytes) -> bytes:
        # The leg's law is negotiated with the peer; the AI gets its agent's (§6.3).
        if self._fork_encoding == self.leg.encoding:
            return frame
        return g711.transcode(frame, self.leg.encoding, self._fork_encoding)

    def _on_dtmf(self, digit: str, duration_ms: int) -> None:
        if self.fork is not None:
            self.fork.send_dtmf(digit, duration_ms)
        self._emit("dtmf", digit=digit, duration_ms=duration_ms)

    def _on_tick(self, now: float) -> None:
        fork = self.fork
        ai = fork.tick(now) if fork is not None else None
        if ai is not None and self._fork_encoding != self.leg.encoding:
            ai = g711.transcode(ai, self._fork_encoding, self.leg.encoding)
        frame = self._next_outgoing(ai)
        if frame is not None:
            self.leg.send_frame(frame)
            if frame is ai:
                self._rt.stats.packets.ai_frames_played += 1
            self._rt.stats.packets.rtp_out += 1
        if self.recorder is not None:
            caller = self._caller_frames.popleft() if self._caller_frames else None
            self.recorder.write(g711.decode(caller, self.leg.encoding) if caller else None,
                                g711.decode(ai, self.leg.encoding) if ai else None)

    def _next_outgoing(self, ai: bytes | None) -> bytes | None:
        """Music on hold > prompt > bridged peer (relayed on arrival: None) > AI > silence."""
        if self.held:
            return self._from_source(self._moh) or self._silence
        if self.player is not None:
            pcm = self.player.read_frame()
            if pcm is not None:
                return self._silence if self.muted_out else g711.encode(pcm, self.leg.encoding)
            self.player = None
            self._emit("play_finished")
        if self.bridged is not None:
            return None
        if ai is None or self.muted_out:
            return self._silence  # keeps the caller's jitter buffer and NAT binding alive
        return ai

    def _from_source(self, source: PcmSource | None) -> bytes | None:
        pcm = source.read_frame() if source is not None else None
        return g711.encode(pcm, self.leg.encoding) if pcm is not None else None

    # -- control -------------------------------------------------------------------------------
    def play(self, source: PcmSource) -> None:
        """Play a prompt to the caller (replaces AI audio while it lasts)."""
        self.player = source

    def stop_playing(self) -> None:
        self.player = None

    def mute(self, direction: str, muted: bool = True) -> None:
        """direction: 'in' (caller → AI), 'out' (AI/prompts → caller) or 'both'."""
        if direction not in ("in", "out", "both"):
            raise ValueError(f"unknown mute direction {direction!r}")
        if direction in ("in", "both"):
            self.muted_in = muted
        if direction in ("out", "both"):
            self.muted_out = muted
        if self.fork is not None:
            self.fork.send_event("mute" if muted else "unmute", {"direction": direction})

    async def hold(self, music: PcmSource | None = None) -> None:
        """RFC 3264 §8.4 hold (re-INVITE a=sendonly) with music on hold."""
        await self.leg.hold()
        self._moh, self.held = music, True
        if self.fork is not None:
            self.fork.send_event("hold")
        self._emit("hold")

    async def unhold(self) -> None:
        await self.leg.unhold()
        self._moh, self.held = None, False
        if self.fork is not None:
            self.fork.send_event("unhold")
        self._emit("unhold")

    async def send_dtmf(self, digit: str, duration_ms: int = 200) -> None:
        await self.leg.send_dtmf(digit, duration_ms)

    def start_recording(self, path: Path | None = None) -> StereoRecorder:
        if self.recorder is None:
            target = path or self._rt.recordings_dir / f"{self.id}.wav"
            recorder = StereoRecorder(target)
            self.recorder = recorder
            self.scope.add(self._finish_recording)
        return self.recorder

    async def _finish_recording(self) -> RecordingResult | None:
        recorder, self.recorder = self.recorder, None
        if recorder is None:
            return None
        result = await recorder.close()
        self._emit("recording_ready", path=str(result.path), duration_s=result.duration_s)
        return result

    def bridge(self, other: Call) -> None:
        """Relay audio both ways between two answered calls (B2BUA); the AI stops hearing."""
        self.bridged, other.bridged = other, self

    def unbridge(self) -> None:
        if self.bridged is not None:
            self.bridged.bridged = None
            self.bridged = None

    async def hangup(self, outcome: str = "hangup", *, reason: str = "",
                     fork_close_code: int = 1000) -> None:
        """End the call: BYE when answered, CANCEL while ringing out, 480 while ringing in."""
        if self.state == "ended":
            return
        self._fork_close_code = fork_close_code
        if self.state == "answered":
            # Our own BYE must not read as the caller's: detach first. The BYE transaction
            # runs on the engine (it may wait for a slow peer); the media ends now.
            self.leg.on_ended = None
            self._rt.spawn(self.leg.hangup())
        elif self.outgoing is not None:
            self._rt.spawn(_cancel(self.outgoing))
        elif self.incoming is not None:
            if self.incoming.dialog is not None:  # our 200 is out, the ACK not yet in
                self.leg.on_ended = None
                self._rt.spawn(self.incoming.dialog.bye())
            else:
                await self.incoming.reject(480)
        await self._finish(outcome, None, reason)

    # -- the end ---------------------------------------------------------------------------------
    def _leg_ended(self, reason: str) -> None:
        if self.state != "ended":
            outcome = "caller_hangup" if reason == "remote_bye" else "hangup"
            self.scope.spawn(self._finish(outcome, None, reason), name="leg-ended")

    def _task_failed(self, error: BaseException) -> None:
        if self.state != "ended":
            self._rt.spawn(self.hangup("failed", reason=f"internal error: {error!r}"))

    async def _finish(self, outcome: str, status: int | None, reason: str) -> None:
        if self.state == "ended":
            return
        self.state = "ended"
        self.end = CallEnd(outcome, status, reason)
        if self._tick_token is not None:
            self._rt.clock.unsubscribe(self._tick_token)
        peer, self.bridged = self.bridged, None
        if peer is not None:
            peer.bridged = None
            peer._emit("bridge_ended", peer_call_id=self.id, outcome=outcome)
        self.answered.set()  # wake anyone waiting for an answer that will not come
        await self.scope.close()
        self._rt.forget(self)
        if not self.ended.done():
            self.ended.set_result(self.end)
        self._emit("ended", outcome=outcome, sip_status=status, reason=reason)


async def _cancel(outgoing: OutgoingInvite) -> None:
    """CANCEL (RFC 3261 §9.1); if a 200 crossed it, the call exists after all: BYE it."""
    await outgoing.cancel()
    try:
        dialog = await outgoing.wait_answer(timeout=32.0)  # 64*T1: the INVITE's lifetime
    except InviteFailed:
        return
    await dialog.bye()
