"""Campaigns: tenant-scoped CRUD, the start/pause/resume/stop actions, and live stats.

Stats are counted from the leads when a campaign is read (one grouped query per page), so
they are never stale and the dialer never has to maintain counters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from yotel.campaigns.schemas import (
    CallingWindow,
    CampaignCreate,
    CampaignOut,
    CampaignStats,
    CampaignUpdate,
    Pacing,
    RetryPolicy,
)
from yotel.campaigns.states import Action, next_status
from yotel.db.engine import Database
from yotel.db.fence import Keyset, own_row, tenant_page
from yotel.db.models import Campaign, Lead, VoiceAgent
from yotel.domain.bodies import sent_fields, unknown_reference
from yotel.domain.errors import Conflict, NotFound
from yotel.domain.ids import is_uuid, new_id
from yotel.trunks.service import check_own_trunk

NOUN = "campaign"


@dataclass(slots=True)
class CampaignService:
    db: Database

    async def create(self, tenant_id: str, spec: CampaignCreate) -> CampaignOut:
        row = Campaign(id=new_id(), tenant_id=tenant_id, status="draft",
                       **_columns(spec.model_dump(mode="json")))
        async with self.db.write() as session:
            await _check_references(session, tenant_id, spec.voice_agent_id, spec.trunk_id)
            session.add(row)
        return to_out(row, CampaignStats())

    async def get(self, tenant_id: str, campaign_id: str) -> CampaignOut:
        async with self.db.read() as session:
            row = await own_row(session, Campaign, tenant_id, campaign_id, NOUN)
            return to_out(row, (await lead_stats(session, [row.id]))[row.id])

    async def list(self, tenant_id: str, *, limit: int, after: Keyset | None,
                   ) -> list[CampaignOut]:
        async with self.db.read() as session:
            rows = (await session.scalars(tenant_page(Campaign, tenant_id, limit, after))).all()
            stats = await lead_stats(session, [row.id for row in rows])
            return [to_out(row, stats[row.id]) for row in rows]

    async def update(self, tenant_id: str, campaign_id: str,
                     patch: CampaignUpdate) -> CampaignOut:
        changes = sent_fields(patch)
        async with self.db.write() as session:
            row = await own_row(session, Campaign, tenant_id, campaign_id, NOUN,
                                for_update=True)
            await _check_references(session, tenant_id, changes.get("voice_agent_id"),
                                    changes.get("trunk_id"))
            for name, value in _columns(changes).items():
                setattr(row, name, value)
            await session.flush()
            return to_out(row, (await lead_stats(session, [row.id]))[row.id])

    async def transition(self, tenant_id: str, campaign_id: str, action: Action,
                         ) -> CampaignOut:
        """Apply start/pause/resume/stop (or the dialer's complete); 409 when impossible."""
        async with self.db.write() as session:
            row = await own_row(session, Campaign, tenant_id, campaign_id, NOUN,
                                for_update=True)
            row.status = next_status(row.status, action)
            now = datetime.now(UTC)
            if action == "start":
                row.started_at = now
            if row.status in ("stopped", "completed"):
                row.ended_at = now
            await session.flush()
            return to_out(row, (await lead_stats(session, [row.id]))[row.id])

    async def tenant_of(self, campaign_id: str) -> str:
        """The tenant owning a campaign, for operator tools (`yotel leads import`)."""
        async with self.db.read() as session:
            row = await session.get(Campaign, campaign_id) if is_uuid(campaign_id) else None
        if row is None:
            raise NotFound(f"campaign {campaign_id} not found")
        return row.tenant_id

    async def delete(self, tenant_id: str, campaign_id: str) -> None:
        """Delete with its leads and callbacks; 409 while running or a lead is being dialled
        (pause or stop it, and let live calls end, first). Call records stay."""
        async with self.db.write() as session:
            row = await own_row(session, Campaign, tenant_id, campaign_id, NOUN,
                                for_update=True)
            if row.status == "running":
                raise Conflict("campaign is running: pause or stop it first")
            dialing = (await lead_stats(session, [row.id]))[row.id].dialing
            if dialing:
                raise Conflict(f"campaign has {dialing} lead(s) being dialled")
            await session.delete(row)


async def lead_stats(session: AsyncSession, campaign_ids: Sequence[str],
                     ) -> dict[str, CampaignStats]:
    """Leads by status for each campaign (one grouped query)."""
    counts: dict[str, dict[str, int]] = {cid: {} for cid in campaign_ids}
    if campaign_ids:
        query = (select(Lead.campaign_id, Lead.status, func.count())
                 .where(Lead.campaign_id.in_(campaign_ids))
                 .group_by(Lead.campaign_id, Lead.status))
        for campaign_id, status, count in (await session.execute(query)).all():
            counts[campaign_id][status] = int(count)
    return {cid: CampaignStats(total=sum(c.values()), **c) for cid, c in counts.items()}


async def campaign_uses_agent(session: AsyncSession, tenant_id: str,
                              agent_id: str) -> str | None:
    """A voice agent reference check (`VoiceAgentService.reference_checks`)."""
    found = (await session.scalars(select(Campaign.id).where(
        Campaign.tenant_id == tenant_id, Campaign.voice_agent_id == agent_id).limit(1))).first()
    return None if found is None else f"used by campaign {found}"


async def _check_references(session: AsyncSession, tenant_id: str, agent_id: str | None,
                            trunk_id: str | None) -> None:
    if agent_id is not None:
        agent = await session.get(VoiceAgent, agent_id) if is_uuid(agent_id) else None
        if agent is None or agent.tenant_id != tenant_id:
            raise unknown_reference("voice_agent_id", "voice agent")
    if trunk_id is not None:
        await check_own_trunk(session, tenant_id, trunk_id, "trunk_id")


def _columns(fields: dict[str, Any]) -> dict[str, Any]:
    """API fields → columns: `pacing` is stored as two columns the dialer reads directly."""
    columns = dict(fields)
    pacing = columns.pop("pacing", None)
    if pacing is not None:
        columns["calls_per_second"] = float(pacing["calls_per_second"])
        columns["max_concurrent_calls"] = pacing["max_concurrent_calls"]
    return columns


def to_out(row: Campaign, stats: CampaignStats) -> CampaignOut:
    window = None if row.calling_window is None else CallingWindow.model_validate(
        row.calling_window)
    return CampaignOut(
        id=row.id, name=row.name, voice_agent_id=row.voice_agent_id,
        post_answer_action=row.post_answer_action, caller_id=row.caller_id,
        trunk_id=row.trunk_id,
        pacing=Pacing(calls_per_second=row.calls_per_second,
                      max_concurrent_calls=row.max_concurrent_calls),
        calling_window=window, retry=RetryPolicy.model_validate(row.retry),
        status=row.status,  # type: ignore[arg-type]  # written only by next_status
        stats=stats, started_at=row.started_at, ended_at=row.ended_at,
        created_at=row.created_at, updated_at=row.updated_at)
