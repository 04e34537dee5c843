"""Cursor pagination for every list endpoint (PRODUCT.md §3): `?limit=` (1..200, default 50) and
`?cursor=`; responses `{"data": [...], "next_cursor": null | "..."}`.

Lists are ordered by the keyset `(created_at, id)` (what `yotel.db.fence.tenant_page` serves), and
a cursor is the keyset of the last row returned: `<created_at as UTC epoch microseconds>_<id>`.
Clients treat it as opaque. Its grammar is `CURSOR_PATTERN`, which `/openapi.json` documents and
the `page_request` dependency enforces, and every string matching it is a valid position (16
digits end in the year 2286; no time zone to forge, nothing to decode): a cursor is either a
place in the list or a 400, never a 500, and schema-driven clients agree with the server.

A route:

    @router.get("", response_model=Page[ThingOut])
    async def list_things(..., page: Annotated[PageRequest, Depends(page_request)]):
        rows = await service.list(tenant_id, limit=page.limit + 1, after=page.after)
        return page_of(rows, page.limit, key=lambda row: (row.created_at, row.id))
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from yotel.domain.errors import ValidationError
from yotel.domain.ids import UUID_PATTERN

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
CURSOR_PATTERN = "^[0-9]{1,16}_" + UUID_PATTERN.removeprefix("^")
_CURSOR = re.compile(CURSOR_PATTERN)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

T = TypeVar("T")
Keyset = tuple[datetime, str]


class Page(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int
    cursor: str | None

    @property
    def after(self) -> Keyset | None:
        """The keyset to continue after (None for the first page)."""
        return None if self.cursor is None else keyset_of(self.cursor)


async def page_request(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(pattern=CURSOR_PATTERN, max_length=53,
                                        description="`next_cursor` of the previous page")] = None,
) -> PageRequest:
    """FastAPI dependency for the two paging query parameters (a malformed cursor is a 400)."""
    return PageRequest(limit=limit, cursor=cursor)


def page_of(rows: Sequence[T], limit: int, *, key: Callable[[T], Keyset]) -> Page[T]:
    """The page for `rows` fetched with `limit + 1`: at most `limit` of them, and a cursor after
    the last one when there were more."""
    more = len(rows) > limit
    shown = list(rows[:limit])
    next_cursor = cursor_of(*key(shown[-1])) if more and shown else None
    return Page[T](data=shown, next_cursor=next_cursor)


def cursor_of(created_at: datetime, row_id: str) -> str:
    if created_at.tzinfo is None:  # SQLite hands back naive UTC
        created_at = created_at.replace(tzinfo=UTC)
    return f"{(created_at - _EPOCH) // _MICROSECOND}_{row_id}"


def keyset_of(cursor: str) -> Keyset:
    """The keyset inside `cursor`; ValidationError (400) for anything outside the grammar."""
    if _CURSOR.fullmatch(cursor) is None:
        raise _bad_cursor()
    micros, row_id = cursor.split("_", 1)
    return _EPOCH + int(micros) * _MICROSECOND, row_id


def encode_cursor(keys: Sequence[str]) -> str:
    """`cursor_of` for a keyset given as `[created_at ISO 8601, id]`."""
    created, row_id = keys
    return cursor_of(datetime.fromisoformat(created), row_id)


def decode_cursor(cursor: str, arity: int = 2) -> tuple[str, ...]:
    """`keyset_of` as `(created_at ISO 8601 UTC, id)`; only keysets of two are minted."""
    if arity != 2:
        raise ValueError("cursors hold a (created_at, id) keyset")
    created, row_id = keyset_of(cursor)
    return created.isoformat(), row_id


def _bad_cursor() -> ValidationError:
    return ValidationError("invalid cursor", details=[
        {"loc": ["query", "cursor"], "msg": "not a cursor from this API", "type": "cursor"}])
