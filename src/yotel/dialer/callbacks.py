"""Scheduled callbacks (PRODUCT.md §4 "Callbacks"), the dialer's side: claimed like leads
(`scheduled` → `dialing`, `claimed_by`, `claimed_until`) once `scheduled_at` has come, dialled
with their own `voice_agent_id` when they name one (else their campaign's, else the tenant
default), and settled once: `completed` when answered, `failed` otherwise, `dnd_blocked` when
the number is on a DND list at dial time. A callback is one attempt; the AI schedules another
if it wants one.

Crash safety as for leads (`dialer.recovery`): the calls row has no callback column, so a
callback's call is the tenant's call to its number written since its claim began
(`claimed_until - lease`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, or_, select, update

from yotel.db.engine import Database
from yotel.db.models import Call, Callback, Campaign

Status = str  # completed | failed | dnd_blocked | scheduled (handed back)


@dataclass(frozen=True, slots=True)
class ClaimedCallback:
    id: str
    tenant_id: str
    phone: str
    campaign_id: str | None
    lead_id: str | None
    voice_agent_id: str | None
    attempts: int
    claimed_until: datetime
    campaign_agent_id: str | None = None


async def claim_callbacks(db: Database, *, node_id: str, limit: int, now: datetime,
                          lease_s: float) -> list[ClaimedCallback]:
    """Claim up to `limit` due callbacks (`FOR UPDATE SKIP LOCKED` / SQLite's one writer)."""
    due_query = exists().where(Callback.status == "scheduled", Callback.scheduled_at <= now)
    async with db.read() as session:  # a cheap look first: most passes find none
        if not await session.scalar(select(due_query)):
            return []
    async with db.write() as session:
        due = (select(Callback.id)
               .where(Callback.status == "scheduled", Callback.scheduled_at <= now)
               .order_by(Callback.scheduled_at, Callback.id)
               .limit(limit).with_for_update(skip_locked=True))
        rows = (await session.execute(
            update(Callback).where(Callback.id.in_(due.scalar_subquery()))
            .values(status="dialing", claimed_by=node_id,
                    claimed_until=now + timedelta(seconds=lease_s), updated_at=now)
            .returning(Callback.id, Callback.tenant_id, Callback.phone, Callback.campaign_id,
                       Callback.lead_id, Callback.voice_agent_id, Callback.attempts,
                       Callback.claimed_until)
            .execution_options(synchronize_session=False))).all()
        claimed = [ClaimedCallback(*row) for row in rows]  # type: ignore[arg-type]
        campaigns = {c.campaign_id for c in claimed if c.campaign_id}
        pins = dict((await session.execute(
            select(Campaign.id, Campaign.voice_agent_id)
            .where(Campaign.id.in_(campaigns)))).all()) if campaigns else {}
    return [ClaimedCallback(*_fields(c), campaign_agent_id=pins.get(c.campaign_id or ""))
            for c in claimed]


def _fields(c: ClaimedCallback) -> tuple[str, str, str, str | None, str | None, str | None,
                                         int, datetime]:
    return (c.id, c.tenant_id, c.phone, c.campaign_id, c.lead_id, c.voice_agent_id,
            c.attempts, c.claimed_until)


async def finish_callbacks(db: Database, node_id: str | None,
                           results: Sequence[tuple[str, Status, bool]], now: datetime) -> None:
    """Write each `(callback_id, status, counted)`: `counted` adds the attempt; `scheduled`
    hands it back undialled. Only a callback still `dialing` (by `node_id` when given) moves."""
    if not results:
        return
    async with db.write() as session:
        for callback_id, status, counted in results:
            query = update(Callback).where(Callback.id == callback_id,
                                           Callback.status == "dialing")
            if node_id is not None:
                query = query.where(Callback.claimed_by == node_id)
            values: dict[str, object] = {"status": status, "claimed_by": None,
                                         "claimed_until": None, "updated_at": now}
            if counted:
                values["attempts"] = Callback.attempts + 1
            await session.execute(query.values(**values)
                                  .execution_options(synchronize_session=False))


async def recover_callbacks(db: Database, *, now: datetime, node_id: str, lease_s: float,
                            own_restart: bool = False) -> int:
    """Expired claims (and this node's own at start): handed back when no call was written
    since the claim, settled when that call has ended, left alone while it may be live."""
    expired = Callback.claimed_until < now
    if own_restart:
        expired = or_(expired, Callback.claimed_by == node_id)
    async with db.read() as session:
        rows = (await session.scalars(select(Callback).where(
            Callback.status == "dialing", expired).limit(500))).all()
        results: list[tuple[str, Status, bool]] = []
        for row in rows:
            assert row.claimed_until is not None
            since = row.claimed_until - timedelta(seconds=lease_s)
            call = (await session.scalars(
                select(Call).where(Call.tenant_id == row.tenant_id, Call.to == row.phone,
                                   Call.created_at >= since)
                .order_by(Call.created_at.desc()).limit(1))).first()
            if call is None:
                results.append((row.id, "scheduled", False))
            elif call.state == "ended":
                answered = call.answered_at is not None
                results.append((row.id, "completed" if answered else "failed", True))
    await finish_callbacks(db, None, results, now)
    return len(results)
