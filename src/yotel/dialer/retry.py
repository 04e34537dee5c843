"""What a call's end means for its lead, pure: the campaign's retry policy (PRODUCT.md §4).

A lead whose call was answered is `completed`, however the call then ended. An unanswered
attempt is classed `no_answer`, `busy` or `failed` (anything else: no trunk, an AI that could not
be reached, a restart that cut the call); if that class is in the policy's `on` and attempts
remain (`max_attempts` counts every dial, the first included) the lead is `pending` again from
`retry_after_s` on, otherwise it is `failed`. `last_outcome` keeps the call's own outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

LeadStatus = Literal["pending", "dialing", "completed", "failed", "dnd_blocked", "cancelled"]
RETRYABLE = ("no_answer", "busy", "failed")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 3
    retry_after_s: int = 300
    on: frozenset[str] = frozenset(RETRYABLE)

    @classmethod
    def from_json(cls, doc: dict[str, Any] | None) -> RetryPolicy:
        doc = doc or {}
        default = cls()
        return cls(max_attempts=int(doc.get("max_attempts", default.max_attempts)),
                   retry_after_s=int(doc.get("retry_after_s", default.retry_after_s)),
                   on=frozenset(doc.get("on", RETRYABLE)))


@dataclass(frozen=True, slots=True)
class Verdict:
    status: LeadStatus
    attempts: int
    next_attempt_at: datetime | None  # set when status is pending


def attempt_class(outcome: str) -> str:
    """`no_answer` and `busy` as they are; every other unanswered end is `failed`."""
    return outcome if outcome in ("no_answer", "busy") else "failed"


def after_call(policy: RetryPolicy, attempts_before: int, outcome: str, *, answered: bool,
               now: datetime) -> Verdict:
    """The lead's next state after one more dial that ended with `outcome`."""
    attempts = attempts_before + 1
    if answered:
        return Verdict("completed", attempts, None)
    if attempt_class(outcome) in policy.on and attempts < policy.max_attempts:
        return Verdict("pending", attempts, now + timedelta(seconds=policy.retry_after_s))
    return Verdict("failed", attempts, None)
