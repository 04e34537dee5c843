"""A lead's fields as the API accepts and returns them (PRODUCT.md §4)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictStr

from yotel.campaigns.schemas import Zone
from yotel.domain.bodies import Closed, ShortText
from yotel.domain.phone import E164Str

Status = Literal["pending", "dialing", "completed", "failed", "dnd_blocked", "cancelled"]
# What a user may set on PATCH: `dialing` belongs to the dialer, `dnd_blocked` to the DND check.
UserStatus = Literal["pending", "completed", "failed", "cancelled"]
StatusSetBy = Literal["system", "ai", "user"]
RejectReason = Literal["bad_phone", "duplicate", "bad_timezone"]
MAX_LEADS_PER_REQUEST = 10_000
MAX_PHONE, MAX_NAME, MAX_ZONE, MAX_CUSTOM_FIELDS = 64, 200, 64, 100
CustomFields = Annotated[dict[StrictStr, Any], Field(max_length=MAX_CUSTOM_FIELDS)]


class LeadIn(Closed):
    """One lead of a bulk add. `phone` is checked per row (a bad one is reported, not fatal)."""

    phone: StrictStr = Field(max_length=MAX_PHONE)
    name: ShortText | None = None
    custom_fields: CustomFields = Field(default_factory=dict)
    # Checked per row too (`bad_timezone`), so one typo does not refuse the whole list.
    timezone: StrictStr | None = Field(default=None, max_length=MAX_ZONE)


class LeadsAdd(Closed):
    leads: list[LeadIn] = Field(max_length=MAX_LEADS_PER_REQUEST)


class Rejection(BaseModel):
    index: int
    reason: RejectReason
    phone: str | None = None


class LeadsAdded(BaseModel):
    created: int
    rejected: list[Rejection]


class LeadUpdate(Closed):
    """PATCH: only the fields sent change; null clears `name`, `timezone`, `disposition`.
    Setting `status` records `status_set_by: "user"`; `pending` makes the lead due now."""

    phone: E164Str = "-"
    name: ShortText | None = None
    timezone: Zone | None = None
    custom_fields: CustomFields = Field(default_factory=dict)
    status: UserStatus = "pending"
    disposition: ShortText | None = None


class LeadOut(BaseModel):
    id: str
    campaign_id: str
    phone: str
    name: str | None
    timezone: str | None
    custom_fields: dict[str, Any]
    status: str
    status_set_by: str
    attempts: int
    disposition: str | None
    last_outcome: str | None
    last_call_id: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime
