"""Conference verbs of a call: promote it to a conference it hosts, add and remove members
(other answered calls), let the AI leave while the rest goes on. The mixing is `Conference`'s
(conference.py); this is who is in it and the clock hand-over: a member's own tick stops while
the conference ticks it, and resumes when it leaves.

A mixin of `Call`, between `CallVerbs` and `Call`.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from yotel.media.conference import Conference, Member
from yotel.media.errors import InvalidState, NotFound
from yotel.media.verbs import CallVerbs

if TYPE_CHECKING:
    from yotel.media.call import Call

HOST_MEMBER_KIND = "caller"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def new_member_id() -> str:
    return f"mem-{uuid.uuid4().hex[:12]}"


class Conferencing(CallVerbs):
    def __init__(self) -> None:
        super().__init__()
        self.conference: Conference | None = None  # the conference this call hosts
        self.conference_host: Call | None = None  # the host, when this call is a member
        self.member_id: str | None = None
        self._member_calls: dict[str, Call] = {}
        self._conference_token: int | None = None

    def _pause_tick(self) -> None:
        raise NotImplementedError

    def _resume_tick(self) -> None:
        raise NotImplementedError

    # -- hosting -----------------------------------------------------------------------------
    def start_conference(self, conference_id: str | None = None) -> Conference:
        """Promote this two-leg call into a conference it hosts; the AI stays in; a bridged
        party (after a transfer) becomes a member. InvalidState if already conferencing."""
        self._require_answered()
        if self.conference is not None or self.conference_host is not None:
            raise InvalidState(f"call {self.id} is already in a conference")
        conference = Conference(conference_id or f"conf-{uuid.uuid4().hex[:12]}", self.media)
        peer = self.bridged
        self.unbridge()
        self.conference = conference
        self._admit(self._self_call(), HOST_MEMBER_KIND, self.remote_party())
        if peer is not None:
            self._admit(peer, "agent", peer.remote_party())
        self._pause_tick()
        self._conference_token = self._rt.clock.subscribe(conference.on_tick)
        self._changed("started")
        return conference

    def add_member(self, call: Call, *, kind: str, destination: str) -> Member:
        """Join another answered call (a dialled participant) to the conference this call
        hosts; its party hears everyone else from the next tick."""
        self._require_conference()
        call._require_answered()
        if call.conference is not None or call.conference_host is not None or call.bridged:
            raise InvalidState(f"call {call.id} is already bridged or conferencing")
        member = self._admit(call, kind, destination)
        self._changed("member_added", member_id=member.id)
        return member

    def remove_member(self, member_id: str) -> Call:
        """Take a member out; its call goes on alone (the caller of this usually hangs it up).
        The host's own caller cannot be removed (InvalidState); NotFound for no such member."""
        conference = self._require_conference()
        call = self._member_calls.get(member_id)
        if call is None:
            raise NotFound(f"no member {member_id!r} in conference {conference.id}")
        if call is self:
            raise InvalidState("the conference's host caller cannot be removed")
        self._release(member_id)
        self._changed("member_removed", member_id=member_id)
        return call

    async def leave_conference(self) -> None:
        """The AI's leg drops (its fork closes with `stop` "conference_leave"); the rest of the
        conference goes on."""
        conference = self._require_conference()
        if not conference.ai_in:
            raise InvalidState("the AI has already left the conference")
        conference.ai_leaves()
        await self.detach_fork("conference_leave")
        self._changed("ai_left")

    def end_conference(self) -> None:
        """Dissolve it: every member (this call included) ticks alone again."""
        conference = self._require_conference()
        for member_id in list(conference.members):
            self._release(member_id)
        self._stop_conference_clock()
        self.conference = None
        self._resume_tick()
        self.forks.start_audio(self._loop.time())  # the AI's caller timeline resumes now

    # -- members ---------------------------------------------------------------------------------
    def _admit(self, call: Call, kind: str, destination: str) -> Member:
        conference = self._require_conference()
        member = Member(new_member_id(), call.media, kind, destination, time.time())
        if call is not self._self_call():
            call._pause_tick()
            call.conference_host, call.member_id = self._self_call(), member.id
        else:
            self.member_id = member.id
        self._member_calls[member.id] = call
        conference.add(member)
        return member

    def _release(self, member_id: str) -> None:
        conference = self._require_conference()
        call = self._member_calls.pop(member_id)
        conference.remove(member_id)
        if call is not self._self_call():
            call.conference_host = call.member_id = None
            call._resume_tick()
            call.forks.start_audio(self._loop.time())  # its own AI, if any, hears it again

    def _conference_ended(self) -> None:
        """This call ended: as a host it dissolves its conference, as a member it leaves."""
        if self.conference is not None:
            members = [c for c in self._member_calls.values() if c is not self]
            for member_id in list(self._member_calls):
                self._release(member_id)
            self._stop_conference_clock()
            self.conference = None
            for call in members:
                call._emit("conference_changed", change="ended", participants=[])
        host = self.conference_host
        if host is not None and self.member_id is not None and host.conference is not None:
            member_id = self.member_id
            host._release(member_id)
            host._changed("member_left", member_id=member_id)

    def _stop_conference_clock(self) -> None:
        if self._conference_token is not None:
            self._rt.clock.unsubscribe(self._conference_token)
            self._conference_token = None

    def _require_conference(self) -> Conference:
        if self.conference is None:
            raise InvalidState(f"call {self.id} hosts no conference")
        return self.conference

    def _self_call(self) -> Call:
        return self  # type: ignore[return-value]  # a mixin of Call

    # -- reporting ---------------------------------------------------------------------------------
    def _changed(self, change: str, **data: Any) -> None:
        participants = self.conference_participants()
        conference = self.conference
        body = {"conference_id": conference.id if conference else None,
                "change": change, "participants": participants, **data}
        self.media.event_to_ai("conference_changed", body)
        self._emit("conference_changed", **body)

    def conference_participants(self) -> list[dict[str, Any]]:
        """PRODUCT.md §7 `participants[]`: member_id, type, destination, joined_at (ISO)."""
        conference = self.conference
        if conference is None:
            return []
        rows: list[dict[str, Any]] = [
            {"member_id": m.id, "type": m.kind, "destination": m.destination,
             "joined_at": _iso(m.joined_at)} for m in conference.participants()]
        if conference.ai_in:
            rows.append({"member_id": "ai", "type": "ai_agent", "destination": None,
                         "joined_at": None})
        return rows

    def participants(self) -> list[str]:
        if self.conference is None:
            return super().participants()
        kinds = [m.kind for m in self.conference.participants()]
        return kinds + (["ai_agent"] if self.conference.ai_in else [])

    def conference_id(self) -> str | None:
        if self.conference is not None:
            return self.conference.id
        host = self.conference_host
        return host.conference.id if host is not None and host.conference is not None else None
