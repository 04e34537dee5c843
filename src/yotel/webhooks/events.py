"""Typed webhook events (PRODUCT.md §7): the envelope `{"id": "evt_…", "type", "created_at",
"tenant_id", "data": {"call_id", …}}` with one model per event type. Unknown types (a newer
server) parse as `GenericEvent`, and every model keeps fields it does not know, so a receiver
built today keeps working when events grow."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class CallData(_Open):
    call_id: str | None = None


class CallStartedData(CallData):
    direction: str | None = None
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    campaign_id: str | None = None
    lead_id: str | None = None
    voice_agent_id: str | None = None
    flow_id: str | None = None


class CallAnsweredData(CallData):
    answered_at: datetime | None = None


class CallEndedData(CallData):
    outcome: str | None = None
    sip_status: int | None = None
    duration_s: float | None = None


class RecordingChannels(_Open):
    left: str
    right: str


class RecordingReadyData(CallData):
    stereo: bool
    channels: RecordingChannels
    duration_s: float
    url: str


class AiSessionStartedData(CallData):
    voice_agent_id: str | None = None


class AiSessionTransferredData(CallData):
    destination_type: str | None = None
    destination: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class AiSessionEndedData(CallData):
    outcome: str | None = None


class AiSessionEscalatedData(CallData):
    escalation_id: str | None = None
    supervisor_id: str | None = None


class ConferenceParticipant(_Open):
    member_id: str
    type: str | None = None
    destination: str | None = None
    joined_at: datetime | None = None


class ConferenceChangedData(CallData):
    conference_id: str | None = None
    participants: list[ConferenceParticipant] = Field(default_factory=list)


class WebhookEvent(_Open):
    """The envelope every event shares."""

    id: str
    type: str
    created_at: datetime
    tenant_id: str
    data: Any


class GenericEvent(WebhookEvent):
    """An event type this SDK does not know: `data` stays a plain dict."""

    data: dict[str, Any] = Field(default_factory=dict)


class CallStarted(WebhookEvent):
    type: Literal["call.started"]
    data: CallStartedData


class CallAnswered(WebhookEvent):
    type: Literal["call.answered"]
    data: CallAnsweredData


class CallEnded(WebhookEvent):
    type: Literal["call.ended"]
    data: CallEndedData


class CallRecordingReady(WebhookEvent):
    type: Literal["call.recording_ready"]
    data: RecordingReadyData


class AiSessionStarted(WebhookEvent):
    type: Literal["ai_session.started"]
    data: AiSessionStartedData


class AiSessionTransferred(WebhookEvent):
    type: Literal["ai_session.transferred"]
    data: AiSessionTransferredData


class AiSessionEnded(WebhookEvent):
    type: Literal["ai_session.ended"]
    data: AiSessionEndedData


class AiSessionEscalated(WebhookEvent):
    type: Literal["ai_session.escalated"]
    data: AiSessionEscalatedData


class AiSessionConferenceChanged(WebhookEvent):
    type: Literal["ai_session.conference_changed"]
    data: ConferenceChangedData


EVENT_MODELS: dict[str, type[WebhookEvent]] = {
    "call.started": CallStarted, "call.answered": CallAnswered, "call.ended": CallEnded,
    "call.recording_ready": CallRecordingReady, "ai_session.started": AiSessionStarted,
    "ai_session.transferred": AiSessionTransferred, "ai_session.ended": AiSessionEnded,
    "ai_session.escalated": AiSessionEscalated,
    "ai_session.conference_changed": AiSessionConferenceChanged,
}
EVENT_TYPES = tuple(EVENT_MODELS)


def parse_event(document: Any) -> WebhookEvent:
    """The typed event for a decoded envelope (`GenericEvent` for an unknown `type`)."""
    kind = document.get("type") if isinstance(document, dict) else None
    model = EVENT_MODELS.get(kind, GenericEvent) if isinstance(kind, str) else GenericEvent
    return model.model_validate(document)
