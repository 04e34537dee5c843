"""One owner per live call: it joins the media `Call` to its database rows, its webhook events,
its voice agent's concurrency lease and its callback tokens. Media never calls up: the owner
listens to the call's events and writes what they mean, one at a time, in the order they
happened (so a call's webhook events are numbered in causal order).

The Control API acts on a live call through its owner (`CallDirectory.get(call_id)`), never
on media internals.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from yotel.aio.scope import TaskScope
from yotel.calls.ailog import AiLog
from yotel.calls.history import CallHistory
from yotel.media.call import Call
from yotel.media.events import CallEnd, CallEvent, Outcome
from yotel.voice_agents.slots import DEFAULT_LEASE_TTL_S as LEASE_TTL_S
from yotel.voice_agents.slots import DEFAULT_RENEW_INTERVAL_S as LEASE_RENEW_S
from yotel.voice_agents.slots import AgentSlots

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeadContext:
    """The lead a campaign call is for, as the AI's metadata frame shows it (§6.2)."""

    id: str | None
    phone: str
    name: str | None = None
    status: str | None = None
    custom_fields: dict[str, Any] = field(default_factory=dict)

    def as_metadata(self) -> dict[str, Any]:
        return {"id": self.id, "phone": self.phone, "name": self.name, "status": self.status,
                "custom_fields": dict(self.custom_fields)}


@dataclass
class CallContext:
    """What a call is for: who, for which tenant, from which campaign, lead or flow."""

    tenant_id: str
    direction: str
    from_: str
    to: str
    campaign_id: str | None = None
    lead: LeadContext | None = None
    flow_id: str | None = None
    number_id: str | None = None
    trunk_id: str | None = None


@dataclass
class AiLink:
    """The voice agent a call is connected to, and its concurrency lease."""

    agent_id: str
    connected: bool = False  # its fork is up (from ringing, for an outbound call)
    started: bool = False  # ai_session.started written (at answer, or when connected after)
    ended: bool = False


Ended = Callable[["LiveCall", CallEnd], None]


class LiveCall:
    def __init__(self, media: Call, context: CallContext, history: CallHistory,
                 slots: AgentSlots, *, recording_url: str) -> None:
        self.media = media
        self.id = media.id
        self.context = context
        self.history = history
        self._slots = slots
        self._recording_url = recording_url
        self.ai: AiLink | None = None
        self.end: CallEnd | None = None
        self.done = asyncio.Event()  # every row and event of the call is written
        self._events: asyncio.Queue[CallEvent] = asyncio.Queue()
        self._recording: CallEvent | None = None
        self._answered = False
        self._transfer: tuple[str, str, dict[str, Any]] | None = None
        self._on_ended: list[Ended] = []
        self.legs: set[Call] = set()  # participants dialled in (conference members)
        self.monitoring: dict[str, LiveCall] = {}  # target call id -> its owner
        self._lease: asyncio.Task[Any] | None = None
        self._revoke: Callable[[], Awaitable[None]] | None = None
        self.disposition: str | None = None  # the AI's set_disposition, for get_call_state
        self.ai_log = AiLog(self.id)  # the Control API's log entries, written through us
        self.scope = TaskScope(f"live-{self.id[:8]}")
        media.subscribe(self._events.put_nowait)

    @property
    def tenant_id(self) -> str:
        return self.context.tenant_id

    def on_ended(self, callback: Ended) -> None:
        self._on_ended.append(callback)

    def start(self) -> None:
        self.scope.spawn(self._pump(), name="events")

    def hold_slot(self, agent_id: str) -> None:
        """The call holds a lease on `agent_id`'s max_concurrent (acquired by the caller)."""
        if self.ai is not None and self.ai.agent_id != agent_id:
            raise RuntimeError("the call already holds another agent's slot")
        self.ai = AiLink(agent_id)
        self._lease = self.scope.spawn(self._renew_lease(agent_id), name="lease")

    async def drop_slot(self) -> None:
        """Give the agent's slot back now (its AI never connected); the call goes on."""
        await self._release_slot()
        self.ai = None

    def transferring(self, destination_type: str, destination: str,
                     metadata: dict[str, Any] | None = None) -> None:
        """A transfer is under way: the AI's session ends as `transferred_<type>`."""
        self._transfer = (destination_type, destination, metadata or {})

    # -- the event pump ---------------------------------------------------------------------
    async def _pump(self) -> None:
        while True:
            event = await self._events.get()
            try:
                await self._handle(event)
            except Exception:  # a row we could not write must not stop the call's history
                log.exception("call %s: recording event %s failed", self.id, event.kind)
            if event.kind == "ended":
                await self.scope.close()  # the lease renewal stops; this task is spared
                return

    async def _handle(self, event: CallEvent) -> None:
        kind = event.kind
        if kind == "ringing":
            await self.history.ringing()
        elif kind == "answered":
            self._answered = True
            ai = self.ai
            with_ai = ai is not None and ai.connected and not ai.started
            if ai is not None and with_ai:
                ai.started = True  # one transaction: call.answered, then ai_session.started
            await self.history.answered(ai_agent_id=ai.agent_id if ai else None,
                                        ai_started=with_ai)
        elif kind == "fork_attached" and self.ai is not None:
            self.ai.connected = True
            await self._ai_started()
        elif kind == "fork_detached":
            await self._revoke_session_tokens()
            await self._ai_detached(str(event.data.get("reason", "")))
        elif kind == "conference_changed":
            await self.history.event("ai_session.conference_changed", {
                "conference_id": event.data.get("conference_id"),
                "change": event.data.get("change"),
                "participants": event.data.get("participants", [])})
        elif kind == "recording_ready":
            self._recording = event  # reported after call.ended (PRODUCT.md §7 order)
        elif kind == "ended":
            await self._ended(event)

    async def _ai_started(self) -> None:
        """PRODUCT.md §7 order: call.answered, then ai_session.started, though an outbound
        call's fork opens while it rings."""
        ai = self.ai
        if ai is not None and ai.connected and not ai.started and self._answered:
            ai.started = True
            await self.history.ai_started(ai.agent_id)

    async def _ai_detached(self, reason: str) -> None:
        if self.ai is None or not self.ai.started or self.ai.ended:
            return
        if self._transfer is not None:
            kind, destination, metadata = self._transfer
            await self.history.ai_transferred(kind, destination, metadata)
            await self._end_ai(f"transferred_{kind}")
        elif reason == "conference_leave":
            await self._end_ai("conference_leave")

    async def _end_ai(self, outcome: str) -> None:
        assert self.ai is not None
        self.ai.ended = True
        await self.history.ai_ended(outcome)
        await self._release_slot()

    def own_leg(self, leg: Call) -> None:
        """A participant's leg lives as long as this call, at most."""
        self.legs.add(leg)
        leg.subscribe(lambda event: self.legs.discard(leg) if event.kind == "ended" else None)

    async def _hang_up_legs(self) -> None:
        for leg in list(self.legs):
            await leg.hangup("hangup", reason="the conference's call ended")
        for target in list(self.monitoring.values()):
            await _stop_monitor(target, self.id)
        self.monitoring.clear()

    def revoke_tokens_on_close(self, revoke: Callable[[], Awaitable[None]]) -> None:
        """`ws_session` agents (PRODUCT.md §6.9): the call's tokens die with the AI's socket."""
        self._revoke = revoke

    async def _revoke_session_tokens(self) -> None:
        revoke, self._revoke = self._revoke, None
        if revoke is not None:
            await revoke()

    async def _ended(self, event: CallEvent) -> None:
        await self._revoke_session_tokens()
        await self._hang_up_legs()
        end = self.media.end or CallEnd("failed", None, "ended without an outcome")
        outcome: Outcome = end.outcome
        if self._transfer is not None and outcome in ("hangup", "caller_hangup"):
            outcome = f"transferred_{self._transfer[0]}"  # type: ignore[assignment]
        self.end = CallEnd(outcome, end.sip_status, end.reason)
        ai_outcome = None
        if self.ai is not None and self.ai.started and not self.ai.ended:
            self.ai.ended, ai_outcome = True, outcome
        await self._release_slot()
        recording = None
        if self._recording is not None:
            data = self._recording.data
            recording = (str(data["path"]), self._recording_url, float(data["duration_s"]))
        # One transaction: ai_session.ended, call.ended, call.recording_ready (§7 order).
        await self.history.ended(outcome=outcome, sip_status=end.sip_status,
                                 error=end.reason or None, duration_s=self._duration(),
                                 ai_outcome=ai_outcome, recording=recording)
        self.done.set()
        for callback in self._on_ended:
            try:
                callback(self, self.end)
            except Exception:
                log.exception("call %s: an end listener failed", self.id)

    def _duration(self) -> float:
        snapshot = self.media.answered_at
        if snapshot is None:
            return 0.0
        return round(asyncio.get_running_loop().time() - snapshot, 2)

    # -- the agent's lease ----------------------------------------------------------------------
    async def _renew_lease(self, agent_id: str) -> None:
        while True:
            await asyncio.sleep(LEASE_RENEW_S)
            if not await self._slots.renew(agent_id, self.id, LEASE_TTL_S):
                log.warning("call %s: its lease on agent %s had expired", self.id, agent_id)

    async def _release_slot(self) -> None:
        lease, self._lease = self._lease, None
        if lease is not None and lease is not asyncio.current_task():
            lease.cancel()  # no renewal after the release (it would log a lost lease)
        if self.ai is None:
            return
        with contextlib.suppress(Exception):  # the lease's TTL frees it anyway
            await self._slots.release(self.ai.agent_id, self.id)

    async def close(self) -> None:
        """Wait (briefly) for the history to be written, then stop the owner's tasks."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.done.wait(), 10.0)
        await self.scope.close()


def monitor_key(monitoring_call_id: str) -> str:
    """The tap key on a target of the monitor stream opened for `monitoring_call_id`."""
    return f"monitor:{monitoring_call_id}"


async def _stop_monitor(target: LiveCall, monitoring_call_id: str) -> None:
    from yotel.media.errors import MediaError

    with contextlib.suppress(MediaError):
        await target.media.stop_monitor(monitor_key(monitoring_call_id))
