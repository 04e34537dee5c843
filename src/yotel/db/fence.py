"""The tenant fence and keyset paging, shared by every tenant-owned table's service.

Another tenant's row is indistinguishable from a missing one (404), and a malformed id is a 404
too, so ids cannot be probed. Lists page on `(created_at, id)`, the order the
`ix_<table>_tenant_created` indexes serve.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from yotel.domain.errors import NotFound
from yotel.domain.ids import is_uuid

Row = TypeVar("Row")
Keyset = tuple[datetime, str]


async def own_row(session: AsyncSession, model: type[Row], tenant_id: str, row_id: str,
                  noun: str, *, for_update: bool = False) -> Row:
    """`model` row `row_id` of `tenant_id`, or NotFound naming `noun` (e.g. "campaign")."""
    row = (await session.get(model, row_id, with_for_update=for_update)
           if is_uuid(row_id) else None)
    if row is None or getattr(row, "tenant_id", None) != tenant_id:
        raise NotFound(f"{noun} {row_id} not found")
    return row


def after_keyset(query: Select[Any], model: Any, after: Keyset | None) -> Select[Any]:
    """`query` restricted to rows strictly after `(created_at, id)`, ordered by that key."""
    if after is not None:
        created, last_id = after
        same_time_later_id = and_(model.created_at == created, model.id > last_id)
        query = query.where(or_(model.created_at > created, same_time_later_id))
    return query.order_by(model.created_at, model.id)


def tenant_page(model: Any, tenant_id: str, limit: int, after: Keyset | None) -> Select[Any]:
    """Up to `limit` rows of `model` owned by `tenant_id`, after the keyset `after`."""
    return after_keyset(select(model).where(model.tenant_id == tenant_id), model,
                        after).limit(limit)
