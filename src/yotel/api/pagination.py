"""Cursor pagination for every list endpoint (PRODUCT.md §3): `?limit=` (1..200, default 50) and
`?cursor=`; responses `{"data": [...], "next_cursor": null | "..."}`.

Cursors are opaque to clients: URL-safe base64 of a JSON array holding the keyset of the last
row returned (e.g. `[created_at, id]`), so pages stay stable while rows are inserted.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from yotel.domain.errors import ValidationError

MAX_LIMIT = 200
DEFAULT_LIMIT = 50


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int
    cursor: str | None


def page_request(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> PageRequest:
    """FastAPI dependency for the two paging query parameters."""
    return PageRequest(limit=limit, cursor=cursor or None)


def encode_cursor(keys: Sequence[str]) -> str:
    raw = json.dumps(list(keys), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> tuple[str, ...]:
    """The keyset inside `cursor`; raise ValidationError (400) for anything we did not mint."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        keys = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise _bad_cursor() from exc
    if not (isinstance(keys, list) and len(keys) == arity
            and all(isinstance(k, str) for k in keys)):
        raise _bad_cursor()
    return tuple(keys)


def _bad_cursor() -> ValidationError:
    return ValidationError("invalid cursor", details=[
        {"loc": ["query", "cursor"], "msg": "not a cursor from this API", "type": "cursor"}])
