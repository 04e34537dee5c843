"""What a call reports: its events as they happen, and how it ended (PRODUCT.md §5, §8)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CallEvent:
    kind: str  # ringing | answered | dtmf | hold | unhold | remote_hold | ended | ...
    call_id: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CallEnd:
    outcome: str  # PRODUCT.md §5: hangup, caller_hangup, ai_disconnected, no_answer, busy, failed
    sip_status: int | None = None
    reason: str = ""


def outcome_for_status(status: int) -> str:
    """PRODUCT.md §8: 486 busy (600 busy everywhere too); 408/480/487 no answer; else failed."""
    if status in (486, 600):
        return "busy"
    if status in (408, 480, 487):
        return "no_answer"
    return "failed"
