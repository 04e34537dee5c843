"""After a crash: the calls this node had live are over (their media died with the process).
Each is closed with an outcome and its events, so no row stays `answered` for ever and webhook
receivers hear how it ended. Leases need nothing: their TTL frees them."""

from __future__ import annotations

from sqlalchemy import select

from yotel.calls.history import CallHistory
from yotel.db.engine import Database
from yotel.db.models import AiSession, Call

RESTART_REASON = "the node carrying the call restarted"


async def close_orphaned_calls(db: Database, node_id: str) -> int:
    """Close every call of `node_id` not yet ended (outcome `failed`); how many there were."""
    async with db.read() as session:
        rows = (await session.execute(
            select(Call.id, Call.tenant_id, AiSession.call_id, AiSession.ended_at)
            .outerjoin(AiSession, AiSession.call_id == Call.id)
            .where(Call.node_id == node_id, Call.state != "ended"))).all()
    for call_id, tenant_id, ai_call_id, ai_ended_at in rows:
        history = CallHistory(db, call_id=call_id, tenant_id=tenant_id)
        await history.resume_sequence()
        if ai_call_id is not None and ai_ended_at is None:
            await history.ai_ended("failed")
        await history.ended(outcome="failed", sip_status=None, error=RESTART_REASON,
                            duration_s=0.0)
    return len(rows)
