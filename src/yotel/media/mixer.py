"""The N-party mixer (conferences, monitoring, whispering). No I/O, tick-driven.

Each tick every speaking member may `push` one 20 ms PCM16 frame; `mix` then returns, for each
listening member, the sum of what it may hear (never its own voice), clipped to int16. Sums are
done in int32 with numpy over all members at once, not per sample in Python.

Who hears whom:
- a plain member speaks to and hears everyone (a conference participant);
- `speaks=False`: a monitor (listen-only supervisor, a recorder tap);
- `hears=False`: a source nobody answers (music, an announcement);
- `heard_by={...}`: a whisper (a coach heard by the agent only, never by the customer).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from yotel.domain.audio import FRAME_SAMPLES

SILENT_FRAME = bytes(2 * FRAME_SAMPLES)


@dataclass(frozen=True)
class Member:
    id: str
    speaks: bool = True
    hears: bool = True
    heard_by: frozenset[str] | None = None  # None: everyone else

    def audible_to(self, listener: str) -> bool:
        return self.speaks and listener != self.id and (
            self.heard_by is None or listener in self.heard_by)


class Mixer:
    def __init__(self, frame_samples: int = FRAME_SAMPLES) -> None:
        self.frame_samples = frame_samples
        self._members: dict[str, Member] = {}
        self._frames: dict[str, bytes] = {}
        self._silence = bytes(2 * frame_samples)

    @property
    def members(self) -> list[Member]:
        return list(self._members.values())

    def join(self, member_id: str, *, speaks: bool = True, hears: bool = True,
             heard_by: Iterable[str] | None = None) -> Member:
        """Add a member, or change an existing one's role (e.g. a monitor starts to barge in)."""
        member = Member(member_id, speaks, hears,
                        frozenset(heard_by) if heard_by is not None else None)
        self._members[member_id] = member
        return member

    def leave(self, member_id: str) -> None:
        self._members.pop(member_id, None)
        self._frames.pop(member_id, None)

    def push(self, member_id: str, frame: bytes) -> None:
        """This tick's frame from a member; a short frame is padded, a long one cut."""
        member = self._members.get(member_id)
        if member is None:
            raise KeyError(f"{member_id!r} is not in the mix")
        if member.speaks:
            if len(frame) != len(self._silence):
                frame = (frame + self._silence)[:len(self._silence)]
            self._frames[member_id] = frame

    def mix(self) -> dict[str, bytes]:
        """Every listener's frame for this tick (silence when nobody speaks to it); the pushed
        frames are consumed."""
        frames, self._frames = self._frames, {}
        listeners = [m.id for m in self._members.values() if m.hears]
        speakers = [self._members[s] for s in frames if s in self._members]
        if not speakers:
            return dict.fromkeys(listeners, self._silence)
        stack = np.frombuffer(b"".join(frames[s.id] for s in speakers), dtype="<i2").reshape(
            len(speakers), self.frame_samples).astype(np.int32)
        public = [i for i, s in enumerate(speakers) if s.heard_by is None]
        total = stack[public].sum(axis=0) if public else np.zeros(self.frame_samples, np.int32)
        return {listener: self._for(listener, speakers, stack, total) for listener in listeners}

    def _for(self, listener: str, speakers: list[Member], stack: npt.NDArray[np.int32],
             total: npt.NDArray[np.int32]) -> bytes:
        # Start from everyone public, take the listener's own voice out, add whispers to it.
        mixed = total
        for i, speaker in enumerate(speakers):
            if speaker.heard_by is None and speaker.id == listener:
                mixed = mixed - stack[i]
            elif speaker.heard_by is not None and speaker.audible_to(listener):
                mixed = mixed + stack[i]
        return bytes(np.clip(mixed, -32768, 32767).astype("<i2").tobytes())
