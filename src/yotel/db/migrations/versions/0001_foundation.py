"""Foundation: tenants, API keys, voice agents.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from yotel.db.models import UtcDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TENANT_DEFAULT_AGENT_FK = "fk_tenants_default_voice_agent_id_voice_agents"


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _create_tenants(inline_fk: bool) -> None:
    # tenants and voice_agents reference each other. SQLite accepts a foreign key to a table that
    # does not exist yet (and cannot add one later without a rebuild); PostgreSQL needs ALTER.
    extra = [sa.ForeignKeyConstraint(["default_voice_agent_id"], ["voice_agents.id"],
                                     name=_TENANT_DEFAULT_AGENT_FK)] if inline_fk else []
    op.create_table(
        "tenants",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("default_voice_agent_id", sa.String(36), nullable=True),
        sa.Column("voice_agent_default_ws_url", sa.Text(), nullable=True),
        sa.Column("default_trunk_id", sa.String(36), nullable=True),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tenants"),
        *extra,
    )


def upgrade() -> None:
    is_sqlite = op.get_bind().dialect.name == "sqlite"
    _create_tenants(inline_fk=is_sqlite)
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("scopes", _json(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("last_used_at", UtcDateTime(), nullable=True),
        sa.Column("revoked_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE",
                                name="fk_api_keys_tenant_id_tenants"),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )
    op.create_index("ix_api_keys_tenant_id", "api_keys", ["tenant_id"])
    op.create_index("ix_api_keys_prefix", "api_keys", ["prefix"])
    op.create_table(
        "voice_agents",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("ws_url", sa.Text(), nullable=False),
        sa.Column("auth_token_sealed", sa.Text(), nullable=True),
        sa.Column("audio", _json(), nullable=False),
        sa.Column("max_concurrent", sa.Integer(), nullable=False),
        sa.Column("token_lifetime", sa.String(32), nullable=False),
        sa.Column("subprotocol", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE",
                                name="fk_voice_agents_tenant_id_tenants"),
        sa.PrimaryKeyConstraint("id", name="pk_voice_agents"),
    )
    op.create_index("ix_voice_agents_tenant_created", "voice_agents",
                    ["tenant_id", "created_at", "id"])
    if not is_sqlite:
        op.create_foreign_key(_TENANT_DEFAULT_AGENT_FK, "tenants", "voice_agents",
                              ["default_voice_agent_id"], ["id"])


def downgrade() -> None:
    # Break the tenants <-> voice_agents cycle before dropping either side.
    op.execute("UPDATE tenants SET default_voice_agent_id = NULL")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(_TENANT_DEFAULT_AGENT_FK, "tenants", type_="foreignkey")
    op.drop_index("ix_voice_agents_tenant_created", table_name="voice_agents")
    op.drop_table("voice_agents")
    op.drop_index("ix_api_keys_prefix", table_name="api_keys")
    op.drop_index("ix_api_keys_tenant_id", table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("tenants")
