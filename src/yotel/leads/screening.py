"""Which rows of a bulk add become leads (pure): strict E.164, known time zone, and no number
twice in a campaign — neither already there nor earlier in the same batch."""

from __future__ import annotations

from collections.abc import Iterable, Set
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from yotel.domain.phone import is_e164
from yotel.leads.schemas import LeadIn, Rejection


@dataclass(frozen=True, slots=True)
class Screened:
    accepted: list[LeadIn]
    rejected: list[Rejection]


def screen(leads: Iterable[LeadIn], existing: Set[str], *, first_index: int = 0) -> Screened:
    """Split `leads` into accepted rows and rejections (`index` counted from `first_index`).
    `existing` holds the campaign's numbers already stored."""
    accepted: list[LeadIn] = []
    rejected: list[Rejection] = []
    seen: set[str] = set()
    for index, lead in enumerate(leads, start=first_index):
        reason = _reason(lead, existing, seen)
        if reason is None:
            seen.add(lead.phone)
            accepted.append(lead)
        else:
            phone = lead.phone if len(lead.phone) <= 32 else None
            rejected.append(Rejection(index=index, reason=reason, phone=phone))
    return Screened(accepted, rejected)


def _reason(lead: LeadIn, existing: Set[str], seen: set[str]) -> Any:
    if not is_e164(lead.phone):
        return "bad_phone"
    if lead.phone in existing or lead.phone in seen:
        return "duplicate"
    if lead.timezone is not None and not known_zone(lead.timezone):
        return "bad_timezone"
    return None


@lru_cache(maxsize=1024)
def known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True
