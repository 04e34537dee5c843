"""The pure decisions a flow makes on a live call (PRODUCT.md §4), apart from the I/O that
feeds them, so each rule is tested on its own:

- `gather_dtmf`: when the digits gathered so far are complete, and which edge they take;
- `time_condition`: whether a moment falls in a node's open hours.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from yotel.flows.graph import DIGITS

TIMEOUT, DEFAULT = "timeout", "default"
TERMINATOR = "#"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


# -- gather_dtmf ------------------------------------------------------------------------------
def digit_patterns(labels: Collection[str]) -> list[str]:
    """The digit strings a gather node's edges are `on` (the grammar `flows.graph` checks:
    1 to 32 of 0-9, * and #; `timeout` and `default` are not patterns)."""
    return [label for label in labels if DIGITS.fullmatch(label)]


def ends_input(digit: str, patterns: Collection[str]) -> bool:
    """`#` ends the input (as on any IVR) unless a pattern uses it."""
    return digit == TERMINATOR and not any(TERMINATOR in p for p in patterns)


def complete(digits: str, patterns: Collection[str], max_digits: int) -> bool:
    """Stop gathering: `max_digits` reached, or `digits` matches a pattern no longer pattern
    extends (so `1` is taken at once unless `12` is also an edge), or no pattern can match any
    more (a wrong first digit goes to `default` without waiting out the time-out)."""
    if len(digits) >= max_digits:
        return True
    if not patterns:  # a gather with only `default`/`timeout` edges takes up to max_digits
        return False
    longer = [p for p in patterns if p.startswith(digits) and p != digits]
    return not longer


def choose_edge(digits: str, labels: Collection[str]) -> str | None:
    """The edge gathered `digits` take: the matching pattern; else (nothing pressed)
    `timeout`, falling back to `default`; else (digits matching no edge) `default`, falling
    back to `timeout`. None: no edge fits, the flow ends (the call is hung up)."""
    if digits and digits in labels:
        return digits
    order = (TIMEOUT, DEFAULT) if not digits else (DEFAULT, TIMEOUT)
    return next((label for label in order if label in labels), None)


# -- time_condition ----------------------------------------------------------------------------
def is_open(now: datetime, timezone: str, hours: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the aware datetime `now` is inside any `{"days", "start", "end"}` span, read in
    `timezone`. `start` later than `end` spans midnight and belongs to the day it starts on
    (fri 22:00-02:00 covers Saturday 01:00); `start == end` is the whole day."""
    local = now.astimezone(ZoneInfo(timezone))
    today, clock = DAYS[local.weekday()], local.time().replace(tzinfo=None)
    yesterday = DAYS[(local - timedelta(days=1)).weekday()]
    return any(_in_span(today, yesterday, clock, span) for span in hours)


def _in_span(today: str, yesterday: str, clock: time, span: Mapping[str, Any]) -> bool:
    start, end, days = _clock(span["start"]), _clock(span["end"]), span["days"]
    if start == end:
        return today in days
    if start < end:
        return today in days and start <= clock < end
    return (today in days and clock >= start) or (yesterday in days and clock < end)


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))
