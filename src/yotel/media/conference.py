"""A conference: one clock subscriber that mixes its members in the same tick.

Members are call paths (the host's caller, dialled participants) and, while it stays, the
host's AI. Each tick every member's caller frame is pulled, the AI's next frame too, the mixer
gives each listener the sum of the others (clipped), and each member's `Output` sends it (so
hold, prompts and whispers still apply per member). The AI's fork gets the mix without its own
audio as its caller timeline. The host's taps see left = everyone but the AI, right = the AI.
"""

from __future__ import annotations

from dataclasses import dataclass

from yotel.media.mixer import Mixer
from yotel.media.path import MediaPath
from yotel.media.routing import Audio

AI_MEMBER = "ai"
_EVERYONE = "~everyone"  # a listen-only member: the mix of all, for the host's left channel


@dataclass
class Member:
    id: str
    path: MediaPath
    kind: str  # caller | e164 | sip_uri | agent | supervisor
    destination: str
    joined_at: float  # epoch seconds


class Conference:
    def __init__(self, conference_id: str, host: MediaPath) -> None:
        self.id = conference_id
        self.host = host
        self.members: dict[str, Member] = {}
        self.ai_in = host.fork is not None
        self._mixer = Mixer()
        self._mixer.join(_EVERYONE, speaks=False)
        if self.ai_in:
            self._mixer.join(AI_MEMBER)
        self.ticks = 0

    # -- membership ------------------------------------------------------------------------------
    def add(self, member: Member) -> None:
        self.members[member.id] = member
        self._mixer.join(member.id)
        member.path.conference = self

    def remove(self, member_id: str) -> Member | None:
        member = self.members.pop(member_id, None)
        if member is not None:
            self._mixer.leave(member_id)
            member.path.conference = None
        return member

    def ai_leaves(self) -> None:
        self.ai_in = False
        self._mixer.leave(AI_MEMBER)

    def dissolve(self) -> list[Member]:
        members = list(self.members.values())
        for member in members:
            self.remove(member.id)
        return members

    # -- the tick ---------------------------------------------------------------------------------
    def on_tick(self, now: float) -> None:
        self.ticks += 1
        said: dict[str, Audio | None] = {}
        missed = self.host.catch_up(now)
        if missed and self.ai_in:
            self.host.feed_ai_silence(missed)  # the AI's timeline stays the call's
        ai = self.host.pull(now)  # the host's caller frame and the AI's next frame
        if not self.ai_in:
            ai = None
        for member in self.members.values():
            path = member.path
            if path is not self.host:
                path.catch_up(now)
                path.pull(now)
            said[member.id] = path.last_said
            if path.last_said is not None:
                self._mixer.push(member.id, path.last_said.pcm())
        if ai is not None:
            self._mixer.push(AI_MEMBER, ai.pcm())
        mixes = self._mixer.mix()
        for member in self.members.values():
            mix = Audio(mixes[member.id], "pcm16")
            # The host's taps see the whole conference (below), not its caller's mix.
            member.path.push(None, mix, caller=said[member.id], other=mix,
                             tap=member.path is not self.host)
        self._feed_host(mixes, ai)

    def _feed_host(self, mixes: dict[str, bytes], ai: Audio | None) -> None:
        everyone_but_ai = Audio(mixes[AI_MEMBER] if self.ai_in else mixes[_EVERYONE], "pcm16")
        if self.ai_in:
            self.host.feed_ai(everyone_but_ai.data)
        for tap in self.host.taps.values():
            tap.on_tick(everyone_but_ai, ai)

    def participants(self) -> list[Member]:
        return list(self.members.values())
