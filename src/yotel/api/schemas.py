"""Response (and small request) bodies of the REST API. Secrets never appear here: a voice agent
shows `has_auth_token`, not the token."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from yotel.domain.ids import UuidStr
from yotel.domain.timezones import TimeZoneName
from yotel.domain.urls import WsUrl
from yotel.tenancy.tenants import TenantRecord
from yotel.voice_agents.schemas import AudioConfig
from yotel.voice_agents.service import VoiceAgentRecord


class VoiceAgentOut(BaseModel):
    id: str
    name: str
    ws_url: str
    has_auth_token: bool
    audio: AudioConfig
    max_concurrent: int
    token_lifetime: str
    subprotocol: str
    active_calls: int = Field(description="live calls on this agent right now (read-only)")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, record: VoiceAgentRecord, active_calls: int) -> VoiceAgentOut:
        return cls(id=record.id, name=record.name, ws_url=record.ws_url,
                   has_auth_token=record.has_auth_token, audio=record.audio,
                   max_concurrent=record.max_concurrent, token_lifetime=record.token_lifetime,
                   subprotocol=record.subprotocol, active_calls=active_calls,
                   created_at=record.created_at, updated_at=record.updated_at)


class TenantOut(BaseModel):
    id: str
    name: str
    default_voice_agent_id: str | None
    voice_agent_default_ws_url: str | None
    default_trunk_id: str | None
    timezone: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, record: TenantRecord) -> TenantOut:
        return cls(id=record.id, name=record.name,
                   default_voice_agent_id=record.default_voice_agent_id,
                   voice_agent_default_ws_url=record.voice_agent_default_ws_url,
                   default_trunk_id=record.default_trunk_id, timezone=record.timezone,
                   created_at=record.created_at, updated_at=record.updated_at)


class TenantPatch(BaseModel):
    """Only the fields sent change; null clears a field (except `timezone`). An id that names
    nothing of this tenant is a 404."""

    model_config = ConfigDict(extra="forbid")

    default_voice_agent_id: UuidStr | None = None
    voice_agent_default_ws_url: WsUrl | None = None
    default_trunk_id: UuidStr | None = None
    timezone: TimeZoneName = "UTC"
