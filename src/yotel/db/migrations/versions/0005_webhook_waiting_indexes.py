"""Webhook dispatch indexes over waiting rows only (partial indexes).

The dispatcher's claim looks at deliveries still waiting (`pending`, `failed`) and at outbox
events not yet fanned out; delivered deliveries and dispatched events pile up (and, until
vacuumed, their dead row versions too). Full indexes on (status, next_attempt_at) and
(endpoint_id, call_id, sequence) made each claim read through that history; these cover only
the rows a claim can use, so its cost follows the backlog, not the table.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DELIVERIES = "webhook_deliveries"
WAITING = "status IN ('pending', 'failed')"
UNDISPATCHED = "dispatched_at IS NULL"


def _partial(name: str, table: str, columns: list[str], where: str) -> None:
    op.create_index(name, table, columns, postgresql_where=sa.text(where),
                    sqlite_where=sa.text(where))


def upgrade() -> None:
    op.drop_index("ix_webhook_deliveries_due", DELIVERIES)
    op.drop_index("ix_webhook_deliveries_order", DELIVERIES)
    _partial("ix_webhook_deliveries_waiting_due", DELIVERIES, ["next_attempt_at"], WAITING)
    _partial("ix_webhook_deliveries_waiting_order", DELIVERIES,
             ["endpoint_id", "call_id", "sequence"], WAITING)
    _partial("ix_outbox_events_undispatched", "outbox_events", ["call_id", "sequence"],
             UNDISPATCHED)


def downgrade() -> None:
    op.drop_index("ix_outbox_events_undispatched", "outbox_events")
    op.drop_index("ix_webhook_deliveries_waiting_order", DELIVERIES)
    op.drop_index("ix_webhook_deliveries_waiting_due", DELIVERIES)
    op.create_index("ix_webhook_deliveries_order", DELIVERIES,
                    ["endpoint_id", "call_id", "sequence"])
    op.create_index("ix_webhook_deliveries_due", DELIVERIES, ["status", "next_attempt_at"])
