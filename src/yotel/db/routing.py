"""Inbound routing and people: numbers (DIDs) and the flows they run, human agents and the
queues a `transfer` node or verb rings (PRODUCT.md §4)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yotel.db.base import Base, JsonDocument, UtcDateTime, utcnow
from yotel.db.dialing import PHONE_LENGTH


def _tenant_fk() -> ForeignKey:
    return ForeignKey("tenants.id", ondelete="CASCADE")


class Flow(Base):
    __tablename__ = "flows"
    __table_args__ = (Index("ix_flows_tenant_created", "tenant_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(36), _tenant_fk())
    name: Mapped[str] = mapped_column(String(200))
    entry: Mapped[str] = mapped_column(String(100))
    # Saved only after `yotel.flows.graph.validate_graph` accepted them.
    nodes: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument)
    edges: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class Number(Base):
    """A DID. `e164` is unique across the platform: one inbound INVITE, one tenant."""

    __tablename__ = "numbers"
    __table_args__ = (Index("ix_numbers_tenant_created", "tenant_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(36), _tenant_fk())
    e164: Mapped[str] = mapped_column(String(PHONE_LENGTH), unique=True)
    # RESTRICT: a flow that answers a number cannot be deleted (409).
    flow_id: Mapped[str | None] = mapped_column(String(36), ForeignKey("flows.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class Agent(Base):
    """A human agent (or supervisor) reachable at `contact`: a SIP URI or an E.164 number."""

    __tablename__ = "agents"
    __table_args__ = (Index("ix_agents_tenant_created", "tenant_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(36), _tenant_fk())
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default="agent")
    contact: Mapped[str] = mapped_column(Text)
    on_duty: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class AgentQueue(Base):
    __tablename__ = "agent_queues"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_agent_queues_tenant_id_name"),
                      Index("ix_agent_queues_tenant_created", "tenant_id", "created_at", "id"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(36), _tenant_fk())
    name: Mapped[str] = mapped_column(String(200))
    strategy: Mapped[str] = mapped_column(String(16), default="ring_all")
    # Round robin: the position of the member rung first last time (advanced by the transfer).
    rr_cursor: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class AgentQueueMember(Base):
    """`agent_ids` of a queue, in order. Deleting an agent takes it out of its queues."""

    __tablename__ = "agent_queue_members"

    queue_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("agent_queues.id", ondelete="CASCADE"), primary_key=True)
    agent_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(Integer)
