"""`client.voice_agents` (PRODUCT.md §4, page 000): routing aliases, name + WS URL + auth +
audio config."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Literal, TypedDict, Unpack

from yotel.client.models import AudioConfig, Page, VoiceAgent
from yotel.client.resource import AsyncResource, Collection, SyncResource

Encoding = Literal["pcmu", "pcma"]
TokenLifetime = Literal["30min_with_refresh", "ws_session"]
Subprotocol = Literal["audio.drachtio.org", "audio.jambonz.org"]


class AudioParam(TypedDict, total=False):
    encoding: Encoding
    sample_rate: int
    frame_ms: int


class VoiceAgentUpdate(TypedDict, total=False):
    """Fields of `update`; a field left out is unchanged, `auth_token=None` removes the token."""

    name: str
    ws_url: str
    auth_token: str | None
    audio: AudioParam | AudioConfig
    max_concurrent: int
    token_lifetime: TokenLifetime
    subprotocol: Subprotocol


class _VoiceAgentRequired(TypedDict):
    name: str
    ws_url: str


class VoiceAgentCreate(_VoiceAgentRequired, total=False):
    """Fields of `create`: `name` and `ws_url` required, the rest default on the server."""

    auth_token: str | None
    audio: AudioParam | AudioConfig
    max_concurrent: int
    token_lifetime: TokenLifetime
    subprotocol: Subprotocol


_AGENTS = Collection("/voice-agents", VoiceAgent, VoiceAgentCreate, VoiceAgentUpdate)


class VoiceAgents(SyncResource):
    def create(self, **fields: Unpack[VoiceAgentCreate]) -> VoiceAgent:
        return self._http.run(_AGENTS.create(fields))

    def get(self, agent_id: str) -> VoiceAgent:
        return self._http.run(_AGENTS.get(agent_id))

    def list(self, *, limit: int | None = None, cursor: str | None = None) -> Page[VoiceAgent]:
        return self._http.run(_AGENTS.page(limit, cursor))

    def iter(self, *, limit: int | None = None) -> Iterator[VoiceAgent]:
        """Every voice agent, page after page."""
        return self._http.paginate(lambda cursor: _AGENTS.page(limit, cursor))

    def update(self, agent_id: str, **fields: Unpack[VoiceAgentUpdate]) -> VoiceAgent:
        return self._http.run(_AGENTS.update(agent_id, fields))

    def delete(self, agent_id: str) -> None:
        """409 `ConflictError` while the agent has live calls or is the tenant default."""
        self._http.run(_AGENTS.delete(agent_id))


class AsyncVoiceAgents(AsyncResource):
    async def create(self, **fields: Unpack[VoiceAgentCreate]) -> VoiceAgent:
        return await self._http.run(_AGENTS.create(fields))

    async def get(self, agent_id: str) -> VoiceAgent:
        return await self._http.run(_AGENTS.get(agent_id))

    async def list(self, *, limit: int | None = None,
                   cursor: str | None = None) -> Page[VoiceAgent]:
        return await self._http.run(_AGENTS.page(limit, cursor))

    def iter(self, *, limit: int | None = None) -> AsyncIterator[VoiceAgent]:
        return self._http.paginate(lambda cursor: _AGENTS.page(limit, cursor))

    async def update(self, agent_id: str, **fields: Unpack[VoiceAgentUpdate]) -> VoiceAgent:
        return await self._http.run(_AGENTS.update(agent_id, fields))

    async def delete(self, agent_id: str) -> None:
        await self._http.run(_AGENTS.delete(agent_id))
