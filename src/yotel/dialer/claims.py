"""The dialer's side of the `leads` table: claim due leads, hand back the ones not dialled,
settle the ones that were, complete a campaign with nothing left.

A claim is one statement, `UPDATE leads SET status = 'dialing', claimed_by, claimed_until
WHERE id IN (SELECT ... LIMIT n) RETURNING ...`, in a write transaction that first locks the
campaign row: on PostgreSQL the inner SELECT is `FOR UPDATE SKIP LOCKED` (two nodes' claimers
pass each other's rows by) and the campaign row's `FOR UPDATE` serialises the count of live
calls against `max_concurrent_calls`; on SQLite the transaction is `BEGIN IMMEDIATE`
(`Database.write`), so a claim is a single writer's and no two claimers see the same rows.
Every later change to a claimed lead is conditional on it still being `dialing` (and, for a
settle, on the call not being counted yet), so a late or repeated write changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from yotel.db.engine import Database
from yotel.db.models import Call, Campaign, DndEntry, DndRegistryEntry, Lead
from yotel.dialer.retry import Verdict


@dataclass(frozen=True, slots=True)
class ClaimedLead:
    id: str
    tenant_id: str
    campaign_id: str
    phone: str
    name: str | None
    timezone: str | None
    custom_fields: dict[str, Any]
    attempts: int
    last_call_id: str | None
    claimed_until: datetime


@dataclass(frozen=True, slots=True)
class Settlement:
    """One dialled lead's end: its call and verdict. `call_id` None: the call failed to
    start and the lead's newest call row tells whether one was placed at all (a call row
    other than `previous_call_id`); if none was, the lead is handed back undialled."""

    lead_id: str
    call_id: str | None
    outcome: str
    verdict: Verdict
    previous_call_id: str | None = None


_RETURNED = (Lead.id, Lead.tenant_id, Lead.campaign_id, Lead.phone, Lead.name, Lead.timezone,
             Lead.custom_fields, Lead.attempts, Lead.last_call_id, Lead.claimed_until)


async def claim_leads(db: Database, campaign_id: str, *, node_id: str, limit: int,
                      now: datetime, lease_s: float) -> list[ClaimedLead]:
    """Claim up to `limit` due leads of a running campaign, fewer when its live calls
    (`dialing` leads, on every node) leave less room under `max_concurrent_calls`."""
    async with db.write() as session:
        room = await _room(session, campaign_id)
        count = min(limit, room)
        if count <= 0:
            return []
        due = (select(Lead.id)
               .where(Lead.campaign_id == campaign_id, Lead.status == "pending",
                      Lead.next_attempt_at <= now)
               .order_by(Lead.next_attempt_at, Lead.created_at, Lead.id)
               .limit(count).with_for_update(skip_locked=True))
        claimed = (update(Lead).where(Lead.id.in_(due.scalar_subquery()))
                   .values(status="dialing", claimed_by=node_id,
                           claimed_until=now + timedelta(seconds=lease_s), updated_at=now)
                   .returning(*_RETURNED)
                   .execution_options(synchronize_session=False))
        rows = (await session.execute(claimed)).all()
    return sorted((ClaimedLead(*row) for row in rows), key=lambda lead: lead.id)


async def _room(session: AsyncSession, campaign_id: str) -> int:
    """Calls the campaign may still start: 0 unless it is running (checked under the lock, so a
    pause that commits first is seen)."""
    row = (await session.execute(
        select(Campaign.status, Campaign.max_concurrent_calls)
        .where(Campaign.id == campaign_id).with_for_update())).first()
    if row is None or row.status != "running":
        return 0
    live = await session.scalar(select(func.count()).select_from(Lead).where(
        Lead.campaign_id == campaign_id, Lead.status == "dialing"))
    return int(row.max_concurrent_calls) - int(live or 0)


async def blocked_numbers(db: Database, tenant_id: str, phones: Sequence[str]) -> set[str]:
    """Which of `phones` are on the tenant's DND list or the platform registry (one query)."""
    if not phones:
        return set()
    wanted = sorted(set(phones))
    tenant = select(DndEntry.phone).where(DndEntry.tenant_id == tenant_id,
                                          DndEntry.phone.in_(wanted))
    platform = select(DndRegistryEntry.phone).where(DndRegistryEntry.phone.in_(wanted))
    async with db.read() as session:
        return set((await session.scalars(tenant.union(platform))).all())


async def release(db: Database, node_id: str, leads: Sequence[tuple[str, datetime]],
                  now: datetime) -> None:
    """Hand claimed leads back undialled (no attempt counted), each due again at its time."""
    if not leads:
        return
    async with db.write() as session:
        for lead_id, due in leads:
            await session.execute(
                _mine(lead_id, node_id)
                .values(status="pending", claimed_by=None, claimed_until=None,
                        next_attempt_at=due, updated_at=now)
                .execution_options(synchronize_session=False))


async def mark_dnd(db: Database, node_id: str, lead_ids: Sequence[str], now: datetime) -> None:
    """The number is on a DND list: `dnd_blocked`, never dialled, no attempt counted."""
    if not lead_ids:
        return
    async with db.write() as session:
        await session.execute(
            update(Lead).where(Lead.id.in_(lead_ids), Lead.status == "dialing",
                               Lead.claimed_by == node_id)
            .values(status="dnd_blocked", claimed_by=None, claimed_until=None, updated_at=now)
            .execution_options(synchronize_session=False))


def _mine(lead_id: str, node_id: str) -> Any:
    return update(Lead).where(Lead.id == lead_id, Lead.status == "dialing",
                              Lead.claimed_by == node_id)


async def settle(db: Database, settlements: Sequence[Settlement], now: datetime) -> int:
    """Write dialled leads' verdicts in one transaction; how many changed. A lead is settled
    once per call: the update needs it `dialing` and its `last_call_id` not this call yet.
    The leads are read (and locked) first, so the writes are two executemany statements
    whose effect is known without their row counts (asyncpg reports none for a batch)."""
    if not settlements:
        return 0
    handed_back: list[dict[str, Any]] = []
    counted: list[dict[str, Any]] = []
    async with db.write() as session:
        dialing = await _dialing(session, sorted({item.lead_id for item in settlements}))
        for item in settlements:
            if item.lead_id not in dialing:
                continue
            last_call_id = dialing[item.lead_id]
            call_id = item.call_id or await newest_call(session, item.lead_id)
            if call_id is None or call_id == item.previous_call_id:
                del dialing[item.lead_id]  # no longer `dialing` for a later item
                handed_back.append({"lead_id": item.lead_id})
            elif call_id != last_call_id:
                del dialing[item.lead_id]
                verdict = item.verdict
                counted.append({"lead_id": item.lead_id, "call_id": call_id,
                                "status": verdict.status, "attempts": verdict.attempts,
                                "outcome": item.outcome, "due": verdict.next_attempt_at})
        connection = await session.connection()
        if handed_back:
            await connection.execute(_HAND_BACK, [row | {"now": now} for row in handed_back])
        if counted:
            await connection.execute(_COUNT, [row | {"now": now} for row in counted])
    return len(handed_back) + len(counted)


async def _dialing(session: AsyncSession, lead_ids: list[str]) -> dict[str, str | None]:
    """The `dialing` leads among `lead_ids` (locked until the transaction ends), with their
    `last_call_id`."""
    rows = await session.execute(
        select(Lead.id, Lead.last_call_id)
        .where(Lead.id.in_(lead_ids), Lead.status == "dialing").with_for_update())
    return {lead_id: last_call_id for lead_id, last_call_id in rows.all()}


_LEADS = cast(Table, Lead.__table__)
# The same conditions as the read above, so a statement never changes a row it should not.
_HAND_BACK = (
    _LEADS.update()
    .where(_LEADS.c.id == bindparam("lead_id"), _LEADS.c.status == "dialing")
    .values(status="pending", claimed_by=None, claimed_until=None,
            next_attempt_at=bindparam("now"), updated_at=bindparam("now")))
_COUNT = (
    _LEADS.update()
    .where(_LEADS.c.id == bindparam("lead_id"), _LEADS.c.status == "dialing",
           or_(_LEADS.c.last_call_id.is_(None),
               _LEADS.c.last_call_id != bindparam("call_id")))
    .values(status=bindparam("status"), attempts=bindparam("attempts"),
            last_outcome=bindparam("outcome"), last_call_id=bindparam("call_id"),
            next_attempt_at=bindparam("due"), claimed_by=None, claimed_until=None,
            updated_at=bindparam("now")))


async def newest_call(session: AsyncSession, lead_id: str) -> str | None:
    """The lead's most recent call row (the call layer writes it before the INVITE)."""
    return (await session.scalars(
        select(Call.id).where(Call.lead_id == lead_id)
        .order_by(Call.created_at.desc(), Call.id.desc()).limit(1))).first()


async def complete_if_done(db: Database, campaign_id: str, now: datetime) -> bool:
    """`running` → `completed` when no lead is left `pending` or `dialing` (one conditional
    statement: a lead added meanwhile keeps the campaign running)."""
    unfinished = exists().where(Lead.campaign_id == campaign_id,
                                Lead.status.in_(("pending", "dialing")))
    async with db.read() as session:
        if await session.scalar(select(unfinished)):
            return False
    async with db.write() as session:
        result = await session.execute(
            update(Campaign).where(Campaign.id == campaign_id, Campaign.status == "running",
                                   ~unfinished)
            .values(status="completed", ended_at=now, updated_at=now)
            .execution_options(synchronize_session=False))
        return bool(result.rowcount)  # type: ignore[attr-defined]


async def pause(db: Database, campaign_id: str, now: datetime) -> bool:
    """`running` → `paused` (the dialer cannot place its calls: no agent, no trunk)."""
    async with db.write() as session:
        result = await session.execute(
            update(Campaign).where(Campaign.id == campaign_id, Campaign.status == "running")
            .values(status="paused", updated_at=now)
            .execution_options(synchronize_session=False))
        return bool(result.rowcount)  # type: ignore[attr-defined]
