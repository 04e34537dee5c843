"""The dispatcher's side of the database: fan events out into deliveries, claim due
deliveries, record attempts. Core statements built once, on one connection (no ORM objects): a
pass moves hundreds of rows, and the statement count, not the rows, sets its time.

- Fan-out marks up to `limit` undispatched outbox events dispatched in one
  `UPDATE … WHERE id = ANY (ARRAY(SELECT … FOR UPDATE SKIP LOCKED)) RETURNING` (`id IN (…)`
  and the `BEGIN IMMEDIATE` writer lock on SQLite), inserts one delivery per matching enabled
  endpoint (`ON CONFLICT DO NOTHING` on the (endpoint, event) key, so a repeated fan-out adds
  nothing), in one transaction.
- A claim is `UPDATE … SET claimed_by, claimed_until` of the rows a `SELECT … FOR UPDATE SKIP
  LOCKED` picks (same shape): two dispatchers never hold the same row, and a claim lapses (a
  crashed node) after `lease_s`. A delivery is due only when no earlier event of its call is
  still waiting for the same endpoint, nor still in the outbox: a call's events go out in order.
- A claimed head (the earliest waiting delivery of its call for its endpoint) takes its call's
  next waiting deliveries with it, as one chain the dispatcher sends in order, stopping at the
  first failure. No other node can claim them meanwhile (the head blocks them); the chain grows
  over the rows right after the head, read in one snapshot, each due, unclaimed and not held
  back by the outbox, and claimed by key only if still so (a row changed meanwhile ends the
  chain). A call's events still go out one at a time and in order, and a backlog of a call's
  events costs one pass instead of one pass per event.
- An attempt's result is written only while the row is still this node's claim.
- The order checks and the claim's scan read the partial index over waiting deliveries
  (migrations 0005, 0006), so their cost follows the backlog, not the delivered history.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Integer,
    and_,
    any_,
    bindparam,
    exists,
    func,
    literal_column,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from yotel.db.engine import Database
from yotel.db.models import OutboxEvent, WebhookDelivery, WebhookEndpoint
from yotel.domain.ids import new_id
from yotel.domain.secretbox import SecretBox
from yotel.webhooks.schedule import RetrySchedule
from yotel.webhooks.schemas import ALL_EVENTS

log = logging.getLogger("yotel.webhooks")
WAITING = ("pending", "failed")
MAX_ERROR_CHARS = 500
MAX_CHAIN = 50  # a call's deliveries one claim sends in a row (a backlog drains in steps)

DbRow = Any  # a Core result row, read by column name
_OUTBOX = OutboxEvent.metadata.tables[OutboxEvent.__tablename__]
_DELIVERY = WebhookDelivery.metadata.tables[WebhookDelivery.__tablename__]
_ENDPOINT = WebhookEndpoint.metadata.tables[WebhookEndpoint.__tablename__]


@dataclass(frozen=True, slots=True)
class Claimed:
    """One attempt to make: what to send, where, signed with which secrets."""

    id: str
    endpoint_id: str
    event_id: str
    attempts: int
    url: str
    secrets: tuple[str, ...]
    payload: dict[str, Any]
    call_id: str | None = None
    sequence: int = 0
    # The endpoint's failure clock was running when claimed: a success must stop it.
    endpoint_failing: bool = False
    claimed_until: datetime | None = None  # when the claim lapses (another node may take it)

    @property
    def chain_key(self) -> tuple[str, str]:
        """Deliveries with one key go out one at a time, in `sequence` order."""
        return (self.endpoint_id, self.call_id or self.id)


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one attempt gave: a status code, or an error before any response."""

    delivery: Claimed
    status_code: int | None
    error: str | None
    latency_ms: int
    at: datetime

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _matches(filter_: Sequence[str], kind: str) -> bool:
    return ALL_EVENTS in filter_ or kind in filter_


@dataclass(frozen=True, slots=True)
class PassPlan:
    """What one dispatcher pass may do: `claim_limit` counts chains (one call's deliveries to
    one endpoint, sent one after the other)."""

    node_id: str
    fan_out_limit: int
    claim_limit: int
    lease_s: float
    schedule: RetrySchedule
    disable_after_s: float
    skip_endpoints: tuple[str, ...] = ()
    max_chain: int = MAX_CHAIN


async def has_work(db: Database, now: datetime, skip_endpoints: Iterable[str] = ()) -> bool:
    """Whether an event waits for fan-out or a delivery is due: a read, so an idle
    dispatcher never takes SQLite's writer lock from the call layer."""
    async with db.read() as session:
        return bool(await session.scalar(_HAS_WORK, {"now": now, "skip": list(skip_endpoints)}))


@dataclass(slots=True)
class _Seen:
    """Rows a pass has read once and may need again (fan-out, then claim)."""

    endpoints: dict[str, DbRow]
    payloads: dict[str, dict[str, Any]]
    fanned_calls: Counter[str | None] = field(default_factory=Counter)  # this pass's events

    def may_have_followers(self, head: DbRow) -> bool:
        """Whether later deliveries may wait behind `head`: it was retried, or fanned out in
        an earlier pass (it waited behind something), or its call had more events in this
        pass's fan-out. A head fanned out alone just now (the steady case) skips the chain
        query; a follower it misses would go out as a head of a later pass anyway."""
        return (head.attempts > 0 or head.event_id not in self.payloads
                or self.fanned_calls[head.call_id] > 1)


async def dispatch_pass(db: Database, box: SecretBox, finished: Sequence[Attempt],
                        plan: PassPlan, now: datetime,
                        unsent: Sequence[str] = ()) -> tuple[int, list[Claimed]]:
    """One write transaction: record `finished` attempts, hand back `unsent` claims (the rest
    of a chain after a failure), fan out new events, claim due deliveries. The number of
    events fanned out, and the claimed deliveries in sending order within each chain."""
    seen = _Seen({}, {})
    async with db.transaction() as connection:
        await _record(connection, finished, plan)
        await _release(connection, unsent, plan.node_id)
        fanned = await _fan_out(connection, plan.fan_out_limit, now, seen)
        rows = await _claim(connection, plan, now, seen) if plan.claim_limit > 0 else []
        await _load_missing(connection, rows, seen)
    until = now + timedelta(seconds=plan.lease_s)
    claimed_endpoints = {row.endpoint_id for row in rows}
    opened = {eid: (row.url, _secrets_or_none(box, row, now), row.failing_since is not None)
              for eid, row in seen.endpoints.items() if eid in claimed_endpoints}
    deliveries = [Claimed(r.id, r.endpoint_id, r.event_id, r.attempts,
                          opened[r.endpoint_id][0], opened[r.endpoint_id][1],
                          seen.payloads[r.event_id], r.call_id, r.sequence,
                          opened[r.endpoint_id][2], until) for r in rows]
    deliveries.sort(key=lambda c: (c.chain_key, c.sequence, c.id))
    return fanned, deliveries


_ENDPOINT_COLUMNS = (_ENDPOINT.c.id, _ENDPOINT.c.tenant_id, _ENDPOINT.c.url, _ENDPOINT.c.events,
                     _ENDPOINT.c.secret_sealed, _ENDPOINT.c.previous_secret_sealed,
                     _ENDPOINT.c.previous_secret_expires_at, _ENDPOINT.c.failing_since)


def _waiting(row: Any) -> Any:
    """`status IN ('pending', 'failed')` with the values written into the SQL: the predicate of
    the partial indexes over waiting deliveries (migration 0005), which a plan can use only
    when it sees the values (a generic plan for bound parameters could not)."""
    return row.c.status.in_([literal_column(f"'{status}'") for status in WAITING])


# The statements of a pass, built once with bound parameters (`now`, `until`, `node`, `limit`,
# `skip`, …): building and cache-keying them anew each pass cost more CPU than running them.
_NOW = bindparam("now", type_=_DELIVERY.c.next_attempt_at.type)
_LIMIT = bindparam("limit", type_=Integer)

def _picked(column: Any, locked: Any) -> dict[str, Any]:
    """`column` is one of the rows `locked` selects, per dialect. PostgreSQL gets
    `= ANY (ARRAY(subquery))`: the subquery runs once, then the rows are fetched by key. As
    `IN (subquery)` or a join the planner may scan the whole table and rescan the subquery
    per row when its statistics are stale (the shared test server never vacuums: seconds)."""
    subquery = locked.scalar_subquery()
    return {"postgresql": column == any_(func.ARRAY(subquery)), "sqlite": column.in_(subquery)}


_FAN_OUT = {dialect: update(_OUTBOX).where(where).values(dispatched_at=_NOW)
            .returning(_OUTBOX.c.id, _OUTBOX.c.tenant_id, _OUTBOX.c.call_id, _OUTBOX.c.type,
                       _OUTBOX.c.sequence, _OUTBOX.c.payload)
            for dialect, where in _picked(
                _OUTBOX.c.id, select(_OUTBOX.c.id).where(_OUTBOX.c.dispatched_at.is_(None))
                .order_by(_OUTBOX.c.created_at, _OUTBOX.c.id).limit(_LIMIT)
                .with_for_update(skip_locked=True)).items()}
_TENANT_ENDPOINTS = select(*_ENDPOINT_COLUMNS).where(
    _ENDPOINT.c.tenant_id.in_(bindparam("tenants", expanding=True)), _ENDPOINT.c.enabled)
_ENDPOINTS_BY_ID = select(*_ENDPOINT_COLUMNS).where(
    _ENDPOINT.c.id.in_(bindparam("ids", expanding=True)))
_PAYLOADS = select(_OUTBOX.c.id, _OUTBOX.c.payload).where(
    _OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
_INSERT = {dialect.__name__.rsplit(".", 1)[-1]: dialect.insert(_DELIVERY).on_conflict_do_nothing(
    index_elements=["endpoint_id", "event_id"]) for dialect in (postgresql, sqlite)}


def _blocked_in_outbox(row: Any) -> Any:
    return exists().where(_OUTBOX.c.call_id == row.c.call_id,
                          _OUTBOX.c.sequence < row.c.sequence, _OUTBOX.c.dispatched_at.is_(None))


def _due_query() -> Any:
    """Deliveries that may be sent now (`now`), but those of endpoints in `skip`."""
    row = _DELIVERY
    earlier = _DELIVERY.alias("earlier")
    blocked_here = exists().where(
        earlier.c.endpoint_id == row.c.endpoint_id, earlier.c.call_id == row.c.call_id,
        earlier.c.sequence < row.c.sequence, _waiting(earlier))
    return (select(row.c.id).join(_ENDPOINT, _ENDPOINT.c.id == row.c.endpoint_id)
            .where(_waiting(row), row.c.next_attempt_at <= _NOW,
                   or_(row.c.claimed_until.is_(None), row.c.claimed_until < _NOW),
                   _ENDPOINT.c.enabled, ~blocked_here, ~_blocked_in_outbox(row),
                   row.c.endpoint_id.not_in(bindparam("skip", expanding=True))))


_HAS_WORK = select(or_(exists().where(_OUTBOX.c.dispatched_at.is_(None)),
                       exists(_due_query())))
_CLAIMED_COLUMNS = (_DELIVERY.c.id, _DELIVERY.c.endpoint_id, _DELIVERY.c.event_id,
                    _DELIVERY.c.attempts, _DELIVERY.c.call_id, _DELIVERY.c.sequence)


def _claim_statements(locked: Any) -> dict[str, Any]:
    """Claim the rows `locked` selects (by dialect), returning them."""
    return {dialect: update(_DELIVERY).where(where)
            .values(claimed_by=bindparam("node"), claimed_until=bindparam("until"))
            .returning(*_CLAIMED_COLUMNS)
            for dialect, where in _picked(_DELIVERY.c.id, locked).items()}


_CLAIM_HEADS = _claim_statements(
    _due_query().order_by(_DELIVERY.c.next_attempt_at, _DELIVERY.c.call_id,
                          _DELIVERY.c.sequence)
    .limit(_LIMIT).with_for_update(skip_locked=True, of=_DELIVERY))
# The waiting deliveries of the heads' calls (plain read: every row, none skipped, so a row's
# place in its call's list is its place in the queue).
_FOLLOWERS = (
    select(*_CLAIMED_COLUMNS, _DELIVERY.c.next_attempt_at, _DELIVERY.c.claimed_until,
           _blocked_in_outbox(_DELIVERY).label("held_back"))
    .where(tuple_(_DELIVERY.c.endpoint_id, _DELIVERY.c.call_id).in_(
        bindparam("pairs", expanding=True)), _waiting(_DELIVERY))
    .order_by(_DELIVERY.c.endpoint_id, _DELIVERY.c.call_id, _DELIVERY.c.sequence)
    .limit(_LIMIT))
# Claims the chosen followers that are still waiting and unclaimed by their keys (a row
# changed since it was read is left out: the chain ends before it).
_CLAIM_FOLLOWERS = (
    update(_DELIVERY)
    .where(_DELIVERY.c.id.in_(bindparam("ids", expanding=True)), _waiting(_DELIVERY),
           or_(_DELIVERY.c.claimed_until.is_(None), _DELIVERY.c.claimed_until < _NOW))
    .values(claimed_by=bindparam("node"), claimed_until=bindparam("until"))
    .returning(*_CLAIMED_COLUMNS))
_RELEASE = (update(_DELIVERY)
            .where(_DELIVERY.c.id.in_(bindparam("ids", expanding=True)),
                   _DELIVERY.c.claimed_by == bindparam("node"))
            .values(claimed_by=None, claimed_until=None))


async def _fan_out(connection: AsyncConnection, limit: int, now: datetime, seen: _Seen) -> int:
    """Turn up to `limit` undispatched events into deliveries; the number of events taken."""
    if limit <= 0:
        return 0
    events = (await connection.execute(_FAN_OUT[connection.dialect.name],
                                       {"limit": limit, "now": now})).all()
    if not events:
        return 0
    seen.payloads.update((event.id, event.payload) for event in events)
    seen.fanned_calls.update(event.call_id for event in events)
    endpoints = (await connection.execute(
        _TENANT_ENDPOINTS, {"tenants": list({event.tenant_id for event in events})})).all()
    seen.endpoints.update((endpoint.id, endpoint) for endpoint in endpoints)
    rows = [_delivery_row(event, endpoint.id, now)
            for event in events for endpoint in endpoints
            if endpoint.tenant_id == event.tenant_id and _matches(endpoint.events, event.type)]
    if rows:
        await connection.execute(_INSERT[connection.dialect.name], rows)
    return len(events)


def _delivery_row(event: DbRow, endpoint_id: str, now: datetime) -> dict[str, Any]:
    return {"id": new_id(), "tenant_id": event.tenant_id, "endpoint_id": endpoint_id,
            "event_id": event.id, "event_type": event.type, "call_id": event.call_id,
            "sequence": event.sequence, "status": "pending", "attempts": 0,
            "next_attempt_at": now, "created_at": now, "updated_at": now}


async def _claim(connection: AsyncConnection, plan: PassPlan, now: datetime,
                 seen: _Seen) -> list[DbRow]:
    """Claim up to `claim_limit` due chain heads for `lease_s` seconds, and with each its
    call's next deliveries for the endpoint."""
    until = now + timedelta(seconds=plan.lease_s)
    heads = (await connection.execute(_CLAIM_HEADS[connection.dialect.name], {
        "now": now, "until": until, "node": plan.node_id, "limit": plan.claim_limit,
        "skip": list(plan.skip_endpoints)})).all()
    chained = [head for head in heads
               if head.call_id is not None and seen.may_have_followers(head)]
    if not chained or plan.max_chain <= 1:
        return list(heads)
    return [*heads, *await _claim_followers(connection, chained, plan, now, until)]


async def _claim_followers(connection: AsyncConnection, heads: Sequence[DbRow],
                           plan: PassPlan, now: datetime, until: datetime) -> list[DbRow]:
    """The waiting deliveries right after each head, as long as each is due, unclaimed and
    not held back by an event still in the outbox."""
    waiting = (await connection.execute(_FOLLOWERS, {
        "pairs": [(head.endpoint_id, head.call_id) for head in heads],
        "limit": len(heads) * plan.max_chain * 2})).all()
    chosen = _chains(heads, waiting, now, plan.max_chain)
    if not chosen:
        return []
    claimed = {row.id: row for row in (await connection.execute(_CLAIM_FOLLOWERS, {
        "ids": [row.id for row in chosen], "now": now, "node": plan.node_id,
        "until": until})).all()}
    followers, dropped = _unbroken(chosen, claimed)
    if dropped:  # behind a row another transaction held: not this chain's to send now
        await _release(connection, dropped, plan.node_id)
    return followers


def _chains(heads: Sequence[DbRow], waiting: Sequence[DbRow], now: datetime,
            max_chain: int) -> list[DbRow]:
    """Each head's run of sendable followers: `waiting` holds all waiting deliveries of the
    heads' calls, sorted by sequence, so the head must come first and each follower next."""
    head_ids = {head.id for head in heads}
    length: dict[tuple[str, str], int] = {}
    followers: list[DbRow] = []
    for row in waiting:
        key = (row.endpoint_id, row.call_id)
        if key not in length:  # the call's first waiting delivery: the chain goes on only
            length[key] = 1 if row.id in head_ids else max_chain  # from our own head
            continue
        sendable = (length[key] < max_chain and row.next_attempt_at <= now
                    and not row.held_back
                    and (row.claimed_until is None or row.claimed_until < now))
        if not sendable:
            length[key] = max_chain
            continue
        length[key] += 1
        followers.append(row)
    return followers


def _unbroken(chosen: Sequence[DbRow],
              claimed: dict[str, DbRow]) -> tuple[list[DbRow], list[str]]:
    """The chosen followers up to the first one the claim could not take, per chain; and the
    claimed ids beyond that point."""
    broken: set[tuple[str, str]] = set()
    kept: list[DbRow] = []
    dropped: list[str] = []
    for row in chosen:
        key = (row.endpoint_id, row.call_id)
        if key in broken or row.id not in claimed:
            broken.add(key)
            if row.id in claimed:
                dropped.append(row.id)
            continue
        kept.append(claimed[row.id])
    return kept, dropped


async def _load_missing(connection: AsyncConnection, claimed: Sequence[DbRow],
                        seen: _Seen) -> None:
    """Endpoints and payloads of claimed rows that fan-out did not already read."""
    endpoint_ids = {row.endpoint_id for row in claimed} - seen.endpoints.keys()
    if endpoint_ids:
        rows = await connection.execute(_ENDPOINTS_BY_ID, {"ids": list(endpoint_ids)})
        seen.endpoints.update((row.id, row) for row in rows)
    event_ids = {row.event_id for row in claimed} - seen.payloads.keys()
    if event_ids:
        rows = await connection.execute(_PAYLOADS, {"ids": list(event_ids)})
        seen.payloads.update((row.id, row.payload) for row in rows)


def _secrets_or_none(box: SecretBox, endpoint: Any, now: datetime) -> tuple[str, ...]:
    """The signing secrets, or none when they cannot be opened (the process secret key was
    changed): the attempt then fails without sending anything unsigned."""
    try:
        return signing_secrets(box, endpoint, now)
    except ValueError:
        log.error("webhook endpoint %s: signing secret cannot be decrypted (was the secret key "
                  "changed?)", endpoint.id)
        return ()


def signing_secrets(box: SecretBox, endpoint: Any, now: datetime) -> tuple[str, ...]:
    """The current secret, and the previous one while its rotation overlap lasts (`endpoint`:
    a `WebhookEndpoint` or a row with its columns)."""
    current = box.open(endpoint.secret_sealed)
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret_sealed is None or expires is None or expires <= now:
        return (current,)
    return (current, box.open(endpoint.previous_secret_sealed))


async def release(db: Database, ids: Sequence[str], *, node_id: str) -> None:
    """Hand back claimed rows not attempted (this node had no room for them)."""
    if ids:
        async with db.transaction() as connection:
            await _release(connection, ids, node_id)


async def _release(connection: AsyncConnection, ids: Sequence[str], node_id: str) -> None:
    if ids:
        await connection.execute(_RELEASE, {"ids": list(ids), "node": node_id})


_RECORD = (update(_DELIVERY)
           .where(_DELIVERY.c.id == bindparam("b_id"),
                  _DELIVERY.c.claimed_by == bindparam("b_node"),
                  _DELIVERY.c.attempts == bindparam("b_attempts"))
           .values(status=bindparam("v_status"), attempts=bindparam("v_attempts"),
                   next_attempt_at=bindparam("v_next_attempt_at"),
                   last_status_code=bindparam("v_last_status_code"),
                   last_error=bindparam("v_last_error"), latency_ms=bindparam("v_latency_ms"),
                   delivered_at=bindparam("v_delivered_at"), claimed_by=None, claimed_until=None,
                   updated_at=bindparam("v_updated_at")))


async def _record(connection: AsyncConnection, attempts: Sequence[Attempt],
                  plan: PassPlan) -> None:
    """Write a batch of attempts' results, and the endpoints' failure clocks."""
    if not attempts:
        return
    params = [_result_params(attempt, plan.node_id, plan.schedule) for attempt in attempts]
    now = max(attempt.at for attempt in attempts)
    failing = {a.delivery.endpoint_id for a in attempts if not a.ok}
    healthy = {a.delivery.endpoint_id for a in attempts
               if a.ok and a.delivery.endpoint_failing} - failing
    await connection.execute(_RECORD, params)
    await _failure_clocks(connection, failing, healthy, now, plan.disable_after_s)


def _result_params(attempt: Attempt, node_id: str, schedule: RetrySchedule) -> dict[str, Any]:
    tried = attempt.delivery.attempts + 1
    delay = None if attempt.ok else schedule.next_delay(tried)
    status = "delivered" if attempt.ok else ("dead" if delay is None else "failed")
    next_at = attempt.at + timedelta(seconds=delay or 0.0)
    return {"b_id": attempt.delivery.id, "b_node": node_id,
            "b_attempts": attempt.delivery.attempts, "v_status": status, "v_attempts": tried,
            "v_next_attempt_at": next_at, "v_last_status_code": attempt.status_code,
            "v_last_error": (attempt.error or "")[:MAX_ERROR_CHARS] or None,
            "v_latency_ms": attempt.latency_ms,
            "v_delivered_at": attempt.at if attempt.ok else None, "v_updated_at": attempt.at}


async def _failure_clocks(connection: AsyncConnection, failing: set[str], healthy: set[str],
                          now: datetime, disable_after_s: float) -> None:
    """An endpoint's `failing_since` starts at its first failure after a success (`healthy`:
    endpoints that succeeded while their clock was running); one failing for
    `disable_after_s` (5 days) is disabled until the tenant re-enables it."""
    endpoint = _ENDPOINT
    if healthy:
        await connection.execute(update(endpoint).where(
            endpoint.c.id.in_(healthy), endpoint.c.failing_since.is_not(None))
            .values(failing_since=None))
    if not failing:
        return
    await connection.execute(update(endpoint).where(
        endpoint.c.id.in_(failing), endpoint.c.failing_since.is_(None))
        .values(failing_since=now))
    limit = now - timedelta(seconds=disable_after_s)
    await connection.execute(update(endpoint).where(and_(
        endpoint.c.id.in_(failing), endpoint.c.enabled, endpoint.c.failing_since <= limit))
        .values(enabled=False, updated_at=now,
                disabled_reason=f"failing for {disable_after_s / 86400:g} days"))
