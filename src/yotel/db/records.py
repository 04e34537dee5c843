"""What calls leave behind: call records, AI sessions, callback tokens, and the event outbox.

The call layer writes these; the REST API only reads them. Ids of other objects (campaign,
lead, voice agent, flow, trunk) are kept as history: a call record outlives the objects it used,
so those columns carry no foreign key that would block deleting them (campaign and lead are
`SET NULL` so a deleted campaign leaves its calls readable).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from yotel.db.base import Base, JsonDocument, UtcDateTime, utcnow


class Call(Base):
    __tablename__ = "calls"
    __table_args__ = (
        Index("ix_calls_tenant_created", "tenant_id", "created_at", "id"),
        Index("ix_calls_tenant_campaign", "tenant_id", "campaign_id"),
        # Crash recovery: "the calls this node had live" (state not ended, owned by node_id).
        Index("ix_calls_node_state", "node_id", "state"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("tenants.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(8))
    from_: Mapped[str] = mapped_column("from", Text)
    to: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="initiated")
    campaign_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("campaigns.id", ondelete="SET NULL"), nullable=True)
    lead_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("leads.id", ondelete="SET NULL"), nullable=True)
    voice_agent_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    flow_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    number_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    trunk_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    sip_call_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The `yotel serve` node carrying the media (PRODUCT.md §9): verbs are routed there.
    node_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    ringing_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    sip_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    disposition: Mapped[str | None] = mapped_column(String(200), nullable=True)
    disposition_source: Mapped[str | None] = mapped_column(String(8), nullable=True)
    recording_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class AiSession(Base):
    """The voice AI's side of a call: one per call that reached an agent."""

    __tablename__ = "ai_sessions"
    __table_args__ = (Index("ix_ai_sessions_tenant_id", "tenant_id"),)

    call_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("tenants.id", ondelete="CASCADE"))
    voice_agent_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # `{"logs": [...], ...}`: what the Control API's verbs and the session recorded.
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JsonDocument)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class CallbackToken(Base):
    """`yt_cb_<ULID>` tokens (PRODUCT.md §6.9): only the SHA-256 is stored."""

    __tablename__ = "callback_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    call_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("tenants.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class OutboxEvent(Base):
    """A webhook event (PRODUCT.md §7), written in the transaction of the state change that
    causes it; `sequence` orders a call's events (unique per call), `dispatched_at` is set once
    the dispatcher has fanned it out to the tenant's endpoints."""

    __tablename__ = "outbox_events"
    __table_args__ = (
        UniqueConstraint("call_id", "sequence", name="uq_outbox_events_call_id_sequence"),
        Index("ix_outbox_events_pending", "dispatched_at", "created_at"),
        # The dispatcher's "an earlier event of this call is not fanned out yet" check.
        Index("ix_outbox_events_undispatched", "call_id", "sequence",
              postgresql_where=text("dispatched_at IS NULL"),
              sqlite_where=text("dispatched_at IS NULL")),
        Index("ix_outbox_events_tenant_created", "tenant_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # evt_<ULID>
    tenant_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("tenants.id", ondelete="CASCADE"))
    call_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
