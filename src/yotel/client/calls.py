"""`client.calls` (originate, list with filters, get), `client.ai_sessions` (get, and the 25
Control API verbs of `control.py`) and `client.callbacks` (PRODUCT.md §4)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any, Literal, TypedDict, Unpack

from pydantic import Field

from yotel.client.control import AiSessionVerbs, AsyncAiSessionVerbs
from yotel.client.http import Call as Request
from yotel.client.models import Model, Page
from yotel.client.resource import AsyncResource, Collection, SyncResource

CallState = Literal["initiated", "ringing", "answered", "ended"]
Direction = Literal["outbound", "inbound"]


class Recording(Model):
    url: str
    stereo: bool = True
    channels: dict[str, str] = {}


class Call(Model):
    id: str
    direction: Direction
    from_: str = Field(alias="from")
    to: str
    state: CallState
    campaign_id: str | None = None
    lead_id: str | None = None
    voice_agent_id: str | None = None
    flow_id: str | None = None
    started_at: datetime
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    outcome: str | None = None
    disposition: str | None = None
    disposition_source: str | None = None
    recording: Recording | None = None
    created_at: datetime


class AiSession(Model):
    call_id: str
    voice_agent_id: str | None = None
    started_at: datetime
    ended_at: datetime | None = None
    duration_s: float | None = None
    outcome: str | None = None
    metadata: dict[str, Any]


class Callback(Model):
    id: str
    campaign_id: str | None = None
    lead_id: str | None = None
    call_id: str | None = None
    phone: str
    scheduled_at: datetime
    reason: str | None = None
    voice_agent_id: str | None = None
    status: str
    attempts: int
    created_at: datetime
    updated_at: datetime


class CallFilters(TypedDict, total=False):
    """`since`/`until` bound `started_at` (aware datetimes or ISO 8601 with an offset)."""

    campaign_id: str
    state: CallState
    direction: Direction
    outcome: str
    since: datetime | str
    until: datetime | str


_CALLS = Collection("/calls", Call)
_SESSIONS = Collection("/ai-sessions", AiSession)
_CALLBACKS = Collection("/callbacks", Callback)


class LeadContext(TypedDict, total=False):
    """The lead an ad-hoc call carries to the AI's metadata frame."""

    name: str
    custom_fields: dict[str, Any]


def _originate(to: str, voice_agent_id: str | None, caller_id: str | None,
               trunk_id: str | None, lead: LeadContext | None,
               idempotency_key: str | None) -> Request[Call]:
    fields = {"to": to, "voice_agent_id": voice_agent_id, "caller_id": caller_id,
              "trunk_id": trunk_id, "lead": lead}
    return Request("POST", "/calls", Call.model_validate,
                   json={k: v for k, v in fields.items() if v is not None},
                   idempotency_key=idempotency_key)


def _calls_page(filters: CallFilters, limit: int | None,
                cursor: str | None) -> Request[Page[Call]]:
    params = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in filters.items()}
    return _CALLS.list(**params, limit=limit, cursor=cursor)


def _callbacks_page(status: str | None, campaign_id: str | None, limit: int | None,
                    cursor: str | None) -> Request[Page[Callback]]:
    return _CALLBACKS.list(status=status, campaign_id=campaign_id, limit=limit, cursor=cursor)


class Calls(SyncResource):
    def create(self, *, to: str, voice_agent_id: str | None = None, caller_id: str | None = None,
               trunk_id: str | None = None, lead: LeadContext | None = None,
               idempotency_key: str | None = None) -> Call:
        """Place one call now (`POST /calls`): `to` is E.164 or a sip: URI; the AI is the
        agent given, else the tenant's default (page 000)."""
        return self._http.run(_originate(to, voice_agent_id, caller_id, trunk_id, lead,
                                         idempotency_key))

    def get(self, call_id: str) -> Call:
        return self._http.run(_CALLS.get(call_id))

    def list(self, *, limit: int | None = None, cursor: str | None = None,
             **filters: Unpack[CallFilters]) -> Page[Call]:
        return self._http.run(_calls_page(filters, limit, cursor))

    def iter(self, *, limit: int | None = None, **filters: Unpack[CallFilters]) -> Iterator[Call]:
        return self._http.paginate(lambda cursor: _calls_page(filters, limit, cursor))


class AsyncCalls(AsyncResource):
    async def create(self, *, to: str, voice_agent_id: str | None = None,
                     caller_id: str | None = None, trunk_id: str | None = None,
                     lead: LeadContext | None = None,
                     idempotency_key: str | None = None) -> Call:
        return await self._http.run(_originate(to, voice_agent_id, caller_id, trunk_id, lead,
                                               idempotency_key))

    async def get(self, call_id: str) -> Call:
        return await self._http.run(_CALLS.get(call_id))

    async def list(self, *, limit: int | None = None, cursor: str | None = None,
                   **filters: Unpack[CallFilters]) -> Page[Call]:
        return await self._http.run(_calls_page(filters, limit, cursor))

    def iter(self, *, limit: int | None = None,
             **filters: Unpack[CallFilters]) -> AsyncIterator[Call]:
        return self._http.paginate(lambda cursor: _calls_page(filters, limit, cursor))


class AiSessions(AiSessionVerbs):
    def get(self, call_id: str, *, callback_token: str | None = None) -> AiSession:
        """The session of `call_id`; `callback_token` (`yt_cb_...`) replaces the API key."""
        return self._http.run(_SESSIONS.get(call_id, bearer=callback_token))


class AsyncAiSessions(AsyncAiSessionVerbs):
    async def get(self, call_id: str, *, callback_token: str | None = None) -> AiSession:
        return await self._http.run(_SESSIONS.get(call_id, bearer=callback_token))


class Callbacks(SyncResource):
    def get(self, callback_id: str) -> Callback:
        return self._http.run(_CALLBACKS.get(callback_id))

    def list(self, *, status: str | None = None, campaign_id: str | None = None,
             limit: int | None = None, cursor: str | None = None) -> Page[Callback]:
        return self._http.run(_callbacks_page(status, campaign_id, limit, cursor))

    def iter(self, *, status: str | None = None, campaign_id: str | None = None,
             limit: int | None = None) -> Iterator[Callback]:
        return self._http.paginate(
            lambda cursor: _callbacks_page(status, campaign_id, limit, cursor))

    def delete(self, callback_id: str) -> None:
        """Cancel; 409 `ConflictError` while the dialer is placing it."""
        self._http.run(_CALLBACKS.delete(callback_id))


class AsyncCallbacks(AsyncResource):
    async def get(self, callback_id: str) -> Callback:
        return await self._http.run(_CALLBACKS.get(callback_id))

    async def list(self, *, status: str | None = None, campaign_id: str | None = None,
                   limit: int | None = None, cursor: str | None = None) -> Page[Callback]:
        return await self._http.run(_callbacks_page(status, campaign_id, limit, cursor))

    def iter(self, *, status: str | None = None, campaign_id: str | None = None,
             limit: int | None = None) -> AsyncIterator[Callback]:
        return self._http.paginate(
            lambda cursor: _callbacks_page(status, campaign_id, limit, cursor))

    async def delete(self, callback_id: str) -> None:
        await self._http.run(_CALLBACKS.delete(callback_id))
