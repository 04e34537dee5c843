"""The verbs of a live call that change what its parties hear, or who watches: prompts, hold,
mute, DTMF, whisper, recording, bridging, taps, and the state snapshot. Everything above media
(the call layer, the Control API) acts through these, never on the audio path's fields.

A mixin of `Call` (call.py), which owns the lifecycle these rely on.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yotel.fork.client import AudioFork, ForkConfig
from yotel.media.bridge import Bridge
from yotel.media.errors import InvalidState, LegNotReady, NotFound, ReinviteRefused
from yotel.media.events import CallSnapshot, CallState, EventKind, MuteTarget
from yotel.media.recorder import RecordingResult, StereoRecorder
from yotel.media.routing import PcmSource
from yotel.media.taps import ForkPlayoutSource, MonitorTap, RecorderTap, Tap
from yotel.rtp.dtmf import DIGITS
from yotel.sip.dialog import InviteFailed

if TYPE_CHECKING:
    from yotel.aio.scope import TaskScope
    from yotel.media.call import Call
    from yotel.media.fork_slot import ForkSlot
    from yotel.media.leg import Leg
    from yotel.media.path import MediaPath
    from yotel.media.runtime import Runtime

RECORDER_TAP = "recorder"
DTMF_GAP_S = 0.05  # between digits of a string (RFC 4733 leaves it to the sender)


class CallVerbs:
    # What the verbs use of the call (set by Call.__init__).
    id: str
    direction: str
    state: CallState
    leg: Leg
    media: MediaPath
    scope: TaskScope
    forks: ForkSlot
    from_uri: str
    to_uri: str
    answered_at: float | None
    _rt: Runtime
    _loop: asyncio.AbstractEventLoop

    def __init__(self) -> None:
        self.bridged: Call | None = None
        self._recorder: StereoRecorder | None = None
        self._monitors: dict[str, tuple[AudioFork, Call | None]] = {}

    def _emit(self, kind: EventKind, **data: Any) -> None:
        raise NotImplementedError

    def _require_answered(self) -> None:
        raise NotImplementedError

    async def detach_fork(self, reason: str = "transfer") -> None:
        raise NotImplementedError

    def remote_party(self) -> str:
        """The far end's URI: who called us, or whom we called."""
        return self.from_uri if self.direction == "inbound" else self.to_uri

    # -- what the caller hears ---------------------------------------------------------------
    def play(self, source: PcmSource | None) -> None:
        """Play a prompt to the caller (it replaces the AI or a bridged peer while it lasts;
        `play_finished` at its end); None stops it."""
        self.media.out.play(source)

    def whisper(self, source: PcmSource, key: str = "whisper") -> str:
        """Mix `source` into what this call's party hears, and only this party (a coach in an
        agent's ear); `whisper_finished` at its end. Returns the key for `stop_whisper`."""
        self.media.out.add_overlay(key, source)
        return key

    def stop_whisper(self, key: str = "whisper") -> None:
        if not self.media.out.remove_overlay(key):
            raise NotFound(f"no whisper {key!r} on call {self.id}")

    def mute(self, target: MuteTarget, muted: bool = True) -> None:
        """`caller`: nobody hears the caller (the AI, a bridged peer, the recording get silence
        in time); `agent`: the caller does not hear the AI (prompts and music still play)."""
        if target == "caller":
            self.media.caller_gate.muted = muted
        elif target == "agent":
            self.media.out.ai_muted = muted
        else:
            raise ValueError(f"mute target must be 'caller' or 'agent', not {target!r}")
        self.media.event_to_ai("mute" if muted else "unmute", {"target": target})
        self._emit("mute" if muted else "unmute", target=target)

    def is_muted(self, target: MuteTarget) -> bool:
        if target == "caller":
            return self.media.caller_gate.muted
        return self.media.out.ai_muted

    @property
    def held(self) -> bool:
        return self.media.out.held

    async def hold(self, music: PcmSource | None = None) -> None:
        """RFC 3264 §8.4 hold (re-INVITE a=sendonly) with music on hold; while held, a new
        `music` only replaces the music. ReinviteRefused when the peer refuses: nothing changes."""
        self._require_answered()
        if not self.media.out.held:
            await self._reinvite(hold=True)
        self.media.out.hold(music)
        self.media.event_to_ai("hold")
        self._emit("hold")

    async def unhold(self) -> None:
        self._require_answered()
        if not self.media.out.held:
            raise InvalidState(f"call {self.id} is not on hold")
        await self._reinvite(hold=False)
        self.media.out.unhold()
        self.media.event_to_ai("unhold")
        self._emit("unhold")

    async def _reinvite(self, *, hold: bool) -> None:
        try:
            await (self.leg.hold() if hold else self.leg.unhold())
        except InviteFailed as exc:
            raise ReinviteRefused(exc.status, exc.reason) from exc
        except RuntimeError as exc:  # the leg has no dialog
            raise LegNotReady(str(exc)) from exc

    async def send_dtmf(self, digits: str, duration_ms: int = 200) -> None:
        """RFC 4733 digits to the caller, one after the other."""
        self._require_answered()
        bad = [d for d in digits if d not in DIGITS]
        if not digits or bad:
            raise ValueError(f"DTMF digits are 0-9, *, #, A-D: got {digits!r}")
        for i, digit in enumerate(digits):
            if i:
                await asyncio.sleep(DTMF_GAP_S)
            await self.leg.send_dtmf(digit, duration_ms)

    # -- recording ------------------------------------------------------------------------------
    @property
    def recorder(self) -> StereoRecorder | None:
        return self._recorder

    def start_recording(self, path: Path | None = None) -> StereoRecorder:
        """Stereo WAV: left the caller side, right the AI (or the human bridged in after a
        transfer; in a conference left is everyone but the AI). Finalised when the call ends."""
        if self._recorder is None:
            target = path or self._rt.recordings_dir / f"{self.id}.wav"
            self._recorder = StereoRecorder(target)
            self.media.taps[RECORDER_TAP] = RecorderTap(self._recorder)
            self.scope.add(self._finish_recording)
        return self._recorder

    def pause_recording(self, reason: str | None = None) -> None:
        """Both channels record silence from the next tick (e.g. PCI); the span and its reason
        are kept in the recording's result."""
        recorder = self._require_recorder()
        if not recorder.paused:
            recorder.pause(reason)
            self.media.event_to_ai("recording_paused", {"reason": reason})
            self._emit("recording_paused", reason=reason)

    def resume_recording(self) -> None:
        recorder = self._require_recorder()
        if recorder.paused:
            recorder.resume()
            self.media.event_to_ai("recording_resumed")
            self._emit("recording_resumed")

    def _require_recorder(self) -> StereoRecorder:
        if self._recorder is None:
            raise InvalidState(f"call {self.id} is not being recorded")
        return self._recorder

    async def _finish_recording(self) -> RecordingResult | None:
        recorder, self._recorder = self._recorder, None
        self.media.taps.pop(RECORDER_TAP, None)
        if recorder is None:
            return None
        result = await recorder.close()
        self._emit("recording_ready", path=str(result.path), duration_s=result.duration_s,
                   pauses=[(p.start_s, p.end_s, p.reason) for p in result.pauses])
        return result

    # -- taps -----------------------------------------------------------------------------------
    def add_tap(self, key: str, tap: Tap) -> None:
        """Show every tick's caller side and other side to `tap` (a monitor stream...)."""
        self.media.taps[key] = tap

    def remove_tap(self, key: str) -> Tap:
        tap = self.media.taps.pop(key, None)
        if tap is None:
            raise NotFound(f"no tap {key!r} on call {self.id}")
        return tap

    # -- monitor streams (PRODUCT.md §6.8) ------------------------------------------
    async def start_monitor(self, config: ForkConfig, metadata: dict[str, Any], *,
                            key: str = "monitor", whisper_to: Call | None = None) -> AudioFork:
        """Open a second WebSocket carrying this call's mixed audio (both sides summed). With
        `whisper_to` (listen_and_whisper), what its AI sends is whispered to that call's party.
        Closed when this call ends, or by `stop_monitor(key)`."""
        self._require_answered()
        if key in self._monitors:
            raise InvalidState(f"monitor {key!r} is already streaming call {self.id}")
        fork = await self.forks.open(config, metadata)
        self._monitors[key] = (fork, whisper_to)
        if len(self._monitors) == 1:
            self.scope.add(self._close_monitors)
        self.add_tap(f"monitor:{key}", MonitorTap(fork))
        if whisper_to is not None:
            whisper_to.whisper(ForkPlayoutSource(fork), key=f"monitor:{self.id}:{key}")
        return fork

    def monitor_fork(self, key: str = "monitor") -> AudioFork | None:
        entry = self._monitors.get(key)
        return entry[0] if entry is not None else None

    async def stop_monitor(self, key: str = "monitor") -> None:
        entry = self._monitors.pop(key, None)
        if entry is None:
            raise NotFound(f"no monitor {key!r} on call {self.id}")
        await self._end_monitor(key, *entry)

    async def _end_monitor(self, key: str, fork: AudioFork, whisper_to: Call | None) -> None:
        self.media.taps.pop(f"monitor:{key}", None)
        if whisper_to is not None:
            whisper_to.media.out.remove_overlay(f"monitor:{self.id}:{key}")
        await fork.close("monitor_stop")

    async def _close_monitors(self) -> None:
        monitors, self._monitors = self._monitors, {}
        for key, (fork, whisper_to) in monitors.items():
            await self._end_monitor(key, fork, whisper_to)

    # -- bridging (B2BUA) -----------------------------------------------------------------------
    def bridge(self, other: Call) -> None:
        """Relay audio both ways between two answered calls on arrival; this call's AI is no
        longer heard by its caller (detach it for a transfer) and its recording's right
        channel becomes `other`'s party."""
        self._require_answered()
        other._require_answered()
        if self.media.conference is not None or other.media.conference is not None:
            raise InvalidState("a call in a conference is not bridged; add it as a member")
        self.unbridge()
        other.unbridge()
        bridge = Bridge(self.media, other.media)  # transcodes across laws
        self.bridged, other.bridged = other, self  # type: ignore[assignment]
        self.media.bridge, other.media.bridge = (bridge, "a"), (bridge, "b")
        self.media.peer, other.media.peer = other.media, self.media
        self.media.out.bridged = other.media.out.bridged = True

    def unbridge(self) -> None:
        peer, self.bridged = self.bridged, None
        for path in (self.media, peer.media if peer is not None else None):
            if path is None:
                continue
            if path.bridge is not None:
                path.bridge[0].close()
            path.bridge, path.peer, path.out.bridged = None, None, False
        if peer is not None:
            peer.bridged = None

    # -- state ------------------------------------------------------------------------------------
    def snapshot(self) -> CallSnapshot:
        """The call's state now (page 003 `get_call_state`)."""
        answered = self.answered_at is not None
        duration = self._loop.time() - self.answered_at if self.answered_at is not None else 0.0
        recorder = self._recorder
        return CallSnapshot(
            call_id=self.id, state=self.state, direction=self.direction, answered=answered,
            duration_s=round(duration, 3) if self.state != "ended" else 0.0,
            participants=self.participants(), is_recording=recorder is not None,
            recording_paused=recorder is not None and recorder.paused,
            muted={"caller": self.is_muted("caller"), "agent": self.is_muted("agent")},
            held=self.held, remote_hold=self.leg.remote_hold,
            conference_id=self.conference_id(), fork_attached=self.media.fork is not None,
            bridged_to=self.bridged.id if self.bridged is not None else None,
            quality=self.leg.quality)

    def participants(self) -> list[str]:
        """Who is on the call now, in page 003's words."""
        parties = ["caller"]
        if self.media.fork is not None:
            parties.append("ai_agent")
        if self.bridged is not None:
            parties.append("transfer_target")
        return parties

    def conference_id(self) -> str | None:
        return None
