"""Outbound dialling: SIP trunks, campaigns and their leads, scheduled callbacks, and the two
do-not-disturb lists (a tenant's own and the platform registry).

Leads are built for the dialer's claim (docs/api.md, "Leads and the dialer"): a lead is due when
`status = 'pending'` and `next_attempt_at <= now`; a claimer sets `status = 'dialing'`,
`claimed_by` (its node) and `claimed_until` (a lease), under `FOR UPDATE SKIP LOCKED` on
PostgreSQL or SQLite's single writer. `ix_leads_due` serves "due leads of a campaign" in order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yotel.db.base import Base, JsonDocument, UtcDateTime, utcnow

PHONE_LENGTH = 16  # '+' and at most 15 digits (ITU-T E.164 §6)


def _tenant_fk() -> ForeignKey:
    return ForeignKey("tenants.id", ondelete="CASCADE")


class SipTrunk(Base):
    __tablename__ = "sip_trunks"
    __table_args__ = (Index("ix_sip_trunks_tenant_created", "tenant_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(36), _tenant_fk())
    name: Mapped[str] = mapped_column(String(200))
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer, default=5060)
    transport: Mapped[str] = mapped_column(String(8), default="udp")
    username: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # Sealed with yotel.domain.secretbox.SecretBox; never returned by the API.
    password_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)
    caller_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class Campaign(Base):
    __tablename__ = "campaigns"
    __table_args__ = (Index("ix_campaigns_tenant_created", "tenant_id", "created_at", "id"),
                      Index("ix_campaigns_status", "status"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(36), _tenant_fk())
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # RESTRICT (the default): a voice agent or trunk a campaign uses cannot vanish under it.
    voice_agent_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("voice_agents.id"), nullable=True)
    post_answer_action: Mapped[str] = mapped_column(String(32), default="connect_voice_agent")
    caller_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    trunk_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("sip_trunks.id"), nullable=True)
    calls_per_second: Mapped[float] = mapped_column(Float, default=1.0)
    max_concurrent_calls: Mapped[int] = mapped_column(Integer, default=10)
    calling_window: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument, nullable=True)
    retry: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class Lead(Base):
    __tablename__ = "leads"
    __table_args__ = (
        UniqueConstraint("campaign_id", "phone", name="uq_leads_campaign_id_phone"),
        Index("ix_leads_campaign_created", "campaign_id", "created_at", "id"),
        # Also serves "expired claims of a campaign" (status = 'dialing'): one index less to
        # maintain on every insert and status change.
        Index("ix_leads_due", "campaign_id", "status", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(36), _tenant_fk())
    campaign_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("campaigns.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(String(PHONE_LENGTH))
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    status_set_by: Mapped[str] = mapped_column(String(8), default="system")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    disposition: Mapped[str | None] = mapped_column(String(200), nullable=True)
    last_outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    last_call_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    # When the lead may next be dialled (now on insert; pushed out by the retry policy).
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class Callback(Base):
    """A call to place later, from the Control API's `schedule_callback` (page 003)."""

    __tablename__ = "callbacks"
    __table_args__ = (Index("ix_callbacks_tenant_created", "tenant_id", "created_at", "id"),
                      Index("ix_callbacks_due", "status", "scheduled_at"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(36), _tenant_fk())
    campaign_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=True)
    lead_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("leads.id", ondelete="SET NULL"), nullable=True)
    # The call that scheduled it (history: no foreign key, calls may be purged).
    call_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    phone: Mapped[str] = mapped_column(String(PHONE_LENGTH))
    scheduled_at: Mapped[datetime] = mapped_column(UtcDateTime)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    voice_agent_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("voice_agents.id"), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class DndEntry(Base):
    """A tenant's own do-not-disturb number."""

    __tablename__ = "dnd_entries"
    __table_args__ = (UniqueConstraint("tenant_id", "phone", name="uq_dnd_entries_tenant_id_phone"),
                      Index("ix_dnd_entries_tenant_created", "tenant_id", "created_at", "id"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(36), _tenant_fk())
    phone: Mapped[str] = mapped_column(String(PHONE_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class DndRegistryEntry(Base):
    """The platform-wide do-not-disturb registry (`yotel dnd import`), checked for every
    tenant; keyed by the number itself, so the dial-time check is one primary-key lookup."""

    __tablename__ = "dnd_registry"

    phone: Mapped[str] = mapped_column(String(PHONE_LENGTH), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


__all__ = ["Callback", "Campaign", "DndEntry", "DndRegistryEntry", "Lead", "SipTrunk"]
