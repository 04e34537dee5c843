"""Identifier formats (PRODUCT.md §3): resource ids are UUID strings; request ids `req_<ULID>`."""

from __future__ import annotations

import uuid

from ulid import ULID


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
