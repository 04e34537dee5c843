"""Supervisor escalations (PRODUCT.md §4).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from yotel.db.base import UtcDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "escalations"


def _fk(column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], ondelete=ondelete,
                                   name=f"fk_{TABLE}_{column}_{target}")


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("call_id", sa.String(36), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("urgency", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("supervisor_id", sa.String(36), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("claimed_at", UtcDateTime(), nullable=True),
        _fk("tenant_id", "tenants", "CASCADE"),
        _fk("call_id", "calls", "CASCADE"),
        _fk("supervisor_id", "agents", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=f"pk_{TABLE}"))
    op.create_index("ix_escalations_tenant_created", TABLE, ["tenant_id", "created_at", "id"])
    op.create_index("ix_escalations_tenant_status_created", TABLE,
                    ["tenant_id", "status", "created_at", "id"])
    op.create_index("ix_escalations_call_id", TABLE, ["call_id"])


def downgrade() -> None:
    op.drop_table(TABLE)
