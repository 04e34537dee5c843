"""What a call leaves behind, written as it happens: the `calls` row through its states, the
`ai_sessions` row, and each webhook event (PRODUCT.md §7) in the outbox, in the same transaction
as the state change that causes it, numbered in causal order per call (`sequence`).

One `CallHistory` per live call; its owner (`LiveCall`) calls it from the call's event order, so
sequence numbers never race.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from ulid import ULID

from yotel.calls.tokens import iso
from yotel.db.engine import Database
from yotel.db.models import AiSession, Call, OutboxEvent

RECORDING_CHANNELS = {"left": "caller", "right": "ai"}


def new_event_id() -> str:
    return f"evt_{ULID()}"


def envelope(event_id: str, kind: str, tenant_id: str, created_at: datetime,
             data: dict[str, Any]) -> dict[str, Any]:
    """PRODUCT.md §7: `{"id": "evt_…", "type", "created_at", "tenant_id", "data"}`."""
    return {"id": event_id, "type": kind, "created_at": iso(created_at), "tenant_id": tenant_id,
            "data": data}


class CallHistory:
    def __init__(self, db: Database, *, call_id: str, tenant_id: str) -> None:
        self._db = db
        self.call_id = call_id
        self.tenant_id = tenant_id
        self._sequence = 0

    def _event(self, session: AsyncSession, kind: str, data: dict[str, Any],
               now: datetime) -> None:
        self._sequence += 1
        event_id = new_event_id()
        body = envelope(event_id, kind, self.tenant_id, now, {"call_id": self.call_id, **data})
        session.add(OutboxEvent(id=event_id, tenant_id=self.tenant_id, call_id=self.call_id,
                                type=kind, payload=body, sequence=self._sequence,
                                created_at=now))

    async def started(self, row: Call, *, extra: dict[str, Any]) -> None:
        """The call exists (INVITE sent or received): `call.started`."""
        now = _now()
        async with self._db.write() as session:
            row.started_at = row.created_at = now
            session.add(row)
            self._event(session, "call.started", {
                "direction": row.direction, "from": row.from_, "to": row.to,
                "campaign_id": row.campaign_id, "lead_id": row.lead_id,
                "voice_agent_id": row.voice_agent_id, "flow_id": row.flow_id, **extra}, now)

    async def ringing(self) -> None:
        await self._update(state="ringing", ringing_at=_now())

    async def answered(self) -> None:
        now = _now()
        async with self._db.write() as session:
            await self._set(session, state="answered", answered_at=now)
            self._event(session, "call.answered", {"answered_at": iso(now)}, now)

    async def ai_started(self, voice_agent_id: str | None) -> None:
        now = _now()
        async with self._db.write() as session:
            session.add(AiSession(call_id=self.call_id, tenant_id=self.tenant_id,
                                  voice_agent_id=voice_agent_id, started_at=now,
                                  metadata_={"logs": []}))
            self._event(session, "ai_session.started", {"voice_agent_id": voice_agent_id}, now)

    async def ai_transferred(self, destination_type: str, destination: str,
                             metadata: dict[str, Any] | None = None) -> None:
        now = _now()
        async with self._db.write() as session:
            self._event(session, "ai_session.transferred", {
                "destination_type": destination_type, "destination": destination,
                "metadata": metadata or {}}, now)

    async def ai_ended(self, outcome: str) -> None:
        now = _now()
        async with self._db.write() as session:
            await session.execute(update(AiSession).where(
                AiSession.call_id == self.call_id, AiSession.ended_at.is_(None))
                .values(ended_at=now, outcome=outcome))
            self._event(session, "ai_session.ended", {"outcome": outcome}, now)

    async def ended(self, *, outcome: str, sip_status: int | None, error: str | None,
                    duration_s: float) -> None:
        now = _now()
        async with self._db.write() as session:
            await self._set(session, state="ended", ended_at=now, outcome=outcome,
                            sip_status=sip_status, error=error)
            self._event(session, "call.ended", {
                "outcome": outcome, "sip_status": sip_status, "duration_s": duration_s}, now)

    async def recording_ready(self, *, path: str, url: str, duration_s: float) -> None:
        now = _now()
        async with self._db.write() as session:
            await self._set(session, recording_path=path)
            self._event(session, "call.recording_ready", {
                "stereo": True, "channels": dict(RECORDING_CHANNELS),
                "duration_s": round(duration_s, 2), "url": url}, now)

    async def event(self, kind: str, data: dict[str, Any]) -> None:
        """An event with no state change of the call's own (conference_changed, escalated)."""
        now = _now()
        async with self._db.write() as session:
            self._event(session, kind, data, now)

    def event_in(self, session: AsyncSession, kind: str, data: dict[str, Any],
                 now: datetime) -> None:
        """An event written in the caller's transaction, with the row that causes it (an
        escalation and its `ai_session.escalated`): both commit, or neither."""
        self._event(session, kind, data, now)

    async def note(self, **values: Any) -> None:
        """Columns without an event (the leg's SIP Call-ID, the AI's voice agent, ...)."""
        await self._update(**values)

    async def _update(self, **values: Any) -> None:
        async with self._db.write() as session:
            await self._set(session, **values)

    async def _set(self, session: AsyncSession, **values: Any) -> None:
        await session.execute(update(Call).where(Call.id == self.call_id).values(**values))

    async def resume_sequence(self) -> None:
        """After a restart: continue the call's event numbering where the outbox left it."""
        async with self._db.read() as session:
            last = await session.scalar(select(func.max(OutboxEvent.sequence)).where(
                OutboxEvent.call_id == self.call_id))
        self._sequence = int(last or 0)


def _now() -> datetime:
    return datetime.now(UTC)
