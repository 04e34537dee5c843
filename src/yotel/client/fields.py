"""Keyword arguments → request bodies. `NOT_GIVEN` leaves a field out; `None` sends null (which
clears a nullable field on PATCH)."""

from __future__ import annotations

import enum
from typing import Any


class _NotGiven(enum.Enum):
    NOT_GIVEN = "NOT_GIVEN"

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN = _NotGiven.NOT_GIVEN
NotGiven = _NotGiven


def body(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not NOT_GIVEN}
