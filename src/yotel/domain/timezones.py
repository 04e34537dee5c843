"""IANA time zone names as request fields.

`TimeZoneName` accepts exactly the zones of the installed tz database and documents them as the
field's `enum`, so a schema-driven client never sends a name the server refuses. The refusal
names no value (the input is not echoed) and does not list the ~600 names either.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any
from zoneinfo import available_timezones

from pydantic import AfterValidator, Field, StrictStr
from pydantic_core import PydanticCustomError


@cache
def zone_names() -> frozenset[str]:
    """Every zone `zoneinfo` can load (read once: listing them scans the tz database)."""
    return frozenset(available_timezones())


def check_zone(name: str) -> str:
    if name not in zone_names():
        raise PydanticCustomError("timezone", "unknown IANA time zone")
    return name


def _schema() -> dict[str, Any]:
    return {"type": "string", "enum": sorted(zone_names()),
            "description": "IANA time zone name, e.g. `Europe/Paris`"}


class _ZoneSchema:
    """The enum is built when a schema is asked for, not at import."""

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> Any:
        return _schema()


TimeZoneName = Annotated[StrictStr, Field(max_length=64), AfterValidator(check_zone),
                         _ZoneSchema()]
