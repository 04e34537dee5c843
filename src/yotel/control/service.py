"""The Control API's plane (page 003; PRODUCT.md §5): who may act on a call, how often, with
what idempotency, and the response envelope. The verbs themselves are in `verbs.py`.

Order of checks: the credential (401), its reach (a callback token for another call, a tenant key
without `ai_sessions:control_admin`: 403), the body (400, before anything is counted), the call
(404, another tenant's: 403), the rate limit (10/s per call across nodes: 429), the idempotency
record (a replay is answered here, even after the call ended), the call's state (ended: 409),
then the verb.

The rate limit of a call this node carries is counted here, in memory: a verb runs on the node
that owns the call's media (another node can only hand it over), so the owner sees every verb
of its calls and a shared counter would add a Redis round trip per verb for nothing. A call
this node does not carry (ended, or another node's) is counted in the shared store.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from yotel.calls.service import CallService
from yotel.calls.tokens import iso
from yotel.control.bodies import (
    ACTION,
    ACTION_WINDOW_S,
    KEYLESS,
    REPLAY_WINDOW_S,
    Verb,
)
from yotel.control.dispatch import run_verb
from yotel.control.idempotency import IdempotencyStore, Stored, fingerprint
from yotel.control.verbs import VerbContext
from yotel.counters import Counters
from yotel.counters.memory import MemoryCounters
from yotel.db.engine import Database
from yotel.db.models import Call
from yotel.domain.errors import Conflict, NotFound, PermissionDenied, RateLimited
from yotel.domain.ids import is_uuid
from yotel.tenancy.principal import Principal

log = logging.getLogger(__name__)
ADMIN_SCOPE = "ai_sessions:control_admin"
RATE_LIMIT = 10  # requests per second per call_id (PRODUCT.md §5)
RATE_WINDOW_S = 1.0


class ControlRateLimited(RateLimited):
    """429 with the RateLimit-* headers PRODUCT.md §5 asks for."""

    def __init__(self, retry_after_s: float, limit: int, reset_s: float) -> None:
        super().__init__("10 requests per second per call_id exceeded",
                         retry_after_s=retry_after_s)
        self.limit, self.reset_s = limit, reset_s

    @property
    def headers(self) -> dict[str, str]:
        return {**super().headers, **rate_headers(self.limit, 0, self.reset_s)}


def rate_headers(limit: int, remaining: int, reset_s: float) -> dict[str, str]:
    return {"RateLimit-Limit": str(limit), "RateLimit-Remaining": str(remaining),
            "RateLimit-Reset": str(max(0, int(-(-reset_s // 1))))}


@dataclass(frozen=True)
class ControlReply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass(frozen=True)
class CallRef:
    id: str
    tenant_id: str
    state: str  # calls.records.CallState
    lead_id: str | None
    campaign_id: str | None


class ControlService:
    def __init__(self, *, db: Database, counters: Counters, calls: CallService | None,
                 allow_insecure: bool) -> None:
        self.db = db
        self.counters = counters
        self.calls = calls
        self.allow_insecure = allow_insecure
        self.idempotency = IdempotencyStore(counters)
        self._owned_limits = MemoryCounters()  # the calls this node carries (see above)

    async def handle(self, call_id: str, principal: Principal, verb: Verb,
                     idempotency_key: str | None) -> ControlReply:
        """`verb` parsed already (the API validates the body against the union: 400)."""
        self._check_reach(call_id, principal)
        call, owned = await self._call(call_id, principal)
        headers = await self._rate_limit(call_id, self._owned_limits if owned else self.counters)
        key = None if verb.event in KEYLESS else idempotency_key
        if key is None:
            return await self._run(call, verb, headers)
        print_ = fingerprint(verb.model_dump(mode="json"))
        ttl = ACTION_WINDOW_S if verb.event in ACTION else REPLAY_WINDOW_S
        stored = await self.idempotency.claim(call_id, key, print_, ttl)
        if stored is not None:
            return ControlReply(stored.status, stored.body,
                                {**headers, "Idempotent-Replayed": "true"})
        try:
            reply = await self._run(call, verb, headers)
        except BaseException:
            await self.idempotency.release(call_id, key)
            raise
        await self.idempotency.finish(call_id, key, print_, Stored(reply.status, reply.body),
                                      ttl)
        return reply

    @staticmethod
    def _check_reach(call_id: str, principal: Principal) -> None:
        if principal.call_id is not None:
            if principal.call_id != call_id:
                raise PermissionDenied("this callback token is bound to another call")
            return
        if not principal.has_scope(ADMIN_SCOPE):
            raise PermissionDenied(f"tenant keys need the opt-in {ADMIN_SCOPE!r} scope "
                                   "to drive calls")

    async def _call(self, call_id: str, principal: Principal) -> tuple[CallRef, bool]:
        """The call, and whether this node carries it."""
        ref = self._local(call_id)
        owned = ref is not None
        if ref is None:
            ref = await self._stored(call_id)
        if ref.tenant_id != principal.tenant_id:
            raise PermissionDenied("the call belongs to another tenant")
        return ref, owned

    def _local(self, call_id: str) -> CallRef | None:
        """A call this node carries is known in memory: no database read per verb."""
        live = self.calls.directory.get(call_id) if self.calls is not None else None
        if live is None:
            return None
        context = live.context
        return CallRef(live.id, context.tenant_id, live.media.state,
                       context.lead.id if context.lead else None, context.campaign_id)

    async def _stored(self, call_id: str) -> CallRef:
        row = None
        if is_uuid(call_id):
            async with self.db.read() as session:
                row = (await session.execute(select(
                    Call.id, Call.tenant_id, Call.state, Call.lead_id, Call.campaign_id)
                    .where(Call.id == call_id))).first()
        if row is None:
            raise NotFound("no such call")
        return CallRef(row[0], row[1], row[2], row[3], row[4])

    @staticmethod
    async def _rate_limit(call_id: str, counters: Counters) -> dict[str, str]:
        result = await counters.rate_limit(f"control-rate:{call_id}", RATE_LIMIT, RATE_WINDOW_S)
        if not result.allowed:
            raise ControlRateLimited(result.retry_after_s, result.limit, result.reset_s)
        return rate_headers(result.limit, result.remaining, result.reset_s)

    async def _run(self, call: CallRef, verb: Verb, headers: dict[str, str]) -> ControlReply:
        # After the idempotency record: a replay of a hangup gets its cached 200 even though
        # the call has ended since (page 003, strongly idempotent verbs).
        if call.state == "ended":
            raise Conflict("the call has already ended")
        live = self.calls.directory.get(call.id) if self.calls is not None else None
        context = VerbContext(db=self.db, calls=self.calls, call=call, live=live,
                              allow_insecure=self.allow_insecure)
        result = await run_verb(context, verb)
        body = {"ok": True, "call_id": call.id, "dispatched_at": iso(datetime.now(UTC)),
                "result": result}
        return ControlReply(200, body, headers)

