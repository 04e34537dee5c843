"""What the dialer needs of a running campaign, read once per pass: its pacing, window, retry
policy and dialling defaults, with the tenant's time zone (the window's last fallback)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from yotel.db.engine import Database
from yotel.db.models import Campaign, Tenant
from yotel.dialer.retry import RetryPolicy
from yotel.dialer.window import Window


@dataclass(frozen=True, slots=True)
class CampaignPlan:
    id: str
    tenant_id: str
    calls_per_second: float
    max_concurrent_calls: int
    window: Window | None
    retry: RetryPolicy
    voice_agent_id: str | None
    caller_id: str | None
    trunk_id: str | None
    tenant_zone: str | None


async def running_campaigns(db: Database) -> list[CampaignPlan]:
    """Every `running` campaign (served by `ix_campaigns_status`)."""
    query = (select(Campaign, Tenant.timezone).join(Tenant, Tenant.id == Campaign.tenant_id)
             .where(Campaign.status == "running").order_by(Campaign.started_at, Campaign.id))
    async with db.read() as session:
        rows = (await session.execute(query)).all()
    return [_plan(row, zone) for row, zone in rows]


def _plan(row: Campaign, tenant_zone: str | None) -> CampaignPlan:
    window = Window.from_json(row.calling_window) if row.calling_window else None
    return CampaignPlan(
        id=row.id, tenant_id=row.tenant_id, calls_per_second=float(row.calls_per_second),
        max_concurrent_calls=int(row.max_concurrent_calls), window=window,
        retry=RetryPolicy.from_json(row.retry), voice_agent_id=row.voice_agent_id,
        caller_id=row.caller_id, trunk_id=row.trunk_id, tenant_zone=tenant_zone)
