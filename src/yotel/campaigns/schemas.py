"""A campaign's fields as the API accepts and returns them (PRODUCT.md §4)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictFloat, StrictInt, StrictStr, model_validator

from yotel.campaigns.states import Status
from yotel.domain.bodies import Closed, Name
from yotel.domain.ids import UuidStr
from yotel.domain.timezones import TimeZoneName
from yotel.trunks.schemas import CallerId

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ALL_DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
RetryOn = Literal["no_answer", "busy", "failed"]
RETRY_ON: tuple[RetryOn, ...] = ("no_answer", "busy", "failed")
PostAnswerAction = Literal["connect_voice_agent"]
_CLOCK = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]")
MAX_CALLS_PER_SECOND = 1000
MAX_CONCURRENT_CALLS = 10_000


Clock = Annotated[StrictStr, Field(pattern=f"^{_CLOCK.pattern}$",
                                    description="24-hour time `HH:MM`")]
Zone = TimeZoneName
Id = UuidStr
# 0 < cps <= 1000, an integer or a fraction (each branch states its own bounds: JSON Schema
# keywords beside an `anyOf` are not read by every generator).
CallsPerSecond = (Annotated[StrictInt, Field(ge=1, le=MAX_CALLS_PER_SECOND)]
                  | Annotated[StrictFloat, Field(gt=0, le=MAX_CALLS_PER_SECOND)])


class Pacing(Closed):
    calls_per_second: CallsPerSecond = 1
    max_concurrent_calls: StrictInt = Field(default=10, ge=1, le=MAX_CONCURRENT_CALLS)


class CallingWindow(Closed):
    """Local hours when leads may be dialled: in the lead's `timezone`, else this `timezone`,
    else the tenant's. `start` later than `end` spans midnight (21:00 to 02:00)."""

    timezone: Zone | None = None
    start: Clock = "09:00"
    end: Clock = "21:00"
    days: list[Day] = Field(default_factory=lambda: list(ALL_DAYS), min_length=1,
                            json_schema_extra={"uniqueItems": True})

    @model_validator(mode="after")
    def _sane(self) -> CallingWindow:
        if self.start == self.end:
            raise ValueError("start and end must differ")
        if len(set(self.days)) != len(self.days):
            raise ValueError("days must not repeat")
        return self


class RetryPolicy(Closed):
    """`max_attempts` counts every dial of a lead, the first included."""

    max_attempts: StrictInt = Field(default=3, ge=1, le=20)
    retry_after_s: StrictInt = Field(default=300, ge=0, le=7 * 24 * 3600)
    on: list[RetryOn] = Field(default_factory=lambda: list(RETRY_ON))


class CampaignCreate(Closed):
    name: Name | None = None
    voice_agent_id: Id | None = None
    post_answer_action: PostAnswerAction = "connect_voice_agent"
    caller_id: CallerId | None = None
    trunk_id: Id | None = None
    pacing: Pacing = Field(default_factory=Pacing)
    calling_window: CallingWindow | None = None
    retry: RetryPolicy = Field(default_factory=RetryPolicy)


class CampaignUpdate(Closed):
    """PATCH: only the fields sent change; null clears `name`, `voice_agent_id`, `caller_id`,
    `trunk_id`, `calling_window`. Nested objects are replaced whole. `status` changes only
    through the start/pause/resume/stop actions."""

    name: Name | None = None
    voice_agent_id: Id | None = None
    post_answer_action: PostAnswerAction = "connect_voice_agent"
    caller_id: CallerId | None = None
    trunk_id: Id | None = None
    pacing: Pacing = Field(default_factory=Pacing)
    calling_window: CallingWindow | None = None
    retry: RetryPolicy = Field(default_factory=RetryPolicy)


class CampaignStats(BaseModel):
    """Leads by status, counted live when the campaign is read."""

    total: int = 0
    pending: int = 0
    dialing: int = 0
    completed: int = 0
    failed: int = 0
    dnd_blocked: int = 0
    cancelled: int = 0


class CampaignOut(BaseModel):
    id: str
    name: str | None
    voice_agent_id: str | None
    post_answer_action: str
    caller_id: str | None
    trunk_id: str | None
    pacing: Pacing
    calling_window: CallingWindow | None
    retry: RetryPolicy
    status: Status
    stats: CampaignStats
    started_at: datetime | None
    ended_at: datetime | None
    created_at: datetime
    updated_at: datetime
