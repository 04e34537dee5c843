"""What a call reports: its events as they happen, and how it ended (PRODUCT.md §5, §8)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from yotel.rtp.quality import CallQuality

EventKind = Literal[
    "ringing", "answered", "dtmf", "hold", "unhold", "remote_hold", "mute", "unmute",
    "play_finished", "whisper_finished", "recording_paused", "recording_resumed",
    "recording_ready", "bridge_ended", "fork_attached", "fork_detached", "conference_changed",
    "ended",
]
Outcome = Literal[
    "hangup", "caller_hangup", "ai_disconnected", "no_answer", "busy", "failed",
    "transferred_agent_queue", "transferred_e164", "transferred_sip_uri",
]
CallState = Literal["new", "ringing", "answered", "ended"]
MuteTarget = Literal["caller", "agent"]  # page 003: the caller, or the AI's leg


@dataclass(frozen=True)
class CallEvent:
    kind: EventKind
    call_id: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CallEnd:
    outcome: Outcome
    sip_status: int | None = None
    reason: str = ""


def outcome_for_status(status: int) -> Outcome:
    """PRODUCT.md §8: 486 busy (600 busy everywhere too); 408/480/487 no answer; else failed."""
    if status in (486, 600):
        return "busy"
    if status in (408, 480, 487):
        return "no_answer"
    return "failed"


@dataclass(frozen=True)
class CallSnapshot:
    """A live call's state, in the terms of page 003's `get_call_state`."""

    call_id: str
    state: CallState
    direction: str
    answered: bool
    duration_s: float  # since answer (0 before)
    participants: list[str]
    is_recording: bool
    recording_paused: bool
    muted: dict[MuteTarget, bool]
    held: bool
    remote_hold: bool
    conference_id: str | None
    fork_attached: bool
    bridged_to: str | None
    quality: CallQuality  # the caller leg's RTCP figures (RFC 3550 §6.4)
