"""Resources: each method describes one request (`Call`) in a module-level builder, and the sync
and async classes only run it. New resources (campaigns, calls, ai_sessions, …) follow the same
pattern."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Literal

from yotel.client.fields import NOT_GIVEN, NotGiven, body
from yotel.client.http import AsyncHttp, Call, SyncHttp
from yotel.client.models import Page, Tenant, VoiceAgent

Encoding = Literal["pcmu", "pcma"]
TokenLifetime = Literal["30min_with_refresh", "ws_session"]
Subprotocol = Literal["audio.drachtio.org", "audio.jambonz.org"]


def _page_of(model: type[VoiceAgent]) -> Callable[[Any], Page[VoiceAgent]]:
    return lambda data: Page[model].model_validate(data)  # type: ignore[valid-type]


def _none(_: Any) -> None:
    return None


class _VoiceAgentCalls:
    path = "/voice-agents"

    @classmethod
    def create(cls, fields: dict[str, Any]) -> Call[VoiceAgent]:
        return Call("POST", cls.path, VoiceAgent.model_validate, json=fields)

    @classmethod
    def get(cls, agent_id: str) -> Call[VoiceAgent]:
        return Call("GET", f"{cls.path}/{agent_id}", VoiceAgent.model_validate)

    @classmethod
    def list(cls, limit: int | None, cursor: str | None) -> Call[Page[VoiceAgent]]:
        return Call("GET", cls.path, _page_of(VoiceAgent),
                    params={"limit": limit, "cursor": cursor})

    @classmethod
    def update(cls, agent_id: str, fields: dict[str, Any]) -> Call[VoiceAgent]:
        return Call("PATCH", f"{cls.path}/{agent_id}", VoiceAgent.model_validate, json=fields)

    @classmethod
    def delete(cls, agent_id: str) -> Call[None]:
        return Call("DELETE", f"{cls.path}/{agent_id}", _none)


def _agent_fields(name: str | NotGiven, ws_url: str | NotGiven, auth_token: str | NotGiven | None,
                  audio: dict[str, Any] | NotGiven, max_concurrent: int | NotGiven,
                  token_lifetime: TokenLifetime | NotGiven,
                  subprotocol: Subprotocol | NotGiven) -> dict[str, Any]:
    return body(name=name, ws_url=ws_url, auth_token=auth_token, audio=audio,
                max_concurrent=max_concurrent, token_lifetime=token_lifetime,
                subprotocol=subprotocol)


class VoiceAgents:
    """`client.voice_agents`: routing aliases (name, WS URL, auth, audio config)."""

    def __init__(self, http: SyncHttp) -> None:
        self._http = http

    def create(self, *, name: str, ws_url: str, auth_token: str | NotGiven | None = NOT_GIVEN,
               audio: dict[str, Any] | NotGiven = NOT_GIVEN,
               max_concurrent: int | NotGiven = NOT_GIVEN,
               token_lifetime: TokenLifetime | NotGiven = NOT_GIVEN,
               subprotocol: Subprotocol | NotGiven = NOT_GIVEN) -> VoiceAgent:
        fields = _agent_fields(name, ws_url, auth_token, audio, max_concurrent, token_lifetime,
                               subprotocol)
        return self._http.run(_VoiceAgentCalls.create(fields))

    def get(self, agent_id: str) -> VoiceAgent:
        return self._http.run(_VoiceAgentCalls.get(agent_id))

    def list(self, *, limit: int | None = None, cursor: str | None = None) -> Page[VoiceAgent]:
        return self._http.run(_VoiceAgentCalls.list(limit, cursor))

    def iter(self, *, limit: int | None = None) -> Iterator[VoiceAgent]:
        """Every agent, following `next_cursor` page after page."""
        cursor: str | None = None
        while True:
            page = self.list(limit=limit, cursor=cursor)
            yield from page.data
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def update(self, agent_id: str, *, name: str | NotGiven = NOT_GIVEN,
               ws_url: str | NotGiven = NOT_GIVEN, auth_token: str | NotGiven | None = NOT_GIVEN,
               audio: dict[str, Any] | NotGiven = NOT_GIVEN,
               max_concurrent: int | NotGiven = NOT_GIVEN,
               token_lifetime: TokenLifetime | NotGiven = NOT_GIVEN,
               subprotocol: Subprotocol | NotGiven = NOT_GIVEN) -> VoiceAgent:
        fields = _agent_fields(name, ws_url, auth_token, audio, max_concurrent, token_lifetime,
                               subprotocol)
        return self._http.run(_VoiceAgentCalls.update(agent_id, fields))

    def delete(self, agent_id: str) -> None:
        self._http.run(_VoiceAgentCalls.delete(agent_id))


class AsyncVoiceAgents:
    """`client.voice_agents` of `AsyncYotel`."""

    def __init__(self, http: AsyncHttp) -> None:
        self._http = http

    async def create(self, *, name: str, ws_url: str,
                     auth_token: str | NotGiven | None = NOT_GIVEN,
                     audio: dict[str, Any] | NotGiven = NOT_GIVEN,
                     max_concurrent: int | NotGiven = NOT_GIVEN,
                     token_lifetime: TokenLifetime | NotGiven = NOT_GIVEN,
                     subprotocol: Subprotocol | NotGiven = NOT_GIVEN) -> VoiceAgent:
        fields = _agent_fields(name, ws_url, auth_token, audio, max_concurrent, token_lifetime,
                               subprotocol)
        return await self._http.run(_VoiceAgentCalls.create(fields))

    async def get(self, agent_id: str) -> VoiceAgent:
        return await self._http.run(_VoiceAgentCalls.get(agent_id))

    async def list(self, *, limit: int | None = None,
                   cursor: str | None = None) -> Page[VoiceAgent]:
        return await self._http.run(_VoiceAgentCalls.list(limit, cursor))

    async def iter(self, *, limit: int | None = None) -> AsyncIterator[VoiceAgent]:
        cursor: str | None = None
        while True:
            page = await self.list(limit=limit, cursor=cursor)
            for agent in page.data:
                yield agent
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def update(self, agent_id: str, *, name: str | NotGiven = NOT_GIVEN,
                     ws_url: str | NotGiven = NOT_GIVEN,
                     auth_token: str | NotGiven | None = NOT_GIVEN,
                     audio: dict[str, Any] | NotGiven = NOT_GIVEN,
                     max_concurrent: int | NotGiven = NOT_GIVEN,
                     token_lifetime: TokenLifetime | NotGiven = NOT_GIVEN,
                     subprotocol: Subprotocol | NotGiven = NOT_GIVEN) -> VoiceAgent:
        fields = _agent_fields(name, ws_url, auth_token, audio, max_concurrent, token_lifetime,
                               subprotocol)
        return await self._http.run(_VoiceAgentCalls.update(agent_id, fields))

    async def delete(self, agent_id: str) -> None:
        await self._http.run(_VoiceAgentCalls.delete(agent_id))


def _tenant_get() -> Call[Tenant]:
    return Call("GET", "/tenant", Tenant.model_validate)


def _tenant_update(fields: dict[str, Any]) -> Call[Tenant]:
    return Call("PATCH", "/tenant", Tenant.model_validate, json=fields)


class TenantResource:
    """`client.tenant`: the calling key's tenant settings (scope `tenant:admin`)."""

    def __init__(self, http: SyncHttp) -> None:
        self._http = http

    def get(self) -> Tenant:
        return self._http.run(_tenant_get())

    def update(self, *, default_voice_agent_id: str | NotGiven | None = NOT_GIVEN,
               voice_agent_default_ws_url: str | NotGiven | None = NOT_GIVEN,
               default_trunk_id: str | NotGiven | None = NOT_GIVEN,
               timezone: str | NotGiven = NOT_GIVEN) -> Tenant:
        return self._http.run(_tenant_update(body(
            default_voice_agent_id=default_voice_agent_id,
            voice_agent_default_ws_url=voice_agent_default_ws_url,
            default_trunk_id=default_trunk_id, timezone=timezone)))


class AsyncTenantResource:
    def __init__(self, http: AsyncHttp) -> None:
        self._http = http

    async def get(self) -> Tenant:
        return await self._http.run(_tenant_get())

    async def update(self, *, default_voice_agent_id: str | NotGiven | None = NOT_GIVEN,
                     voice_agent_default_ws_url: str | NotGiven | None = NOT_GIVEN,
                     default_trunk_id: str | NotGiven | None = NOT_GIVEN,
                     timezone: str | NotGiven = NOT_GIVEN) -> Tenant:
        return await self._http.run(_tenant_update(body(
            default_voice_agent_id=default_voice_agent_id,
            voice_agent_default_ws_url=voice_agent_default_ws_url,
            default_trunk_id=default_trunk_id, timezone=timezone)))
