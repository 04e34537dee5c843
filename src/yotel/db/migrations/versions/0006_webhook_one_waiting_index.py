"""Webhook deliveries: one partial index over waiting rows, not two.

0005's `ix_webhook_deliveries_waiting_due` (next_attempt_at) WHERE waiting let the planner,
with stale statistics, answer "an earlier waiting delivery of this call for this endpoint?"
from it: a scan of every waiting entry (and, until vacuumed, every dead one) per row checked,
seconds per claim on the shared test server. With only
`ix_webhook_deliveries_waiting_order` (endpoint_id, call_id, sequence) WHERE waiting, both the
claim's scan of waiting rows and its per-row checks go through the index that fits them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING = "status IN ('pending', 'failed')"


def upgrade() -> None:
    op.drop_index("ix_webhook_deliveries_waiting_due", "webhook_deliveries")


def downgrade() -> None:
    op.create_index("ix_webhook_deliveries_waiting_due", "webhook_deliveries",
                    ["next_attempt_at"], postgresql_where=sa.text(WAITING),
                    sqlite_where=sa.text(WAITING))
