"""Escalations as the API returns them and the claim it accepts (PRODUCT.md §4), and the frames
of the supervisor stream."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from yotel.domain.bodies import Closed
from yotel.domain.ids import UuidStr

Urgency = Literal["low", "normal", "high", "critical"]  # as the request_supervisor verb takes it
Status = Literal["open", "claimed", "closed"]
FrameType = Literal["escalation.created", "escalation.claimed"]
ESCALATED = "ai_session.escalated"  # the webhook event (PRODUCT.md §7)


class EscalationOut(BaseModel):
    id: str
    call_id: str
    reason: str
    urgency: Urgency
    status: Status
    supervisor_id: str | None
    created_at: datetime
    claimed_at: datetime | None


class ClaimBody(Closed):
    supervisor_id: UuidStr


def frame(kind: FrameType, escalation: EscalationOut) -> dict[str, Any]:
    """A supervisor stream frame: `{"type", "escalation": {...}}`."""
    return {"type": kind, "escalation": escalation.model_dump(mode="json")}
