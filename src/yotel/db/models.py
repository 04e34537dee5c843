"""SQLAlchemy 2 typed models. The migrations in `db/migrations/` must produce exactly this schema
(a test runs Alembic's autogenerate comparison against a migrated database).

This module holds the foundation (tenants, API keys, voice agents) and re-exports the rest, so
`from yotel.db.models import X` works for every table: `dialing.py` (trunks, campaigns, leads,
callbacks, DND), `routing.py` (numbers, flows, human agents and queues), `records.py` (calls, AI
sessions, callback tokens, the event outbox), `webhooks.py` (webhook endpoints and deliveries),
`escalations.py` (supervisor escalations)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from yotel.db.base import NAMING_CONVENTION, Base, JsonDocument, UtcDateTime, utcnow


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # use_alter: tenants and voice_agents reference each other.
    default_voice_agent_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("voice_agents.id", use_alter=True), nullable=True)
    voice_agent_default_ws_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    # No foreign key: adding one to `tenants` on SQLite means rebuilding the table, and dropping
    # the old one there cascades (SQLite docs, "DROP TABLE": an implicit DELETE FROM) into every
    # tenant-owned row. `yotel.trunks` checks the trunk is the tenant's on PATCH and refuses to
    # delete a trunk that is some tenant's default (409).
    default_trunk_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # The first characters of the random part, stored in clear to find the row; the key itself
    # is stored only as its SHA-256 digest.
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JsonDocument)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class VoiceAgent(Base):
    __tablename__ = "voice_agents"
    __table_args__ = (Index("ix_voice_agents_tenant_created", "tenant_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    ws_url: Mapped[str] = mapped_column(Text)
    # Sealed with yotel.domain.secretbox.SecretBox; never returned by the API.
    auth_token_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)
    audio: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    max_concurrent: Mapped[int] = mapped_column(Integer, default=100)
    token_lifetime: Mapped[str] = mapped_column(String(32), default="30min_with_refresh")
    subprotocol: Mapped[str] = mapped_column(String(64), default="audio.drachtio.org")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


# Imported last: these modules build on `Base` above and register their tables on its metadata.
from yotel.db.dialing import (  # noqa: E402
    Callback,
    Campaign,
    DndEntry,
    DndRegistryEntry,
    Lead,
    SipTrunk,
)
from yotel.db.escalations import Escalation  # noqa: E402
from yotel.db.records import AiSession, Call, CallbackToken, OutboxEvent  # noqa: E402
from yotel.db.routing import Agent, AgentQueue, AgentQueueMember, Flow, Number  # noqa: E402
from yotel.db.webhooks import WebhookDelivery, WebhookEndpoint  # noqa: E402

__all__ = [
    "NAMING_CONVENTION", "Agent", "AgentQueue", "AgentQueueMember", "AiSession", "ApiKey", "Base",
    "Call", "Callback", "CallbackToken", "Campaign", "DndEntry", "DndRegistryEntry", "Escalation",
    "Flow", "JsonDocument", "Lead", "Number", "OutboxEvent", "SipTrunk", "Tenant", "UtcDateTime",
    "VoiceAgent", "WebhookDelivery", "WebhookEndpoint", "utcnow",
]
