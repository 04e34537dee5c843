"""The dialer loop: each pass claims what running campaigns may dial now (pacing, room under
`max_concurrent_calls`), screens it (calling window, then DND), and places the calls through the
call layer; each call's end is settled into its lead (retry policy), in batches.

One loop per node. It holds no lead longer than a claim lease and never dials a lead in the
second half of its lease (`dialer.recovery` may hand it to another node after the lease), so
two nodes never dial one lead. Pacing is per node: N nodes on one campaign dial at up to N x
`calls_per_second` (its `max_concurrent_calls` holds across nodes: it is counted in the table).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from yotel.aio.scope import TaskScope
from yotel.calls.live import LeadContext, LiveCall
from yotel.calls.service import CallService, Originate, Resolved
from yotel.db.engine import Database
from yotel.dialer import callbacks as cb
from yotel.dialer import claims
from yotel.dialer.pacing import TokenBucket
from yotel.dialer.plan import CampaignPlan, running_campaigns
from yotel.dialer.recovery import recover_leads
from yotel.dialer.retry import after_call
from yotel.dialer.stats import DialerStats
from yotel.dialer.window import next_dial_time
from yotel.domain.errors import (
    MaxConcurrent,
    NoVoiceAgentConfigured,
    SubprotocolMismatch,
    ValidationError,
    YotelError,
)
from yotel.media.errors import MediaError
from yotel.media.events import CallEnd

log = logging.getLogger("yotel.dialer")
# Errors that every lead of the campaign would meet: the campaign is paused, the lead kept.
_CONFIGURATION = (NoVoiceAgentConfigured, SubprotocolMismatch, ValidationError)


@dataclass(frozen=True, slots=True)
class DialerConfig:
    node_id: str
    poll_s: float = 0.25  # an idle loop's pass interval
    min_pass_s: float = 0.02  # a busy loop's: claims go in batches, not one per token
    claim_lease_s: float = 60.0
    batch: int = 100  # leads per claim
    max_in_flight: int = 64  # originates under way on this node (not live calls)
    recover_every_s: float = 5.0
    drain_s: float = 10.0  # on stop: how long to wait for our calls to end and settle them


@dataclass
class _Campaign:
    bucket: TokenBucket
    busy_until: float = 0.0  # the voice agent was at its max_concurrent: wait
    # Its last claim found nothing: the next waits a poll interval (or a call of it ending),
    # so an idle campaign costs a write transaction per poll_s, not one per busy pass.
    idle_until: float = 0.0


@dataclass
class Dialer:
    db: Database
    calls: CallService
    config: DialerConfig
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    stats: DialerStats = field(default_factory=DialerStats)

    def __post_init__(self) -> None:
        self.scope = TaskScope("dialer")
        self._campaigns: dict[str, _Campaign] = {}
        self._ended: list[claims.Settlement] = []
        self._callbacks_ended: list[tuple[str, str, bool]] = []
        self._live: dict[str, LiveCall] = {}
        self._in_flight = 0
        self._wake = asyncio.Event()
        self._next_recovery = 0.0
        self._plans: list[CampaignPlan] = []
        self._next_plans = 0.0  # a busy loop re-reads campaigns and callbacks every poll_s
        # Each campaign's voice agent and trunk, resolved once per plan read (docs/api.md).
        self._resolved: dict[str, Resolved] = {}

    # -- the loop --------------------------------------------------------------------------
    async def recover_own(self) -> None:
        """At start: this node's claims from its previous run (docs/api.md, crash safety)."""
        now, lease = self.wall(), self.config.claim_lease_s
        found = await recover_leads(self.db, now=now, node_id=self.config.node_id,
                                    own_restart=True)
        await cb.recover_callbacks(self.db, now=now, node_id=self.config.node_id,
                                   lease_s=lease, own_restart=True)
        if found.released or found.settled or found.live:
            log.warning("recovered claims of this node's last run: %s", found)

    async def run(self) -> None:
        while True:
            try:
                pause = await self.pass_once()
            except YotelError as exc:  # the database is away: try again later
                log.warning("dialer pass failed: %s", exc)
                pause = self.config.poll_s * 4
            except Exception:  # a bug must not stop every campaign of the node for good
                log.exception("dialer pass failed")
                pause = self.config.poll_s * 4
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), pause)

    async def pass_once(self) -> float:
        """One pass; returns how long to sleep before the next."""
        await self.flush()
        now_m = self.clock()
        if now_m >= self._next_recovery:
            self._next_recovery = now_m + self.config.recover_every_s
            await self._recover()
        pause = self.config.poll_s
        fresh = now_m >= self._next_plans
        if fresh:
            # A stale plan cannot dial a paused campaign: the claim re-checks its status.
            self._next_plans = now_m + self.config.poll_s
            self._plans = await running_campaigns(self.db)
            self._resolved.clear()  # agents and trunks are looked up again with the plans
            for gone in self._campaigns.keys() - {p.id for p in self._plans}:
                del self._campaigns[gone]
        for plan in self._plans:
            pause = min(pause, await self._campaign_pass(plan))
        if fresh:
            await self._callback_pass()
        return max(self.config.min_pass_s, pause)

    async def _recover(self) -> None:
        now = self.wall()
        await recover_leads(self.db, now=now, node_id=self.config.node_id)
        await cb.recover_callbacks(self.db, now=now, node_id=self.config.node_id,
                                   lease_s=self.config.claim_lease_s)

    async def _campaign_pass(self, plan: CampaignPlan) -> float:
        now_m = self.clock()
        state = self._campaigns.get(plan.id)
        if state is None:
            state = self._campaigns[plan.id] = _Campaign(TokenBucket(plan.calls_per_second, now_m))
        elif state.bucket.rate != plan.calls_per_second:
            state.bucket.set_rate(plan.calls_per_second, now_m)
        if now_m < state.busy_until:
            return state.busy_until - now_m
        if now_m < state.idle_until:
            return state.idle_until - now_m
        budget = min(state.bucket.available(now_m), self.config.batch,
                     self.config.max_in_flight - self._in_flight)
        if budget <= 0:
            return state.bucket.wait_s(now_m)
        now = self.wall()
        leads = await claims.claim_leads(self.db, plan.id, node_id=self.config.node_id,
                                         limit=budget, now=now,
                                         lease_s=self.config.claim_lease_s)
        claimed_m = self.clock()
        if not leads:
            state.idle_until = claimed_m + self.config.poll_s
            mine = any(live.context.campaign_id == plan.id for live in self._live.values())
            if not mine and await claims.complete_if_done(self.db, plan.id, now):
                log.info("campaign %s completed", plan.id)
            return self.config.poll_s
        self.stats.claimed += len(leads)
        dial = await self._screen(plan, leads, now)
        state.bucket.take(len(dial), claimed_m)
        resolved = await self._resolve(plan, dial[0]) if dial else None
        for lead in dial:
            self._in_flight += 1
            self.scope.spawn(self._dial(plan, lead, claimed_m, resolved), name="dial")
        return state.bucket.wait_s(self.clock())

    async def _screen(self, plan: CampaignPlan, leads: list[claims.ClaimedLead],
                      now: datetime) -> list[claims.ClaimedLead]:
        """The calling window (pure, in the lead's zone), then DND right before dialling."""
        waiting: list[tuple[str, datetime]] = []
        open_now: list[claims.ClaimedLead] = []
        for lead in leads:
            when = next_dial_time(plan.window, now, lead_zone=lead.timezone,
                                  tenant_zone=plan.tenant_zone)
            if when > now:
                waiting.append((lead.id, when))
            else:
                open_now.append(lead)
        blocked = await claims.blocked_numbers(self.db, plan.tenant_id,
                                               [lead.phone for lead in open_now])
        await claims.release(self.db, self.config.node_id, waiting, now)
        await claims.mark_dnd(self.db, self.config.node_id,
                              [lead.id for lead in open_now if lead.phone in blocked], now)
        self.stats.outside_window += len(waiting)
        self.stats.dnd_blocked += sum(lead.phone in blocked for lead in open_now)
        return [lead for lead in open_now if lead.phone not in blocked]

    async def _resolve(self, plan: CampaignPlan, lead: claims.ClaimedLead) -> Resolved | None:
        """The campaign's voice agent and trunk, looked up once per plan read instead of once
        per call; None when they cannot be had (each call then looks them up itself and meets
        the error on its own path: 424, no trunk, the database away)."""
        resolved = self._resolved.get(plan.id)
        if resolved is None:
            try:
                resolved = await self.calls.resolve(plan.tenant_id, _request(plan, lead))
            except (MediaError, ValueError, OSError, YotelError):
                return None
            self._resolved[plan.id] = resolved
        return resolved

    # -- one lead --------------------------------------------------------------------------
    async def _dial(self, plan: CampaignPlan, lead: claims.ClaimedLead, claimed_m: float,
                    resolved: Resolved | None) -> None:
        try:
            await self._place(plan, lead, claimed_m, resolved)
        finally:
            self._in_flight -= 1

    async def _place(self, plan: CampaignPlan, lead: claims.ClaimedLead,
                     claimed_m: float, resolved: Resolved | None) -> None:
        now = self.wall()
        if now >= lead.claimed_until - timedelta(seconds=self.config.claim_lease_s / 2):
            # Too late in the lease: recovery elsewhere may already have handed it on.
            await claims.release(self.db, self.config.node_id, [(lead.id, now)], now)
            return
        try:
            live = await self.calls.originate(plan.tenant_id, _request(plan, lead),
                                              resolved=resolved)
        except MaxConcurrent as exc:
            await self._agent_busy(plan, lead, max(exc.retry_after_s, 0.2))
            return
        except _CONFIGURATION as exc:
            await self._misconfigured(plan, lead, exc)
            return
        except (MediaError, ValueError, OSError, YotelError) as exc:
            log.warning("campaign %s lead %s: the call could not start: %s", plan.id, lead.id,
                        exc)
            self.stats.failed_to_start += 1
            verdict = after_call(plan.retry, lead.attempts, "failed", answered=False, now=now)
            self._ended.append(claims.Settlement(lead.id, None, "failed", verdict,
                                                 previous_call_id=lead.last_call_id))
            self._wake.set()
            return
        self.stats.dialled(self.clock() - claimed_m)
        self._live[live.id] = live
        live.on_ended(lambda call, end: self._call_ended(plan, lead, call, end))

    async def _agent_busy(self, plan: CampaignPlan, lead: claims.ClaimedLead,
                          retry_after_s: float) -> None:
        """The agent is at its max_concurrent: the lead waits (no attempt), so does the
        campaign, for `retry_after_s`."""
        self.stats.agent_busy += 1
        state = self._campaigns.get(plan.id)
        if state is not None:
            state.busy_until = self.clock() + retry_after_s
        now = self.wall()
        await claims.release(self.db, self.config.node_id, [(lead.id, now)], now)

    async def _misconfigured(self, plan: CampaignPlan, lead: claims.ClaimedLead,
                             exc: YotelError) -> None:
        now = self.wall()
        await claims.release(self.db, self.config.node_id, [(lead.id, now)], now)
        if await claims.pause(self.db, plan.id, now):
            log.error("campaign %s paused: its calls cannot be placed (%s: %s); fix it and "
                      "resume", plan.id, exc.type, exc.message)

    def _call_ended(self, plan: CampaignPlan, lead: claims.ClaimedLead, live: LiveCall,
                    end: CallEnd) -> None:
        self._live.pop(live.id, None)
        state = self._campaigns.get(plan.id)
        if state is not None:
            state.idle_until = 0.0  # room under max_concurrent_calls, or a retry to schedule
        answered = live.media.answered_at is not None
        verdict = after_call(plan.retry, lead.attempts, end.outcome, answered=answered,
                             now=self.wall())
        self._ended.append(claims.Settlement(lead.id, live.id, end.outcome, verdict))
        self._wake.set()

    async def flush(self) -> None:
        """Settle the calls that ended since the last pass (one transaction each kind)."""
        ended, self._ended = self._ended, []
        if ended:
            self.stats.settled += await claims.settle(self.db, ended, self.wall())
        done, self._callbacks_ended = self._callbacks_ended, []
        await cb.finish_callbacks(self.db, self.config.node_id, done, self.wall())

    # -- callbacks -------------------------------------------------------------------------
    async def _callback_pass(self) -> None:
        room = self.config.max_in_flight - self._in_flight
        if room <= 0:
            return
        due = await cb.claim_callbacks(self.db, node_id=self.config.node_id,
                                       limit=min(room, self.config.batch), now=self.wall(),
                                       lease_s=self.config.claim_lease_s)
        for item in due:
            self._in_flight += 1
            self.scope.spawn(self._dial_callback(item), name="callback")

    async def _dial_callback(self, item: cb.ClaimedCallback) -> None:
        try:
            await self._place_callback(item)
        finally:
            self._in_flight -= 1

    async def _place_callback(self, item: cb.ClaimedCallback) -> None:
        if await claims.blocked_numbers(self.db, item.tenant_id, [item.phone]):
            self._callbacks_ended.append((item.id, "dnd_blocked", False))
            return
        request = Originate(
            to=item.phone, voice_agent_id=item.voice_agent_id, campaign_id=item.campaign_id,
            campaign_agent_id=item.campaign_agent_id,
            lead=LeadContext(item.lead_id, item.phone) if item.lead_id else None)
        try:
            live = await self.calls.originate(item.tenant_id, request)
        except MaxConcurrent:
            self._callbacks_ended.append((item.id, "scheduled", False))  # later, not lost
            return
        except (MediaError, ValueError, OSError, YotelError) as exc:
            log.warning("callback %s could not be placed: %s", item.id, exc)
            self._callbacks_ended.append((item.id, "failed", True))
            return
        self._live[live.id] = live
        live.on_ended(lambda call, _end: self._callback_ended(item.id, call))

    def _callback_ended(self, callback_id: str, live: LiveCall) -> None:
        self._live.pop(live.id, None)
        status = "completed" if live.media.answered_at is not None else "failed"
        self._callbacks_ended.append((callback_id, status, True))
        self._wake.set()

    # -- stopping --------------------------------------------------------------------------
    async def drain(self) -> None:
        """Stop placing calls (the caller cancelled `run`), let this node's calls end for up to
        `drain_s` and settle them; what is left is recovered at the next start."""
        await self.scope.drain(self.config.drain_s)
        waiters = [asyncio.create_task(live.done.wait(), name="dialer:drain")
                   for live in self._live.values()]
        if waiters:
            await asyncio.wait(waiters, timeout=self.config.drain_s)
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)
        await self.flush()


def _request(plan: CampaignPlan, lead: claims.ClaimedLead) -> Originate:
    return Originate(
        to=lead.phone, caller_id=plan.caller_id, trunk_id=plan.trunk_id,
        lead=LeadContext(lead.id, lead.phone, lead.name, "dialing", lead.custom_fields),
        campaign_id=plan.id, campaign_agent_id=plan.voice_agent_id)
