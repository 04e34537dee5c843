"""The call path: SIP trunks, campaigns, leads, callbacks, DND (tenant and platform), numbers,
flows, human agents and queues, call records, AI sessions, callback tokens, the event outbox.

Only new tables: `tenants.default_trunk_id` stays without a foreign key (see `db/models.py`).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from yotel.db.base import UtcDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PHONE = 16


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _id() -> sa.Column[Any]:
    return sa.Column("id", sa.String(36), nullable=False)


def _tenant(table: str) -> list[Any]:
    return [sa.Column("tenant_id", sa.String(36), nullable=False),
            sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE",
                                    name=f"fk_{table}_tenant_id_tenants")]


def _fk(table: str, column: str, target: str, ondelete: str | None = None) -> Any:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], ondelete=ondelete,
                                   name=f"fk_{table}_{column}_{target}")


def _stamps(*, updated: bool = True) -> list[sa.Column[Any]]:
    columns: list[sa.Column[Any]] = [sa.Column("created_at", UtcDateTime(), nullable=False)]
    if updated:
        columns.append(sa.Column("updated_at", UtcDateTime(), nullable=False))
    return columns


def _table(name: str, *items: Any, pk: tuple[str, ...] = ("id",)) -> None:
    op.create_table(name, *items, sa.PrimaryKeyConstraint(*pk, name=f"pk_{name}"))


def _created_index(table: str, lead: str = "tenant_id") -> None:
    suffix = "tenant_created" if lead == "tenant_id" else "campaign_created"
    op.create_index(f"ix_{table}_{suffix}", table, [lead, "created_at", "id"])


def _dialing() -> None:
    _table("sip_trunks", _id(), *_tenant("sip_trunks"),
           sa.Column("name", sa.String(200), nullable=False),
           sa.Column("host", sa.String(255), nullable=False),
           sa.Column("port", sa.Integer(), nullable=False),
           sa.Column("transport", sa.String(8), nullable=False),
           sa.Column("username", sa.String(200), nullable=True),
           sa.Column("password_sealed", sa.Text(), nullable=True),
           sa.Column("caller_id", sa.String(32), nullable=True), *_stamps())
    _created_index("sip_trunks")
    _table("campaigns", _id(), *_tenant("campaigns"),
           sa.Column("name", sa.String(200), nullable=True),
           sa.Column("voice_agent_id", sa.String(36), nullable=True),
           sa.Column("post_answer_action", sa.String(32), nullable=False),
           sa.Column("caller_id", sa.String(32), nullable=True),
           sa.Column("trunk_id", sa.String(36), nullable=True),
           sa.Column("calls_per_second", sa.Float(), nullable=False),
           sa.Column("max_concurrent_calls", sa.Integer(), nullable=False),
           sa.Column("calling_window", _json(), nullable=True),
           sa.Column("retry", _json(), nullable=False),
           sa.Column("status", sa.String(16), nullable=False),
           sa.Column("started_at", UtcDateTime(), nullable=True),
           sa.Column("ended_at", UtcDateTime(), nullable=True), *_stamps(),
           _fk("campaigns", "voice_agent_id", "voice_agents"),
           _fk("campaigns", "trunk_id", "sip_trunks"))
    _created_index("campaigns")
    op.create_index("ix_campaigns_status", "campaigns", ["status"])
    _leads()
    _callbacks()
    _table("dnd_entries", _id(), *_tenant("dnd_entries"),
           sa.Column("phone", sa.String(PHONE), nullable=False), *_stamps(updated=False),
           sa.UniqueConstraint("tenant_id", "phone", name="uq_dnd_entries_tenant_id_phone"))
    _created_index("dnd_entries")
    _table("dnd_registry", sa.Column("phone", sa.String(PHONE), nullable=False),
           *_stamps(updated=False), pk=("phone",))


def _leads() -> None:
    _table("leads", _id(), *_tenant("leads"),
           sa.Column("campaign_id", sa.String(36), nullable=False),
           sa.Column("phone", sa.String(PHONE), nullable=False),
           sa.Column("name", sa.String(200), nullable=True),
           sa.Column("timezone", sa.String(64), nullable=True),
           sa.Column("custom_fields", _json(), nullable=False),
           sa.Column("status", sa.String(16), nullable=False),
           sa.Column("status_set_by", sa.String(8), nullable=False),
           sa.Column("attempts", sa.Integer(), nullable=False),
           sa.Column("disposition", sa.String(200), nullable=True),
           sa.Column("last_outcome", sa.String(32), nullable=True),
           sa.Column("last_call_id", sa.String(36), nullable=True),
           sa.Column("next_attempt_at", UtcDateTime(), nullable=True),
           sa.Column("claimed_by", sa.String(64), nullable=True),
           sa.Column("claimed_until", UtcDateTime(), nullable=True), *_stamps(),
           _fk("leads", "campaign_id", "campaigns", "CASCADE"),
           sa.UniqueConstraint("campaign_id", "phone", name="uq_leads_campaign_id_phone"))
    _created_index("leads", "campaign_id")
    op.create_index("ix_leads_due", "leads", ["campaign_id", "status", "next_attempt_at"])


def _callbacks() -> None:
    _table("callbacks", _id(), *_tenant("callbacks"),
           sa.Column("campaign_id", sa.String(36), nullable=True),
           sa.Column("lead_id", sa.String(36), nullable=True),
           sa.Column("call_id", sa.String(36), nullable=True),
           sa.Column("phone", sa.String(PHONE), nullable=False),
           sa.Column("scheduled_at", UtcDateTime(), nullable=False),
           sa.Column("reason", sa.Text(), nullable=True),
           sa.Column("voice_agent_id", sa.String(36), nullable=True),
           sa.Column("status", sa.String(16), nullable=False),
           sa.Column("attempts", sa.Integer(), nullable=False),
           sa.Column("claimed_by", sa.String(64), nullable=True),
           sa.Column("claimed_until", UtcDateTime(), nullable=True), *_stamps(),
           _fk("callbacks", "campaign_id", "campaigns", "CASCADE"),
           _fk("callbacks", "lead_id", "leads", "SET NULL"),
           _fk("callbacks", "voice_agent_id", "voice_agents"))
    _created_index("callbacks")
    op.create_index("ix_callbacks_due", "callbacks", ["status", "scheduled_at"])


def _routing() -> None:
    _table("flows", _id(), *_tenant("flows"),
           sa.Column("name", sa.String(200), nullable=False),
           sa.Column("entry", sa.String(100), nullable=False),
           sa.Column("nodes", _json(), nullable=False),
           sa.Column("edges", _json(), nullable=False), *_stamps())
    _created_index("flows")
    _table("numbers", _id(), *_tenant("numbers"),
           sa.Column("e164", sa.String(PHONE), nullable=False),
           sa.Column("flow_id", sa.String(36), nullable=True), *_stamps(),
           _fk("numbers", "flow_id", "flows"),
           sa.UniqueConstraint("e164", name="uq_numbers_e164"))
    _created_index("numbers")
    _table("agents", _id(), *_tenant("agents"),
           sa.Column("name", sa.String(200), nullable=False),
           sa.Column("role", sa.String(16), nullable=False),
           sa.Column("contact", sa.Text(), nullable=False),
           sa.Column("on_duty", sa.Boolean(), nullable=False), *_stamps())
    _created_index("agents")
    _table("agent_queues", _id(), *_tenant("agent_queues"),
           sa.Column("name", sa.String(200), nullable=False),
           sa.Column("strategy", sa.String(16), nullable=False),
           sa.Column("rr_cursor", sa.Integer(), nullable=False), *_stamps(),
           sa.UniqueConstraint("tenant_id", "name", name="uq_agent_queues_tenant_id_name"))
    _created_index("agent_queues")
    _table("agent_queue_members",
           sa.Column("queue_id", sa.String(36), nullable=False),
           sa.Column("agent_id", sa.String(36), nullable=False),
           sa.Column("position", sa.Integer(), nullable=False),
           _fk("agent_queue_members", "queue_id", "agent_queues", "CASCADE"),
           _fk("agent_queue_members", "agent_id", "agents", "CASCADE"),
           pk=("queue_id", "agent_id"))
    op.create_index("ix_agent_queue_members_agent_id", "agent_queue_members", ["agent_id"])


def _calls() -> None:
    _table("calls", _id(), *_tenant("calls"),
           sa.Column("direction", sa.String(8), nullable=False),
           sa.Column("from", sa.Text(), nullable=False),
           sa.Column("to", sa.Text(), nullable=False),
           sa.Column("state", sa.String(16), nullable=False),
           *[sa.Column(c, sa.String(36), nullable=True) for c in (
               "campaign_id", "lead_id", "voice_agent_id", "flow_id", "number_id", "trunk_id")],
           sa.Column("sip_call_id", sa.Text(), nullable=True),
           sa.Column("node_id", sa.String(64), nullable=True),
           sa.Column("started_at", UtcDateTime(), nullable=False),
           *[sa.Column(c, UtcDateTime(), nullable=True)
             for c in ("ringing_at", "answered_at", "ended_at")],
           sa.Column("outcome", sa.String(32), nullable=True),
           sa.Column("sip_status", sa.Integer(), nullable=True),
           sa.Column("error", sa.Text(), nullable=True),
           sa.Column("disposition", sa.String(200), nullable=True),
           sa.Column("disposition_source", sa.String(8), nullable=True),
           sa.Column("recording_path", sa.Text(), nullable=True), *_stamps(),
           _fk("calls", "campaign_id", "campaigns", "SET NULL"),
           _fk("calls", "lead_id", "leads", "SET NULL"))
    _created_index("calls")
    op.create_index("ix_calls_tenant_campaign", "calls", ["tenant_id", "campaign_id"])
    op.create_index("ix_calls_node_state", "calls", ["node_id", "state"])
    _call_children()


def _call_children() -> None:
    _table("ai_sessions", sa.Column("call_id", sa.String(36), nullable=False),
           *_tenant("ai_sessions"),
           sa.Column("voice_agent_id", sa.String(36), nullable=True),
           sa.Column("started_at", UtcDateTime(), nullable=False),
           sa.Column("ended_at", UtcDateTime(), nullable=True),
           sa.Column("outcome", sa.String(32), nullable=True),
           sa.Column("metadata", _json(), nullable=False), *_stamps(),
           _fk("ai_sessions", "call_id", "calls", "CASCADE"), pk=("call_id",))
    op.create_index("ix_ai_sessions_tenant_id", "ai_sessions", ["tenant_id"])
    _table("callback_tokens", sa.Column("token_hash", sa.String(64), nullable=False),
           sa.Column("call_id", sa.String(36), nullable=False), *_tenant("callback_tokens"),
           sa.Column("expires_at", UtcDateTime(), nullable=False),
           sa.Column("revoked_at", UtcDateTime(), nullable=True), *_stamps(updated=False),
           _fk("callback_tokens", "call_id", "calls", "CASCADE"), pk=("token_hash",))
    op.create_index("ix_callback_tokens_call_id", "callback_tokens", ["call_id"])
    _table("outbox_events", sa.Column("id", sa.String(40), nullable=False),
           *_tenant("outbox_events"),
           sa.Column("call_id", sa.String(36), nullable=True),
           sa.Column("type", sa.String(64), nullable=False),
           sa.Column("payload", _json(), nullable=False),
           sa.Column("sequence", sa.Integer(), nullable=False), *_stamps(updated=False),
           sa.Column("dispatched_at", UtcDateTime(), nullable=True),
           sa.UniqueConstraint("call_id", "sequence", name="uq_outbox_events_call_id_sequence"))
    op.create_index("ix_outbox_events_pending", "outbox_events", ["dispatched_at", "created_at"])
    op.create_index("ix_outbox_events_tenant_created", "outbox_events",
                    ["tenant_id", "created_at"])


def upgrade() -> None:
    _dialing()
    _routing()
    _calls()


# Children before parents; dropping a table drops its indexes on both backends.
_DROP_ORDER = ("outbox_events", "callback_tokens", "ai_sessions", "calls", "agent_queue_members",
               "agent_queues", "agents", "numbers", "flows", "dnd_registry", "dnd_entries",
               "callbacks", "leads", "campaigns", "sip_trunks")


def downgrade() -> None:
    for table in _DROP_ORDER:
        op.drop_table(table)
