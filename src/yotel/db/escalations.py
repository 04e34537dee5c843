"""Supervisor escalations (PRODUCT.md §4, page 003 `request_supervisor`).

A row is written by the `request_supervisor` verb (`status` `open`, no supervisor) and claimed
once: `UPDATE ... WHERE status = 'open'` sets `supervisor_id` and `claimed_at`, so of two
concurrent claims exactly one changes a row. `closed` is for an escalation nobody needs any more
(the call ended unclaimed); nothing reopens one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from yotel.db.base import Base, UtcDateTime, utcnow


class Escalation(Base):
    __tablename__ = "escalations"
    __table_args__ = (
        Index("ix_escalations_tenant_created", "tenant_id", "created_at", "id"),
        Index("ix_escalations_tenant_status_created", "tenant_id", "status", "created_at", "id"),
        Index("ix_escalations_call_id", "call_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("tenants.id", ondelete="CASCADE"))
    call_id: Mapped[str] = mapped_column(String(36), ForeignKey("calls.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(Text)
    urgency: Mapped[str] = mapped_column(String(16), default="normal")
    status: Mapped[str] = mapped_column(String(16), default="open")
    # SET NULL: deleting a supervisor keeps the history of what was escalated.
    supervisor_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("agents.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
