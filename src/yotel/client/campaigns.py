"""`client.campaigns` and `client.leads` (PRODUCT.md §4): campaigns with start / pause /
resume / stop and live `stats`, their leads (bulk add with per-row rejections), one lead."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import datetime
from typing import Any, Literal, TypedDict, Unpack

from yotel.client.http import Call
from yotel.client.models import Model, Page
from yotel.client.resource import AsyncResource, Collection, SyncResource, fields_of

CampaignStatus = Literal["draft", "running", "paused", "completed", "stopped"]
LeadStatus = Literal["pending", "dialing", "completed", "failed", "dnd_blocked", "cancelled"]
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
RetryOn = Literal["no_answer", "busy", "failed"]


class Pacing(Model):
    calls_per_second: float = 1.0
    max_concurrent_calls: int = 10


class CallingWindow(Model):
    timezone: str | None = None
    start: str = "09:00"
    end: str = "21:00"
    days: list[Day] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class CampaignRetry(Model):
    """A campaign's retry policy (not the SDK's own `RetryPolicy`)."""

    max_attempts: int = 3
    retry_after_s: int = 300
    on: list[RetryOn] = ["no_answer", "busy", "failed"]


class CampaignStats(Model):
    total: int = 0
    pending: int = 0
    dialing: int = 0
    completed: int = 0
    failed: int = 0
    dnd_blocked: int = 0
    cancelled: int = 0


class Campaign(Model):
    id: str
    name: str | None = None
    voice_agent_id: str | None = None
    post_answer_action: str
    caller_id: str | None = None
    trunk_id: str | None = None
    pacing: Pacing
    calling_window: CallingWindow | None = None
    retry: CampaignRetry
    status: CampaignStatus
    stats: CampaignStats
    started_at: datetime | None = None
    ended_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class Lead(Model):
    id: str
    campaign_id: str
    phone: str
    name: str | None = None
    timezone: str | None = None
    custom_fields: dict[str, Any]
    status: str
    status_set_by: str
    attempts: int
    disposition: str | None = None
    last_outcome: str | None = None
    last_call_id: str | None = None
    next_attempt_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class Rejection(Model):
    index: int
    reason: str
    phone: str | None = None


class LeadsAdded(Model):
    created: int
    rejected: list[Rejection]


class PacingParam(TypedDict, total=False):
    calls_per_second: float
    max_concurrent_calls: int


class CallingWindowParam(TypedDict, total=False):
    timezone: str
    start: str
    end: str
    days: list[Day]


class RetryParam(TypedDict, total=False):
    max_attempts: int
    retry_after_s: int
    on: list[RetryOn]


class CampaignFields(TypedDict, total=False):
    """Fields of `create` and `update` (all optional; `None` clears a nullable one)."""

    name: str | None
    voice_agent_id: str | None
    post_answer_action: Literal["connect_voice_agent"]
    caller_id: str | None
    trunk_id: str | None
    pacing: PacingParam | Pacing
    calling_window: CallingWindowParam | CallingWindow | None
    retry: RetryParam | CampaignRetry


class _LeadRequired(TypedDict):
    phone: str


class LeadParam(_LeadRequired, total=False):
    name: str | None
    custom_fields: dict[str, Any]
    timezone: str | None


class LeadUpdate(TypedDict, total=False):
    phone: str
    name: str | None
    timezone: str | None
    custom_fields: dict[str, Any]
    status: Literal["pending", "completed", "failed", "cancelled"]
    disposition: str | None


_CAMPAIGNS = Collection("/campaigns", Campaign, CampaignFields, CampaignFields)
_LEADS = Collection("/leads", Lead, None, LeadUpdate)


def _add_leads(campaign_id: str, leads: Sequence[LeadParam]) -> Call[LeadsAdded]:
    rows = [fields_of(LeadParam, lead) for lead in leads]
    return _CAMPAIGNS.command(campaign_id, "leads", LeadsAdded.model_validate,
                              json={"leads": rows})


def _leads_page(campaign_id: str, status: LeadStatus | None, limit: int | None,
                cursor: str | None) -> Call[Page[Lead]]:
    return Call("GET", f"/campaigns/{campaign_id}/leads", _LEADS.parse_page,
                params={"status": status, "limit": limit, "cursor": cursor})


class Campaigns(SyncResource):
    def create(self, **fields: Unpack[CampaignFields]) -> Campaign:
        return self._http.run(_CAMPAIGNS.create(fields))

    def get(self, campaign_id: str) -> Campaign:
        return self._http.run(_CAMPAIGNS.get(campaign_id))

    def list(self, *, limit: int | None = None, cursor: str | None = None) -> Page[Campaign]:
        return self._http.run(_CAMPAIGNS.page(limit, cursor))

    def iter(self, *, limit: int | None = None) -> Iterator[Campaign]:
        return self._http.paginate(lambda cursor: _CAMPAIGNS.page(limit, cursor))

    def update(self, campaign_id: str, **fields: Unpack[CampaignFields]) -> Campaign:
        return self._http.run(_CAMPAIGNS.update(campaign_id, fields))

    def delete(self, campaign_id: str) -> None:
        self._http.run(_CAMPAIGNS.delete(campaign_id))

    def start(self, campaign_id: str) -> Campaign:
        """409 `ConflictError` unless the campaign is a draft."""
        return self._http.run(_CAMPAIGNS.action(campaign_id, "start"))

    def pause(self, campaign_id: str) -> Campaign:
        return self._http.run(_CAMPAIGNS.action(campaign_id, "pause"))

    def resume(self, campaign_id: str) -> Campaign:
        return self._http.run(_CAMPAIGNS.action(campaign_id, "resume"))

    def stop(self, campaign_id: str) -> Campaign:
        return self._http.run(_CAMPAIGNS.action(campaign_id, "stop"))

    def add_leads(self, campaign_id: str, leads: Sequence[LeadParam]) -> LeadsAdded:
        """Bulk add; bad or duplicate numbers come back in `rejected` by index."""
        return self._http.run(_add_leads(campaign_id, leads))

    def list_leads(self, campaign_id: str, *, status: LeadStatus | None = None,
                   limit: int | None = None, cursor: str | None = None) -> Page[Lead]:
        return self._http.run(_leads_page(campaign_id, status, limit, cursor))

    def iter_leads(self, campaign_id: str, *, status: LeadStatus | None = None,
                   limit: int | None = None) -> Iterator[Lead]:
        return self._http.paginate(lambda c: _leads_page(campaign_id, status, limit, c))


class AsyncCampaigns(AsyncResource):
    async def create(self, **fields: Unpack[CampaignFields]) -> Campaign:
        return await self._http.run(_CAMPAIGNS.create(fields))

    async def get(self, campaign_id: str) -> Campaign:
        return await self._http.run(_CAMPAIGNS.get(campaign_id))

    async def list(self, *, limit: int | None = None,
                   cursor: str | None = None) -> Page[Campaign]:
        return await self._http.run(_CAMPAIGNS.page(limit, cursor))

    def iter(self, *, limit: int | None = None) -> AsyncIterator[Campaign]:
        return self._http.paginate(lambda cursor: _CAMPAIGNS.page(limit, cursor))

    async def update(self, campaign_id: str, **fields: Unpack[CampaignFields]) -> Campaign:
        return await self._http.run(_CAMPAIGNS.update(campaign_id, fields))

    async def delete(self, campaign_id: str) -> None:
        await self._http.run(_CAMPAIGNS.delete(campaign_id))

    async def start(self, campaign_id: str) -> Campaign:
        return await self._http.run(_CAMPAIGNS.action(campaign_id, "start"))

    async def pause(self, campaign_id: str) -> Campaign:
        return await self._http.run(_CAMPAIGNS.action(campaign_id, "pause"))

    async def resume(self, campaign_id: str) -> Campaign:
        return await self._http.run(_CAMPAIGNS.action(campaign_id, "resume"))

    async def stop(self, campaign_id: str) -> Campaign:
        return await self._http.run(_CAMPAIGNS.action(campaign_id, "stop"))

    async def add_leads(self, campaign_id: str, leads: Sequence[LeadParam]) -> LeadsAdded:
        return await self._http.run(_add_leads(campaign_id, leads))

    async def list_leads(self, campaign_id: str, *, status: LeadStatus | None = None,
                         limit: int | None = None, cursor: str | None = None) -> Page[Lead]:
        return await self._http.run(_leads_page(campaign_id, status, limit, cursor))

    def iter_leads(self, campaign_id: str, *, status: LeadStatus | None = None,
                   limit: int | None = None) -> AsyncIterator[Lead]:
        return self._http.paginate(lambda c: _leads_page(campaign_id, status, limit, c))


class Leads(SyncResource):
    def get(self, lead_id: str) -> Lead:
        return self._http.run(_LEADS.get(lead_id))

    def update(self, lead_id: str, **fields: Unpack[LeadUpdate]) -> Lead:
        """Setting `status` records `status_set_by="user"`; 409 while the lead is dialled."""
        return self._http.run(_LEADS.update(lead_id, fields))


class AsyncLeads(AsyncResource):
    async def get(self, lead_id: str) -> Lead:
        return await self._http.run(_LEADS.get(lead_id))

    async def update(self, lead_id: str, **fields: Unpack[LeadUpdate]) -> Lead:
        return await self._http.run(_LEADS.update(lead_id, fields))
