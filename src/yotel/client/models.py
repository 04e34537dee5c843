"""Typed objects the API returns. Unknown fields are kept (servers add fields over time)."""

from __future__ import annotations

from datetime import datetime
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")


class Model(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class AudioConfig(Model):
    encoding: Literal["pcmu", "pcma"] = "pcmu"
    sample_rate: int = 8000
    frame_ms: int = 20


class VoiceAgent(Model):
    id: str
    name: str
    ws_url: str
    has_auth_token: bool
    audio: AudioConfig
    max_concurrent: int
    token_lifetime: str
    subprotocol: str
    active_calls: int
    created_at: datetime
    updated_at: datetime


class Tenant(Model):
    id: str
    name: str
    default_voice_agent_id: str | None = None
    voice_agent_default_ws_url: str | None = None
    default_trunk_id: str | None = None
    timezone: str
    created_at: datetime
    updated_at: datetime


class Page(Model, Generic[T]):
    data: list[T]
    next_cursor: str | None = None
