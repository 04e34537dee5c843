"""One call: its SIP leg, its AI fork, player, recorder and bridge, and the task group that owns
them all. The per-packet/per-tick audio is `MediaPath` (path.py); this is the lifecycle
(ringing, answer, outcomes), the control verbs and the cleanup.

When the call ends, `_finish` unsubscribes from the clock and closes the scope: the fork (with
`stop` and close 1000), the recorder, the RTP socket, every task.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

from yotel.fork.client import AudioFork, ForkConfig, MintToken
from yotel.media.bridge import Bridge
from yotel.media.clock import MediaClock
from yotel.media.events import CallEnd, CallEvent, outcome_for_status
from yotel.media.leg import Leg
from yotel.media.path import MediaPath, PcmSource
from yotel.media.recorder import RecordingResult, StereoRecorder
from yotel.media.scope import MediaScope
from yotel.media.stats import MediaStats
from yotel.sip.dialog import InviteFailed
from yotel.sip.invite import IncomingInvite, OutgoingInvite

__all__ = ["Call", "CallEnd", "CallEvent", "ForkSpec", "PcmSource", "Runtime",
           "SubprotocolNotOffered", "outcome_for_status"]
log = logging.getLogger(__name__)


class SubprotocolNotOffered(ValueError):  # noqa: N818 - reads as the condition
    """The agent's subprotocol is not one this media node offers (424 upstream)."""


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
    allow_insecure: bool = False  # the node's policy caps every fork's (PRODUCT.md §2)
    subprotocols: tuple[str, ...] = ("audio.drachtio.org", "audio.jambonz.org")


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
        self.media = MediaPath(leg, runtime.stats, self._emit)
        self._pending_fork: ForkSpec | None = None
        self.bridged: Call | None = None
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
        self.media.start()
        if self.fork is not None:
            self.fork.start_audio(now)
        self._tick_token = self._rt.clock.subscribe(self.media.on_tick)

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
        """Connect the AI now (raises ForkConnectError, or SubprotocolNotOffered); caller audio
        flows from answer on."""
        if config.subprotocol not in self._rt.subprotocols:
            raise SubprotocolNotOffered(config.subprotocol)
        if config.allow_insecure and not self._rt.allow_insecure:
            config = replace(config, allow_insecure=False)
        histograms = {"rtp_to_ws": self._rt.stats.rtp_to_ws,
                      "ws_to_rtp": self._rt.stats.ws_to_rtp}
        fork = AudioFork(config, metadata, mint_token=mint_token,
                         on_latency=lambda hop, seconds: histograms[hop].record(seconds))
        await fork.connect()
        if self.state == "ended":
            await fork.close(self.end.outcome if self.end else "hangup")
            raise RuntimeError("the call ended while the fork was connecting")
        self.media.attach_fork(fork, config.encoding)
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

    # -- control -------------------------------------------------------------------------------
    @property
    def fork(self) -> AudioFork | None:
        return self.media.fork

    @property
    def recorder(self) -> StereoRecorder | None:
        return self.media.recorder

    @property
    def held(self) -> bool:
        return self.media.held

    def play(self, source: PcmSource | None) -> None:
        """Play a prompt to the caller (replaces AI audio while it lasts); None stops it."""
        self.media.player = source

    def mute(self, direction: str, muted: bool = True) -> None:
        """direction: 'in' (caller → AI), 'out' (AI/prompts → caller) or 'both'."""
        if direction not in ("in", "out", "both"):
            raise ValueError(f"unknown mute direction {direction!r}")
        self.media.gates.mute(direction, muted)  # type: ignore[arg-type]
        self.media.event_to_ai("mute" if muted else "unmute", {"direction": direction})

    async def hold(self, music: PcmSource | None = None) -> None:
        """RFC 3264 §8.4 hold (re-INVITE a=sendonly) with music on hold."""
        await self.leg.hold()
        self.media.moh, self.media.held = music, True
        self.media.event_to_ai("hold")
        self._emit("hold")

    async def unhold(self) -> None:
        await self.leg.unhold()
        self.media.moh, self.media.held = None, False
        self.media.event_to_ai("unhold")
        self._emit("unhold")

    async def send_dtmf(self, digit: str, duration_ms: int = 200) -> None:
        await self.leg.send_dtmf(digit, duration_ms)

    def start_recording(self, path: Path | None = None) -> StereoRecorder:
        if self.media.recorder is None:
            target = path or self._rt.recordings_dir / f"{self.id}.wav"
            self.media.recorder = StereoRecorder(target)
            self.scope.add(self._finish_recording)
        return self.media.recorder

    async def _finish_recording(self) -> RecordingResult | None:
        recorder, self.media.recorder = self.media.recorder, None
        if recorder is None:
            return None
        result = await recorder.close()
        self._emit("recording_ready", path=str(result.path), duration_s=result.duration_s)
        return result

    def bridge(self, other: Call) -> None:
        """Relay audio both ways between two answered calls (B2BUA); the AI stops hearing."""
        self.unbridge()
        other.unbridge()
        bridge = Bridge(self.leg, other.leg)  # relays on arrival, transcodes across laws
        self.bridged, other.bridged = other, self
        self.media.bridge, other.media.bridge = (bridge, "a"), (bridge, "b")

    def unbridge(self) -> None:
        peer, self.bridged = self.bridged, None
        if self.media.bridge is not None:
            self.media.bridge[0].close()
            self.media.bridge = None
        if peer is not None:
            peer.bridged, peer.media.bridge = None, None

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
        peer = self.bridged
        self.unbridge()
        if peer is not None:
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
