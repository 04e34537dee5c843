"""Numbers (DIDs): tenant-scoped CRUD. `e164` is unique across the platform (an inbound INVITE
belongs to one tenant), and `lookup` finds a number by a Request-URI user part, with or without
the `+`, for the inbound call path."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from yotel.db.engine import Database
from yotel.db.fence import Keyset, own_row, tenant_page
from yotel.db.models import Flow, Number
from yotel.domain.bodies import Closed, sent_fields, unknown_reference
from yotel.domain.errors import Conflict
from yotel.domain.ids import UuidStr, is_uuid, new_id
from yotel.domain.phone import E164Str, check_e164, did_digits, is_e164

NOUN = "number"
Id = UuidStr


class NumberCreate(Closed):
    e164: E164Str
    flow_id: Id | None = None


class NumberUpdate(Closed):
    """PATCH: `flow_id` (null detaches the flow: inbound calls to the number get 404)."""

    flow_id: Id | None = None


class NumberOut(BaseModel):
    id: str
    e164: str
    flow_id: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(slots=True)
class NumberService:
    db: Database

    async def create(self, tenant_id: str, spec: NumberCreate) -> NumberOut:
        check_e164(spec.e164, field="e164")
        row = Number(id=new_id(), tenant_id=tenant_id, e164=spec.e164, flow_id=spec.flow_id)
        async with self.db.write() as session:
            await _check_flow(session, tenant_id, spec.flow_id)
            if await session.scalar(select(Number.id).where(Number.e164 == spec.e164)):
                raise Conflict("e164: the number is already registered", details=[
                    {"loc": ["body", "e164"], "msg": "already registered", "type": "conflict"}])
            session.add(row)
        return to_out(row)

    async def get(self, tenant_id: str, number_id: str) -> NumberOut:
        async with self.db.read() as session:
            return to_out(await own_row(session, Number, tenant_id, number_id, NOUN))

    async def list(self, tenant_id: str, *, limit: int, after: Keyset | None,
                   ) -> list[NumberOut]:
        async with self.db.read() as session:
            rows = (await session.scalars(tenant_page(Number, tenant_id, limit, after))).all()
            return [to_out(row) for row in rows]

    async def update(self, tenant_id: str, number_id: str, patch: NumberUpdate) -> NumberOut:
        changes = sent_fields(patch)
        async with self.db.write() as session:
            row = await own_row(session, Number, tenant_id, number_id, NOUN, for_update=True)
            await _check_flow(session, tenant_id, changes.get("flow_id"))
            for name, value in changes.items():
                setattr(row, name, value)
            await session.flush()
            return to_out(row)

    async def delete(self, tenant_id: str, number_id: str) -> None:
        async with self.db.write() as session:
            await session.delete(await own_row(session, Number, tenant_id, number_id, NOUN))

    async def lookup(self, user_part: str) -> NumberOut | None:
        """The number an INVITE's Request-URI user part (`+14155550100` or `14155550100`)
        names, in any tenant; None when no tenant owns it."""
        candidate = "+" + did_digits(user_part)
        if not is_e164(candidate):
            return None
        async with self.db.read() as session:
            row = (await session.scalars(select(Number).where(Number.e164 == candidate))).first()
            return None if row is None else to_out(row)


async def _check_flow(session: AsyncSession, tenant_id: str, flow_id: str | None) -> None:
    if flow_id is None:
        return
    flow = await session.get(Flow, flow_id) if is_uuid(flow_id) else None
    if flow is None or flow.tenant_id != tenant_id:
        raise unknown_reference("flow_id", "flow")


def to_out(row: Number) -> NumberOut:
    return NumberOut(id=row.id, e164=row.e164, flow_id=row.flow_id, created_at=row.created_at,
                     updated_at=row.updated_at)
