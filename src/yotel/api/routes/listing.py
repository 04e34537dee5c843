"""Keyset paging for the list routes: the cursor holds the last row's `(created_at, id)`
(`yotel.api.pagination` encodes it), and one extra row is fetched to know if a page follows."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, TypeVar

from yotel.api.pagination import Page, decode_cursor, encode_cursor
from yotel.db.fence import Keyset
from yotel.domain.errors import ValidationError


class Keyed(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def created_at(self) -> datetime: ...


K = TypeVar("K", bound=Keyed)


def keyset(cursor: str | None) -> Keyset | None:
    if cursor is None:
        return None
    created, row_id = decode_cursor(cursor, 2)
    try:
        return datetime.fromisoformat(created), row_id
    except ValueError as exc:
        raise ValidationError("invalid cursor") from exc


def page_of(rows: list[K], limit: int) -> Page[K]:
    """`rows` fetched with `limit + 1`: the page, and a cursor when there is more."""
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = None
    if more:
        cursor = encode_cursor([rows[-1].created_at.isoformat(), rows[-1].id])
    return Page(data=rows, next_cursor=cursor)
