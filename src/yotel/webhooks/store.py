"""The dispatcher's side of the database: fan events out into deliveries, claim due
deliveries, record attempts.

- Fan-out takes undispatched outbox events (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the
  `BEGIN IMMEDIATE` writer lock on SQLite), inserts one delivery per matching enabled endpoint
  (`ON CONFLICT DO NOTHING` on the (endpoint, event) key, so a repeated fan-out adds nothing) and
  marks the events dispatched, in one transaction.
- A claim is `UPDATE … SET claimed_by, claimed_until WHERE id IN (SELECT … FOR UPDATE SKIP
  LOCKED)`: two dispatchers never hold the same row, and a claim lapses (a crashed node) after
  `lease_s`. A delivery is due only when no earlier event of its call is still undelivered for
  the same endpoint, nor still waiting in the outbox: a call's events go out in order.
- An attempt's result is written only while the row is still this node's claim.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, exists, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from yotel.db.engine import Database
from yotel.db.models import OutboxEvent, WebhookDelivery, WebhookEndpoint
from yotel.domain.ids import new_id
from yotel.domain.secretbox import SecretBox
from yotel.webhooks.schedule import RetrySchedule
from yotel.webhooks.schemas import ALL_EVENTS

log = logging.getLogger("yotel.webhooks")
WAITING = ("pending", "failed")
MAX_ERROR_CHARS = 500


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
    """What one dispatcher pass may do."""

    node_id: str
    fan_out_limit: int
    claim_limit: int
    lease_s: float
    schedule: RetrySchedule
    disable_after_s: float
    skip_endpoints: tuple[str, ...] = ()


async def has_work(db: Database, now: datetime, skip_endpoints: Iterable[str] = ()) -> bool:
    """Whether an event waits for fan-out or a delivery is due: a read, so an idle
    dispatcher never takes SQLite's writer lock from the call layer."""
    undispatched = exists().where(OutboxEvent.dispatched_at.is_(None))
    due = exists(_due_query(now, skip_endpoints))
    async with db.read() as session:
        return bool(await session.scalar(select(or_(undispatched, due))))


async def dispatch_pass(db: Database, box: SecretBox, finished: Sequence[Attempt],
                        plan: PassPlan, now: datetime) -> tuple[int, list[Claimed]]:
    """One write transaction: record `finished` attempts, fan out new events, claim due
    deliveries. The number of events fanned out, and the claimed deliveries."""
    async with db.write() as session:
        await _record(session, finished, plan)
        fanned = await _fan_out(session, plan.fan_out_limit, now)
        claimed = await _claim(session, plan, now) if plan.claim_limit > 0 else []
        endpoints = {row.id: row for row in (await session.scalars(select(WebhookEndpoint).where(
            WebhookEndpoint.id.in_({c[1] for c in claimed})))).all()} if claimed else {}
        events = select(OutboxEvent.id, OutboxEvent.payload).where(
            OutboxEvent.id.in_({c[2] for c in claimed}))
        payloads: dict[str, dict[str, Any]] = {
            row[0]: row[1] for row in (await session.execute(events)).all()} if claimed else {}
    opened = {eid: (row.url, _secrets_or_none(box, row, now)) for eid, row in endpoints.items()}
    deliveries = sorted((Claimed(c[0], c[1], c[2], c[3], *opened[c[1]], payloads[c[2]])
                         for c in claimed), key=lambda c: c.id)
    return fanned, deliveries


async def _fan_out(session: AsyncSession, limit: int, now: datetime) -> int:
    """Turn up to `limit` undispatched events into deliveries; the number of events taken."""
    events = (await session.scalars(
        select(OutboxEvent).where(OutboxEvent.dispatched_at.is_(None))
        .order_by(OutboxEvent.created_at, OutboxEvent.id).limit(limit)
        .with_for_update(skip_locked=True))).all()
    if not events:
        return 0
    tenants = {event.tenant_id for event in events}
    endpoints = (await session.scalars(select(WebhookEndpoint).where(
        WebhookEndpoint.tenant_id.in_(tenants), WebhookEndpoint.enabled))).all()
    rows = [_delivery_row(event, endpoint.id, now)
            for event in events for endpoint in endpoints
            if endpoint.tenant_id == event.tenant_id and _matches(endpoint.events, event.type)]
    if rows:
        await session.execute(_insert_ignoring_duplicates(session), rows)
    await session.execute(update(OutboxEvent).where(
        OutboxEvent.id.in_([event.id for event in events])).values(dispatched_at=now))
    return len(events)


def _delivery_row(event: OutboxEvent, endpoint_id: str, now: datetime) -> dict[str, Any]:
    return {"id": new_id(), "tenant_id": event.tenant_id, "endpoint_id": endpoint_id,
            "event_id": event.id, "event_type": event.type, "call_id": event.call_id,
            "sequence": event.sequence, "status": "pending", "attempts": 0,
            "next_attempt_at": now, "created_at": now, "updated_at": now}


def _insert_ignoring_duplicates(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(WebhookDelivery).on_conflict_do_nothing(
        index_elements=["endpoint_id", "event_id"])


def _due_query(now: datetime, skip_endpoints: Iterable[str]) -> Any:
    earlier = aliased(WebhookDelivery)
    row = WebhookDelivery
    blocked_here = exists().where(
        earlier.endpoint_id == row.endpoint_id, earlier.call_id == row.call_id,
        earlier.sequence < row.sequence, earlier.status.in_(WAITING))
    blocked_in_outbox = exists().where(
        OutboxEvent.call_id == row.call_id, OutboxEvent.sequence < row.sequence,
        OutboxEvent.dispatched_at.is_(None))
    query = (select(row.id).join(WebhookEndpoint, WebhookEndpoint.id == row.endpoint_id)
             .where(row.status.in_(WAITING), row.next_attempt_at <= now,
                    or_(row.claimed_until.is_(None), row.claimed_until < now),
                    WebhookEndpoint.enabled, ~blocked_here, ~blocked_in_outbox))
    skip = list(skip_endpoints)
    if skip:
        query = query.where(row.endpoint_id.not_in(skip))
    return query


async def _claim(session: AsyncSession, plan: PassPlan, now: datetime) -> list[Any]:
    """Claim up to `claim_limit` due deliveries for `lease_s` seconds."""
    row = WebhookDelivery
    due = (_due_query(now, plan.skip_endpoints)
           .order_by(row.next_attempt_at, row.call_id, row.sequence).limit(plan.claim_limit)
           .with_for_update(skip_locked=True, of=row))
    return list((await session.execute(
        update(row).where(row.id.in_(due.scalar_subquery()))
        .values(claimed_by=plan.node_id, claimed_until=now + timedelta(seconds=plan.lease_s))
        .returning(row.id, row.endpoint_id, row.event_id, row.attempts)
        .execution_options(synchronize_session=False))).all())


def _secrets_or_none(box: SecretBox, endpoint: WebhookEndpoint,
                     now: datetime) -> tuple[str, ...]:
    """The signing secrets, or none when they cannot be opened (the process secret key was
    changed): the attempt then fails without sending anything unsigned."""
    try:
        return signing_secrets(box, endpoint, now)
    except ValueError:
        log.error("webhook endpoint %s: signing secret cannot be decrypted (was the secret key "
                  "changed?)", endpoint.id)
        return ()


def signing_secrets(box: SecretBox, endpoint: WebhookEndpoint, now: datetime) -> tuple[str, ...]:
    """The current secret, and the previous one while its rotation overlap lasts."""
    current = box.open(endpoint.secret_sealed)
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret_sealed is None or expires is None or expires <= now:
        return (current,)
    return (current, box.open(endpoint.previous_secret_sealed))


async def release(db: Database, ids: Sequence[str], *, node_id: str) -> None:
    """Hand back claimed rows not attempted (this node had no room for them)."""
    if not ids:
        return
    async with db.write() as session:
        await session.execute(update(WebhookDelivery).where(
            WebhookDelivery.id.in_(ids), WebhookDelivery.claimed_by == node_id)
            .values(claimed_by=None, claimed_until=None))


_TABLE = WebhookEndpoint.metadata.tables["webhook_deliveries"]
_RECORD = (update(_TABLE)
           .where(_TABLE.c.id == bindparam("b_id"), _TABLE.c.claimed_by == bindparam("b_node"),
                  _TABLE.c.attempts == bindparam("b_attempts"))
           .values(status=bindparam("v_status"), attempts=bindparam("v_attempts"),
                   next_attempt_at=bindparam("v_next_attempt_at"),
                   last_status_code=bindparam("v_last_status_code"),
                   last_error=bindparam("v_last_error"), latency_ms=bindparam("v_latency_ms"),
                   delivered_at=bindparam("v_delivered_at"), claimed_by=None, claimed_until=None,
                   updated_at=bindparam("v_updated_at")))


async def _record(session: AsyncSession, attempts: Sequence[Attempt], plan: PassPlan) -> None:
    """Write a batch of attempts' results, and the endpoints' failure clocks."""
    if not attempts:
        return
    params = [_result_params(attempt, plan.node_id, plan.schedule) for attempt in attempts]
    now = max(attempt.at for attempt in attempts)
    failing = {a.delivery.endpoint_id for a in attempts if not a.ok}
    healthy = {a.delivery.endpoint_id for a in attempts if a.ok} - failing
    await session.execute(_RECORD, params)
    await _failure_clocks(session, failing, healthy, now, plan.disable_after_s)


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


async def _failure_clocks(session: AsyncSession, failing: set[str], healthy: set[str],
                          now: datetime, disable_after_s: float) -> None:
    """An endpoint's `failing_since` starts at its first failure after a success; one failing
    for `disable_after_s` (5 days) is disabled until the tenant re-enables it."""
    endpoint = WebhookEndpoint
    if healthy:
        await session.execute(update(endpoint).where(
            endpoint.id.in_(healthy), endpoint.failing_since.is_not(None))
            .values(failing_since=None))
    if not failing:
        return
    await session.execute(update(endpoint).where(
        endpoint.id.in_(failing), endpoint.failing_since.is_(None)).values(failing_since=now))
    limit = now - timedelta(seconds=disable_after_s)
    await session.execute(update(endpoint).where(and_(
        endpoint.id.in_(failing), endpoint.enabled, endpoint.failing_since <= limit))
        .values(enabled=False, updated_at=now,
                disabled_reason=f"failing for {disable_after_s / 86400:g} days"))
