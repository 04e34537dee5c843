"""Webhook endpoints and their deliveries (PRODUCT.md §7).

A delivery is one event for one endpoint (unique pair, so fanning an event out twice creates
nothing new). `status`: `pending` (not tried yet), `failed` (tried, a retry is scheduled at
`next_attempt_at`), `delivered`, `dead` (the retry schedule is exhausted). A dispatcher claims a
row by setting `claimed_by` / `claimed_until`; `call_id` and `sequence` (copied from the outbox)
keep a call's events in order per endpoint.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from yotel.db.base import Base, JsonDocument, UtcDateTime, utcnow

WAITING = "status IN ('pending', 'failed')"  # a delivery still to be sent (or retried)


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (
        Index("ix_webhook_endpoints_tenant_created", "tenant_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("tenants.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(String(200), nullable=True)
    events: Mapped[list[str]] = mapped_column(JsonDocument)
    # `whsec_…` sealed with yotel.domain.secretbox.SecretBox; shown once, on create or rotate.
    secret_sealed: Mapped[str] = mapped_column(Text)
    # During a rotation the old secret signs too, until `previous_secret_expires_at`.
    previous_secret_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(
        UtcDateTime, nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    failing_since: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id",
                         name="uq_webhook_deliveries_endpoint_id_event_id"),
        # The dispatcher's claim: the waiting rows, and the per-endpoint order of a call's
        # waiting events (the predecessor check). Partial (migration 0005): delivered rows,
        # the bulk of the table, are never read by a claim; the only one over waiting rows
        # (0006), so a plan cannot check order through one that does not fit.
        Index("ix_webhook_deliveries_waiting_order", "endpoint_id", "call_id", "sequence",
              postgresql_where=text(WAITING), sqlite_where=text(WAITING)),
        Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("tenants.id", ondelete="CASCADE"))
    endpoint_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("outbox_events.id", ondelete="CASCADE"), index=True)
    event_type: Mapped[str] = mapped_column(String(64))
    call_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    latency_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
