"""Claims on the real backend (SQLite, or PostgreSQL with YOTEL_TEST_DATABASE_URL): two
claimers on separate engines never get the same lead; `max_concurrent_calls` and the campaign's
status bound a claim; a settle counts a call once; expired claims are recovered from the call
rows (nothing sent: handed back; call ended: settled; call maybe live: left alone)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from yotel.campaigns.schemas import CampaignCreate, Pacing
from yotel.campaigns.service import CampaignService
from yotel.db.engine import Database
from yotel.db.models import Call, Lead
from yotel.dialer import claims
from yotel.dialer.recovery import recover_leads
from yotel.dialer.retry import RetryPolicy, after_call
from yotel.domain.ids import new_id
from yotel.leads.schemas import LeadIn
from yotel.leads.service import LeadService
from yotel.tenancy.tenants import create_tenant


async def running_campaign(db: Database, leads: int, *, max_concurrent: int = 10_000,
                           status: str = "running") -> tuple[str, str]:
    tenant = await create_tenant(db, name="dialer claims")
    campaigns = CampaignService(db)
    campaign = await campaigns.create(tenant.id, CampaignCreate(
        pacing=Pacing(calls_per_second=100, max_concurrent_calls=max_concurrent)))
    await LeadService(db).add(tenant.id, campaign.id, [
        LeadIn(phone=f"+1555{i:07d}") for i in range(leads)])
    if status != "draft":
        await campaigns.transition(tenant.id, campaign.id, "start")
    if status == "paused":
        await campaigns.transition(tenant.id, campaign.id, "pause")
    return tenant.id, campaign.id


def later() -> datetime:
    # Leads are due from the database's clock at insert (second precision on SQLite).
    return datetime.now(UTC) + timedelta(seconds=2)


async def test_two_claimers_on_two_engines_never_share_a_lead(database_url: str) -> None:
    first, second = Database(database_url), Database(database_url)
    try:
        _, campaign_id = await running_campaign(first, 300)

        async def claimer(db: Database, node: str) -> list[str]:
            got: list[str] = []
            while True:
                batch = await claims.claim_leads(db, campaign_id, node_id=node, limit=7,
                                                 now=later(), lease_s=60)
                if not batch:
                    return got
                got += [lead.id for lead in batch]

        a, b = await asyncio.gather(claimer(first, "node-a"), claimer(second, "node-b"))
        assert not set(a) & set(b)
        assert len(a) + len(b) == 300 and len(set(a)) == len(a)
        assert a and b  # both took part
        async with first.read() as session:
            owners = dict((await session.execute(
                select(Lead.id, Lead.claimed_by).where(Lead.campaign_id == campaign_id)
            )).all())
        assert {owners[x] for x in a} == {"node-a"} and {owners[x] for x in b} == {"node-b"}
    finally:
        await first.dispose()
        await second.dispose()


async def test_a_claim_leaves_room_under_max_concurrent_and_needs_a_running_campaign(
        db: Database) -> None:
    _, campaign_id = await running_campaign(db, 10, max_concurrent=3)
    got = await claims.claim_leads(db, campaign_id, node_id="n", limit=10, now=later(),
                                   lease_s=60)
    assert len(got) == 3
    assert await claims.claim_leads(db, campaign_id, node_id="n", limit=10, now=later(),
                                    lease_s=60) == []
    for status in ("paused", "draft"):
        _, other = await running_campaign(db, 5, status=status)
        assert await claims.claim_leads(db, other, node_id="n", limit=10, now=later(),
                                        lease_s=60) == []


async def add_call(db: Database, tenant_id: str, lead_id: str, *, state: str,
                   answered: bool = False, outcome: str | None = None) -> str:
    call_id = new_id()
    now = datetime.now(UTC)
    async with db.write() as session:
        session.add(Call(id=call_id, tenant_id=tenant_id, direction="outbound", from_="x",
                         to="+15550000000", state=state, lead_id=lead_id, node_id="dead",
                         answered_at=now if answered else None, outcome=outcome))
    return call_id


async def lead(db: Database, lead_id: str) -> Lead:
    async with db.read() as session:
        row = await session.get(Lead, lead_id)
        assert row is not None
        return row


async def test_a_settle_counts_one_call_once(db: Database) -> None:
    tenant_id, campaign_id = await running_campaign(db, 1)
    [claimed] = await claims.claim_leads(db, campaign_id, node_id="n", limit=1, now=later(),
                                         lease_s=60)
    call_id = await add_call(db, tenant_id, claimed.id, state="ended", outcome="busy")
    verdict = after_call(RetryPolicy(), claimed.attempts, "busy", answered=False,
                         now=datetime.now(UTC))
    item = claims.Settlement(claimed.id, call_id, "busy", verdict)
    assert await claims.settle(db, [item], datetime.now(UTC)) == 1
    assert await claims.settle(db, [item], datetime.now(UTC)) == 0
    row = await lead(db, claimed.id)
    assert (row.status, row.attempts, row.last_outcome, row.last_call_id, row.claimed_by) == (
        "pending", 1, "busy", call_id, None)


async def test_expired_claims_are_recovered_from_the_call_rows(db: Database) -> None:
    tenant_id, campaign_id = await running_campaign(db, 4)
    leads = await claims.claim_leads(db, campaign_id, node_id="dead", limit=4, now=later(),
                                     lease_s=60)
    silent, live, answered, rejected = (x.id for x in leads)
    await add_call(db, tenant_id, live, state="answered", answered=True)
    await add_call(db, tenant_id, answered, state="ended", answered=True, outcome="failed")
    await add_call(db, tenant_id, rejected, state="ended", outcome="busy")
    await recover_leads(db, now=datetime.now(UTC), node_id="me")  # not expired, not ours
    assert {(await lead(db, x.id)).status for x in leads} == {"dialing"}
    # (The session-wide database may hold other tests' expired claims: counts are lower bounds.)
    found = await recover_leads(db, now=later() + timedelta(seconds=61), node_id="me")
    assert found.released >= 1 and found.settled >= 2 and found.live >= 1
    assert ((await lead(db, silent)).status, (await lead(db, silent)).attempts) == ("pending", 0)
    assert (await lead(db, live)).status == "dialing"  # its call may be up: never re-dialled
    done = await lead(db, answered)
    assert (done.status, done.attempts) == ("completed", 1)  # cut by a restart after answer
    retried = await lead(db, rejected)
    assert (retried.status, retried.attempts, retried.last_outcome) == ("pending", 1, "busy")


async def test_a_restarted_node_recovers_its_own_claims_at_once(db: Database) -> None:
    _, campaign_id = await running_campaign(db, 2)
    await claims.claim_leads(db, campaign_id, node_id="me", limit=2, now=later(), lease_s=600)
    found = await recover_leads(db, now=datetime.now(UTC), node_id="me", own_restart=True)
    assert found.released >= 2
    async with db.read() as session:
        statuses = (await session.scalars(select(Lead.status).where(
            Lead.campaign_id == campaign_id))).all()
    assert statuses == ["pending", "pending"]


async def test_dnd_and_window_release_and_completion(db: Database) -> None:
    tenant_id, campaign_id = await running_campaign(db, 2)
    a, b = await claims.claim_leads(db, campaign_id, node_id="n", limit=2, now=later(),
                                    lease_s=60)
    assert await claims.blocked_numbers(db, tenant_id, [a.phone, b.phone]) == set()
    await claims.mark_dnd(db, "n", [a.id], datetime.now(UTC))
    assert (await lead(db, a.id)).status == "dnd_blocked"
    assert not await claims.complete_if_done(db, campaign_id, datetime.now(UTC))
    await claims.release(db, "n", [(b.id, later() + timedelta(hours=1))], datetime.now(UTC))
    assert (await lead(db, b.id)).status == "pending"
    assert not await claims.complete_if_done(db, campaign_id, datetime.now(UTC))
    async with db.write() as session:
        await session.execute(update(Lead).where(Lead.id == b.id).values(status="failed"))
    assert await claims.complete_if_done(db, campaign_id, datetime.now(UTC))
