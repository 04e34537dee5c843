"""Identifier formats (PRODUCT.md §3): resource ids are UUID strings; request ids `req_<ULID>`."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import Field, StrictStr
from ulid import ULID

# Our ids as they are minted (lowercase, canonical): the form `/openapi.json` documents.
UUID_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
UuidStr = Annotated[StrictStr, Field(pattern=UUID_PATTERN)]


def new_id() -> str:
    """A new resource id (random UUID, canonical lowercase form)."""
    return str(uuid.uuid4())


def new_request_id() -> str:
    """A new request id; ULIDs sort by time, which helps when grepping logs."""
    return f"req_{ULID()}"


def is_uuid(value: str) -> bool:
    """True when `value` is a UUID in canonical form (the only form our ids take)."""
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False
