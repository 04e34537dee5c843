"""Leads whose claim outlived its claimer (docs/api.md, "The dialer: crash safety").

A claim is a lease: `claimed_until` is `YOTEL_DIALER_CLAIM_LEASE_S` after the claim, and a
claimer dials a lead only in the first half of that lease, so once it has run out the lead is
either dialled already or never will be by that claimer. The call layer writes a lead's call row
(`calls.lead_id`) *before* its INVITE, so the row tells which:

- no call row newer than the lead's `last_call_id`: nothing was sent. The lead is `pending`
  again, due now, no attempt counted.
- a newer call row not yet `ended`: the call may be live (its node is slow, or dead and not yet
  restarted). The lead is left alone: never dialled again while its call might be up. The
  owning node's restart closes the call (`calls/recovery.py`), and the next pass settles it.
- a newer call row `ended`: the attempt counts, and the retry policy decides, from the row's
  outcome and whether it was answered (a call cut by a restart after its answer counts as
  answered: the lead is `completed`, not called again).

A node's own claims left by its previous run (same `node_id`) are recovered at start without
waiting for the lease: nothing of that run can still be dialling.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from yotel.db.engine import Database
from yotel.db.models import Call, Campaign, Lead
from yotel.dialer.claims import Settlement, release, settle
from yotel.dialer.retry import RetryPolicy, after_call

BATCH = 500


@dataclass(frozen=True, slots=True)
class Recovered:
    released: int = 0  # handed back undialled
    settled: int = 0  # their call had ended: counted and settled
    live: int = 0  # their call may still be up: left alone


async def recover_leads(db: Database, *, now: datetime, node_id: str,
                        own_restart: bool = False) -> Recovered:
    """One pass over expired claims (and, at start, this node's own)."""
    expired = Lead.claimed_until < now
    if own_restart:
        expired = or_(expired, Lead.claimed_by == node_id)
    query = (select(Lead.id, Lead.attempts, Lead.last_call_id, Lead.claimed_by, Campaign.retry)
             .join(Campaign, Campaign.id == Lead.campaign_id)
             .where(Lead.status == "dialing", expired).limit(BATCH))
    async with db.read() as session:
        leads = (await session.execute(query)).all()
        calls = await _newest_calls(session, [row.id for row in leads])
    undialled: list[tuple[str, str, datetime]] = []
    settlements: list[Settlement] = []
    live = 0
    for lead in leads:
        call = calls.get(lead.id)
        if call is None or call.id == lead.last_call_id:
            undialled.append((lead.id, lead.claimed_by, now))
        elif call.state != "ended":
            live += 1
        else:
            verdict = after_call(RetryPolicy.from_json(lead.retry), lead.attempts,
                                 call.outcome or "failed",
                                 answered=call.answered_at is not None, now=now)
            settlements.append(Settlement(lead.id, call.id, call.outcome or "failed", verdict))
    for owner in {claimer for _, claimer, _ in undialled}:
        await release(db, owner, [(lead_id, due) for lead_id, claimer, due in undialled
                                  if claimer == owner], now)
    settled = await settle(db, settlements, now) if settlements else 0
    return Recovered(len(undialled), settled, live)


async def _newest_calls(session: AsyncSession, lead_ids: list[str]) -> dict[str, Call]:
    """Each lead's newest call row (ties on created_at broken by id)."""
    if not lead_ids:
        return {}
    rows = (await session.scalars(select(Call).where(Call.lead_id.in_(lead_ids))
                                  .order_by(Call.created_at, Call.id))).all()
    newest: dict[str, Call] = {}
    for row in rows:
        assert row.lead_id is not None
        newest[row.lead_id] = row  # ascending: the last one seen wins
    return newest
