"""Webhook endpoints and deliveries as the API accepts and shows them (PRODUCT.md §4, §7).
The signing secret is write-never: it appears once, in the answer to create or rotate."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StrictBool, StrictInt

from yotel.domain.bodies import Closed, ShortText, Text
from yotel.domain.urls import HttpUrl
from yotel.webhooks.events import EVENT_TYPES

ALL_EVENTS = "*"
DEFAULT_ROTATION_OVERLAP_S = 24 * 3600
MAX_ROTATION_OVERLAP_S = 7 * 24 * 3600
DeliveryStatus = Literal["pending", "failed", "delivered", "dead"]


def _event_name(value: str) -> str:
    if value != ALL_EVENTS and value not in EVENT_TYPES:
        raise ValueError(f"unknown event type (use \"*\" or one of {', '.join(EVENT_TYPES)})")
    return value


def _event_filter(values: list[str]) -> list[str]:
    if ALL_EVENTS in values and len(values) > 1:
        raise ValueError('"*" already means every event: send it alone')
    return list(dict.fromkeys(values))  # duplicates dropped, order kept


EventName = Annotated[Text, AfterValidator(_event_name)]
EventFilter = Annotated[list[EventName], Field(min_length=1, max_length=len(EVENT_TYPES)),
                        AfterValidator(_event_filter)]


class EndpointCreate(Closed):
    url: HttpUrl
    events: EventFilter = Field(default_factory=lambda: [ALL_EVENTS])
    description: ShortText | None = None


class EndpointUpdate(Closed):
    """PATCH: only the fields sent change. `enabled: true` re-enables an endpoint the
    dispatcher disabled (its pending deliveries resume)."""

    url: HttpUrl = ""
    events: EventFilter = Field(default_factory=lambda: [ALL_EVENTS])
    description: ShortText | None = None
    enabled: StrictBool = True


class RotateSecret(Closed):
    overlap_s: Annotated[StrictInt, Field(ge=0, le=MAX_ROTATION_OVERLAP_S)] = (
        DEFAULT_ROTATION_OVERLAP_S)


class EndpointOut(BaseModel):
    id: str
    url: str
    description: str | None
    events: list[str]
    enabled: bool
    disabled_reason: str | None = Field(description="why the dispatcher disabled it")
    failing_since: datetime | None = Field(
        description="first failed attempt since the last success")
    previous_secret_expires_at: datetime | None = Field(
        description="during a rotation: until when the old secret signs too")
    created_at: datetime
    updated_at: datetime


class EndpointWithSecret(EndpointOut):
    secret: str = Field(description="`whsec_…`, shown only in this response")


class DeliveryOut(BaseModel):
    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    call_id: str | None
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None = Field(description="null once delivered or dead")
    last_status_code: int | None
    last_error: str | None
    latency_ms: int | None
    delivered_at: datetime | None
    created_at: datetime
    updated_at: datetime
