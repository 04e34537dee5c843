"""Do-not-disturb lists. A tenant's own (`/dnd`) and the platform registry (`yotel dnd
import`); the dialer asks `is_blocked` right before each dial, so an entry added while a
campaign runs takes effect on the next lead."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import exists, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from yotel.db.engine import Database
from yotel.db.fence import Keyset, own_row, tenant_page
from yotel.db.keys import uuid7_batch
from yotel.db.models import DndEntry, DndRegistryEntry
from yotel.dnd.schemas import DndAdded, DndEntryOut
from yotel.domain.errors import NotFound
from yotel.domain.phone import is_e164
from yotel.leads.schemas import Rejection

NOUN = "DND entry"


@dataclass(slots=True)
class DndService:
    db: Database

    async def add(self, tenant_id: str, numbers: Sequence[str]) -> DndAdded:
        """Add numbers to the tenant's list; a malformed one is `bad_phone`, one already
        listed (or repeated in the request) is `duplicate`."""
        async with self.db.write() as session:
            listed = set((await session.scalars(select(DndEntry.phone).where(
                DndEntry.tenant_id == tenant_id,
                DndEntry.phone.in_([n for n in set(numbers) if is_e164(n)])))).all())
            fresh, rejected = _screen(numbers, listed)
            if fresh:
                now = datetime.now(UTC)
                await session.execute(insert(DndEntry), [  # in order, as leads (leads.service)
                    {"id": entry_id, "tenant_id": tenant_id, "phone": phone,
                     "created_at": now + timedelta(microseconds=i)}
                    for i, (entry_id, phone) in enumerate(zip(uuid7_batch(len(fresh)), fresh,
                                                              strict=True))])
        return DndAdded(created=len(fresh), rejected=rejected)

    async def list(self, tenant_id: str, *, limit: int, after: Keyset | None,
                   ) -> list[DndEntryOut]:
        async with self.db.read() as session:
            rows = (await session.scalars(tenant_page(DndEntry, tenant_id, limit, after))).all()
            return [to_out(row) for row in rows]

    async def get(self, tenant_id: str, key: str) -> DndEntryOut:
        """`key` is the entry's id or the number itself (`/dnd/+14155550100`)."""
        async with self.db.read() as session:
            return to_out(await _entry(session, tenant_id, key))

    async def delete(self, tenant_id: str, key: str) -> None:
        async with self.db.write() as session:
            await session.delete(await _entry(session, tenant_id, key))

    async def is_blocked(self, tenant_id: str, phone: str) -> bool:
        """True when `phone` is on the tenant's list or the platform registry."""
        tenant = exists().where(DndEntry.tenant_id == tenant_id, DndEntry.phone == phone)
        platform = exists().where(DndRegistryEntry.phone == phone)
        async with self.db.read() as session:
            return bool(await session.scalar(select(or_(tenant, platform))))

    async def import_registry(self, numbers: Iterable[str]) -> DndAdded:
        """Add numbers to the platform registry (already present → `duplicate`)."""
        numbers = list(numbers)
        async with self.db.write() as session:
            listed: set[str] = set()
            candidates = sorted({n for n in numbers if is_e164(n)})
            for start in range(0, len(candidates), 10_000):
                chunk = candidates[start:start + 10_000]
                listed.update((await session.scalars(select(DndRegistryEntry.phone).where(
                    DndRegistryEntry.phone.in_(chunk)))).all())
            fresh, rejected = _screen(numbers, listed)
            if fresh:
                now = datetime.now(UTC)
                await session.execute(insert(DndRegistryEntry),
                                      [{"phone": phone, "created_at": now} for phone in fresh])
        return DndAdded(created=len(fresh), rejected=rejected)


def _screen(numbers: Iterable[str], listed: set[str]) -> tuple[list[str], list[Rejection]]:
    fresh: list[str] = []
    rejected: list[Rejection] = []
    for index, number in enumerate(numbers):
        if not is_e164(number):
            rejected.append(Rejection(index=index, reason="bad_phone"))
        elif number in listed:
            rejected.append(Rejection(index=index, reason="duplicate", phone=number))
        else:
            listed.add(number)
            fresh.append(number)
    return fresh, rejected


async def _entry(session: AsyncSession, tenant_id: str, key: str) -> DndEntry:
    if not is_e164(key):
        return await own_row(session, DndEntry, tenant_id, key, NOUN)
    row = (await session.scalars(select(DndEntry).where(
        DndEntry.tenant_id == tenant_id, DndEntry.phone == key))).first()
    if row is None:
        raise NotFound(f"{key} is not on the DND list")
    return row


def to_out(row: DndEntry) -> DndEntryOut:
    return DndEntryOut(id=row.id, phone=row.phone, created_at=row.created_at)
