"""A campaign's calling window, pure: is a lead callable now, and if not, when next.

The window is read in the lead's time zone, else the window's own `timezone`, else the
tenant's (PRODUCT.md §4). `days` name the day a window *opens*: with `start` later than `end`
the window spans midnight, so 21:00-02:00 on `fri` is open from Friday 21:00 to Saturday 02:00,
and Saturday 01:00 is inside it whether or not `sat` is listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # datetime.weekday() order


@dataclass(frozen=True, slots=True)
class Window:
    start: time
    end: time
    days: frozenset[int]  # weekday numbers, Monday 0
    timezone: str | None = None

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Window:
        """From a campaign's stored `calling_window` (already validated by the API)."""
        return cls(start=time.fromisoformat(doc.get("start", "09:00")),
                   end=time.fromisoformat(doc.get("end", "21:00")),
                   days=frozenset(DAYS.index(d) for d in doc.get("days", DAYS)),
                   timezone=doc.get("timezone"))

    @property
    def spans_midnight(self) -> bool:
        return self.start > self.end

    def is_open_local(self, local: datetime) -> bool:
        """Open at this wall-clock time (naive or aware, in the zone that applies)."""
        clock, day = local.time().replace(tzinfo=None), local.weekday()
        if not self.spans_midnight:
            return day in self.days and self.start <= clock < self.end
        if clock >= self.start:
            return day in self.days
        return clock < self.end and (day - 1) % 7 in self.days

    def next_open_local(self, local: datetime) -> datetime:
        """The first wall-clock time at or after `local` when the window is open."""
        if self.is_open_local(local):
            return local
        for ahead in range(8):
            day = (local + timedelta(days=ahead)).date()
            opening = datetime.combine(day, self.start, tzinfo=local.tzinfo)
            if day.weekday() in self.days and opening > local:
                return opening
        raise ValueError("a calling window with no days never opens")  # the API forbids it


def zone_of(*names: str | None) -> ZoneInfo:
    """The first of `names` that is a known IANA zone (lead, window, tenant), else UTC."""
    for name in names:
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def next_dial_time(window: Window | None, now: datetime, *, lead_zone: str | None,
                   tenant_zone: str | None) -> datetime:
    """`now` (aware, UTC) when the lead may be dialled now, else the UTC instant its window next
    opens. A wall-clock opening that a DST change skips resolves forward (zoneinfo's fold 0)."""
    if window is None:
        return now
    zone = zone_of(lead_zone, window.timezone, tenant_zone)
    local = now.astimezone(zone)
    opening = window.next_open_local(local)
    if opening == local:
        return now
    # Round trip through UTC: a non-existent local time (spring forward) lands after the gap.
    return opening.replace(tzinfo=zone).astimezone(UTC)
