"""One call: its SIP leg, its audio path, its AI fork slot, its taps, and the task group that
owns them all. This module is the lifecycle (ringing, answer, outcomes, cleanup); the verbs that
change what the parties hear are in `CallVerbs` (verbs.py), conferencing in `Conferencing`.

When the call ends, `_finish` unsubscribes from the clock and closes the scope: the fork (with
`stop` and close 1000), the recorder, the RTP socket, every task.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from typing import Any, NamedTuple

from yotel.aio.scope import TaskScope
from yotel.fork.client import AudioFork, ForkConfig, MintToken
from yotel.media.conferencing import Conferencing
from yotel.media.errors import CallEnded, LegNotReady, SubprotocolNotOffered
from yotel.media.events import (
    CallEnd,
    CallEvent,
    CallState,
    EventKind,
    Outcome,
    outcome_for_status,
)
from yotel.media.fork_slot import ForkSlot
from yotel.media.leg import Leg
from yotel.media.path import MediaPath
from yotel.media.routing import PcmSource
from yotel.media.runtime import Runtime
from yotel.sip.dialog import InviteFailed
from yotel.sip.invite import IncomingInvite, OutgoingInvite

__all__ = ["Call", "CallEnd", "CallEvent", "ForkSpec", "PcmSource", "Runtime",
           "SubprotocolNotOffered", "outcome_for_status"]
log = logging.getLogger(__name__)


class ForkSpec(NamedTuple):
    """What `originate(fork=...)` opens at ringing: the agent's fork config, the §6.2 metadata,
    and for `30min_with_refresh` agents the callback that mints the next token."""

    config: ForkConfig
    metadata: dict[str, Any]
    mint_token: MintToken | None = None


class Call(Conferencing):
    def __init__(self, runtime: Runtime, leg: Leg, *, direction: str, from_uri: str,
                 to_uri: str, call_id: str | None = None) -> None:
        self.id = call_id or str(uuid.uuid4())
        self.direction = direction
        self.from_uri, self.to_uri = from_uri, to_uri
        self.leg = leg
        self._rt = runtime
        self._loop = asyncio.get_running_loop()
        self.scope = TaskScope(f"call-{self.id[:8]}", on_failure=self._task_failed)
        self.scope.add(leg.close)
        self.state: CallState = "new"
        self.answered_at: float | None = None
        self.end: CallEnd | None = None
        self.ended: asyncio.Future[CallEnd] = self._loop.create_future()
        self.answered = asyncio.Event()
        self.media = MediaPath(leg, runtime.stats, self._emit)
        self.forks = ForkSlot(self.media, self.scope, runtime.stats,
                              subprotocols=runtime.subprotocols,
                              allow_insecure=runtime.allow_insecure, on_lost=self._fork_lost)
        self.scope.add(lambda: self.forks.close(self._stop_reason(), self._fork_close_code))
        self._pending_fork: ForkSpec | None = None
        self._tick_token: int | None = None
        self._fork_close_code = 1000  # §6.7: 1001 when the node drains
        self._listeners: list[Callable[[CallEvent], None]] = []
        self.incoming: IncomingInvite | None = None
        self.outgoing: OutgoingInvite | None = None
        Conferencing.__init__(self)
        leg.on_ended = self._leg_ended
        leg.on_remote_hold = lambda held: self._emit("remote_hold", held=held)

    # -- events -----------------------------------------------------------------------------
    def subscribe(self, listener: Callable[[CallEvent], None]) -> None:
        self._listeners.append(listener)

    def _emit(self, kind: EventKind, **data: Any) -> None:
        event = CallEvent(kind, self.id, data)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("call event listener failed")

    async def wait_ended(self, timeout: float | None = None) -> CallEnd:  # noqa: ASYNC109
        return await asyncio.wait_for(asyncio.shield(self.ended), timeout)

    def _require_answered(self) -> None:
        if self.state == "ended":
            raise CallEnded(f"call {self.id} has ended")
        if self.state != "answered" or self.leg.dialog is None:
            raise LegNotReady(f"call {self.id} is not answered")

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
            # The 200 leaves synchronously inside accept(): we listen from then on, so caller
            # RTP sent as soon as the 200 arrives is not lost while we wait for the ACK. We send
            # nothing before the ACK confirms the peer: an INVITE's SDP may name any address.
            self._start_receiving()
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

    def _start_receiving(self) -> None:
        """Caller audio starts at answer (PRODUCT.md §6.1, §6.3): frame 0 of the AI's timeline
        is now. Nothing is sent yet (see `_answered`)."""
        if self.answered_at is not None:
            return
        self.answered_at = now = self._loop.time()
        self.media.start()
        self.forks.start_audio(now)

    def _resume_tick(self) -> None:
        if self._tick_token is None and self.state != "ended":
            self._tick_token = self._rt.clock.subscribe(self.media.on_tick)

    def _pause_tick(self) -> None:
        """A conference ticks this call from now on."""
        if self._tick_token is not None:
            self._rt.clock.unsubscribe(self._tick_token)
            self._tick_token = None

    def _answered(self) -> None:
        if self.state == "ended":
            return
        self.state = "answered"
        self._start_receiving()
        self._resume_tick()  # the clock sends: the peer is confirmed (ACK, or its 200)
        self.answered.set()
        self._emit("answered")
        self._open_pending_fork()

    # -- the AI fork -------------------------------------------------------------------------
    @property
    def fork(self) -> AudioFork | None:
        return self.forks.fork

    def prepare_fork(self, config: ForkConfig, metadata: dict[str, Any], *,
                     mint_token: MintToken | None = None) -> None:
        """Open this fork when the call rings (or answers without ringing)."""
        self.forks.check(config)
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
        except CallEnded:
            return
        except Exception as exc:  # ForkUnavailable (connect, SSRF): no AI, no call
            log.warning("call %s: audio fork failed to open: %s", self.id, exc)
            await self.hangup("ai_disconnected", reason=f"fork connect failed: {exc}")

    async def attach_fork(self, config: ForkConfig, metadata: dict[str, Any], *,
                          mint_token: MintToken | None = None) -> AudioFork:
        """Connect an AI now, at any time; it replaces the attached one, if any (closed with
        `stop` reason "replaced"). Caller audio flows from answer, or from now if answered.
        Raises ForkUnavailable, SubprotocolNotOffered or CallEnded."""
        if self.state == "ended":
            raise CallEnded(f"call {self.id} has ended")
        fork = await self.forks.open(config, metadata, mint_token=mint_token)
        if self.end is not None:
            await fork.close(self._stop_reason())
            raise CallEnded(f"call {self.id} ended while the fork was connecting")
        started = self._loop.time() if self.answered_at is not None else None
        old = self.forks.put(fork, started)
        if old is not None:
            self.scope.spawn(self.forks.retire(old, "replaced"), name="fork-retire")
        self._emit("fork_attached", replaced=old is not None)
        return fork

    async def detach_fork(self, reason: str = "transfer") -> None:
        """Close the AI's fork with `stop` `reason`; the call goes on (a transfer, a
        conference_leave). NotFound when no fork is attached."""
        await self.forks.detach(reason)
        self._emit("fork_detached", reason=reason)

    async def _fork_lost(self, outcome: str) -> None:
        if self.state == "ended":
            return
        # PRODUCT.md §6.7: a 1000 close is the AI hanging up; a lost AI ends the call.
        await self.hangup("hangup" if outcome == "ai_hangup" else "ai_disconnected",
                          reason=outcome)

    def _stop_reason(self) -> str:
        return self.end.outcome if self.end is not None else "hangup"

    # -- hang-up -------------------------------------------------------------------------------
    async def hangup(self, outcome: Outcome = "hangup", *, reason: str = "",
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

    def _leg_ended(self, reason: str) -> None:
        if self.state != "ended":
            outcome: Outcome = "caller_hangup" if reason == "remote_bye" else "hangup"
            self.scope.spawn(self._finish(outcome, None, reason), name="leg-ended")

    def _task_failed(self, error: BaseException) -> None:
        if self.state != "ended":
            self._rt.spawn(self.hangup("failed", reason=f"internal error: {error!r}"))

    async def _finish(self, outcome: Outcome, status: int | None, reason: str) -> None:
        if self.state == "ended":
            return
        self.state = "ended"
        self.end = CallEnd(outcome, status, reason)
        self._pause_tick()
        self._leave_media_links(outcome)
        self.answered.set()  # wake anyone waiting for an answer that will not come
        await self.scope.close()
        self._rt.forget(self)
        if not self.ended.done():
            self.ended.set_result(self.end)
        self._emit("ended", outcome=outcome, sip_status=status, reason=reason)
        self._let_go()

    def _let_go(self) -> None:
        """Ended and told: break the references back to us that the call's parts hold (and
        theirs to each other), so the call's objects are freed by reference counting when the
        last holder lets go. Left to the cycle collector, every call's hundred-odd objects
        made its full collections 0.2-0.4 s stops of the loop carrying every other call."""
        self._listeners.clear()
        if self.outgoing is not None:
            self.outgoing.release()
        self.leg.release()
        self.media.release()
        self.forks.release()

    def _leave_media_links(self, outcome: str) -> None:
        peer = self.bridged
        self.unbridge()
        if peer is not None:
            peer._emit("bridge_ended", peer_call_id=self.id, outcome=outcome)
        self._conference_ended()


async def _cancel(outgoing: OutgoingInvite) -> None:
    """CANCEL (RFC 3261 §9.1); if a 200 crossed it, the call exists after all: BYE it."""
    await outgoing.cancel()
    try:
        dialog = await outgoing.wait_answer(timeout=32.0)  # 64*T1: the INVITE's lifetime
    except InviteFailed:
        return
    await dialog.bye()
