"""Callbacks: read and cancel. Rows are written by the Control API's `schedule_callback` (page
003) and dialled at `scheduled_at` by the dialer, which claims them like leads (`status`
`scheduled` → `dialing`, `claimed_by`/`claimed_until`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from yotel.db.engine import Database
from yotel.db.fence import Keyset, after_keyset, own_row
from yotel.db.models import Callback
from yotel.domain.errors import Conflict

NOUN = "callback"
Status = Literal["scheduled", "dialing", "completed", "failed"]


class CallbackOut(BaseModel):
    id: str
    campaign_id: str | None
    lead_id: str | None
    call_id: str | None
    phone: str
    scheduled_at: datetime
    reason: str | None
    voice_agent_id: str | None
    status: str
    attempts: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class CallbackFilter:
    status: Status | None = None
    campaign_id: str | None = None


@dataclass(slots=True)
class CallbackService:
    db: Database

    async def list(self, tenant_id: str, *, limit: int, after: Keyset | None,
                   where: CallbackFilter = CallbackFilter()) -> list[CallbackOut]:
        query = select(Callback).where(Callback.tenant_id == tenant_id)
        if where.status is not None:
            query = query.where(Callback.status == where.status)
        if where.campaign_id is not None:
            query = query.where(Callback.campaign_id == where.campaign_id)
        async with self.db.read() as session:
            rows = (await session.scalars(after_keyset(query, Callback, after).limit(limit)))
            return [to_out(row) for row in rows.all()]

    async def get(self, tenant_id: str, callback_id: str) -> CallbackOut:
        async with self.db.read() as session:
            return to_out(await own_row(session, Callback, tenant_id, callback_id, NOUN))

    async def delete(self, tenant_id: str, callback_id: str) -> None:
        """Cancel (delete) a callback; 409 while the dialer is placing it."""
        async with self.db.write() as session:
            row = await own_row(session, Callback, tenant_id, callback_id, NOUN,
                                for_update=True)
            if row.status == "dialing":
                raise Conflict("the callback is being dialled")
            await session.delete(row)


async def callback_uses_agent(session: AsyncSession, tenant_id: str,
                              agent_id: str) -> str | None:
    """A voice agent reference check: a callback still to dial is pinned to the agent."""
    found = (await session.scalars(select(Callback.id).where(
        Callback.tenant_id == tenant_id, Callback.voice_agent_id == agent_id,
        Callback.status.in_(("scheduled", "dialing"))).limit(1))).first()
    return None if found is None else f"pinned by scheduled callback {found}"


def to_out(row: Callback) -> CallbackOut:
    return CallbackOut(id=row.id, campaign_id=row.campaign_id, lead_id=row.lead_id,
                       call_id=row.call_id, phone=row.phone, scheduled_at=row.scheduled_at,
                       reason=row.reason, voice_agent_id=row.voice_agent_id, status=row.status,
                       attempts=row.attempts, created_at=row.created_at,
                       updated_at=row.updated_at)
