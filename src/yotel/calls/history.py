"""What a call leaves behind, written as it happens: the `calls` row through its states, the
`ai_sessions` row, and each webhook event (PRODUCT.md §7) in the outbox, in the same transaction
as the state change that causes it, numbered in causal order per call (`sequence`).

One `CallHistory` per live call; its owner (`LiveCall`) calls it from the call's event order, so
sequence numbers never race. Each method is one piece of work: with the node's `HistoryWriter`
it commits in a batch with other calls' pieces (group commit), alone otherwise. Events are
numbered when the method is called, not when the piece runs, so a retried piece keeps its
number.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from ulid import ULID

from yotel.calls.tokens import iso
from yotel.calls.writer import HistoryWriter, Work
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
    def __init__(self, db: Database, *, call_id: str, tenant_id: str,
                 writer: HistoryWriter | None = None) -> None:
        self._db = db
        self._writer = writer
        self.call_id = call_id
        self.tenant_id = tenant_id
        self._sequence = 0

    # -- the pieces -----------------------------------------------------------------------------
    async def started(self, row: Call, *, extra: dict[str, Any], also: Work | None = None
                      ) -> None:
        """The call exists (INVITE sent or received): its row and `call.started`, with `also`
        (e.g. its first callback token) in the same transaction."""
        now = _now()
        values = {c.key: getattr(row, c.key) for c in Call.__mapper__.column_attrs
                  if getattr(row, c.key) is not None}
        values |= {"started_at": now, "created_at": now, "updated_at": now}
        event = self._event("call.started", {
            "direction": row.direction, "from": row.from_, "to": row.to,
            "campaign_id": row.campaign_id, "lead_id": row.lead_id,
            "voice_agent_id": row.voice_agent_id, "flow_id": row.flow_id, **extra}, now)

        async def work(session: AsyncSession) -> None:
            session.add(Call(**values))
            if also is not None:
                await also(session)
            session.add(OutboxEvent(**event))

        await self._commit(work)

    async def ringing(self) -> None:
        await self._commit(self._set(state="ringing", ringing_at=_now()))

    async def answered(self, *, ai_agent_id: str | None = None, ai_started: bool = False
                       ) -> None:
        """`call.answered`, and `ai_session.started` with it when the AI is already up."""
        now = _now()
        set_state = self._set(state="answered", answered_at=now)
        events = [self._event("call.answered", {"answered_at": iso(now)}, now)]
        start_ai = self._ai_start(ai_agent_id, now) if ai_started else None

        async def work(session: AsyncSession) -> None:
            await set_state(session)
            session.add(OutboxEvent(**events[0]))
            if start_ai is not None:
                await start_ai(session)

        await self._commit(work)

    async def ai_started(self, voice_agent_id: str | None) -> None:
        await self._commit(self._ai_start(voice_agent_id, _now()))

    def _ai_start(self, voice_agent_id: str | None, now: datetime) -> Work:
        event = self._event("ai_session.started", {"voice_agent_id": voice_agent_id}, now)

        async def work(session: AsyncSession) -> None:
            session.add(AiSession(call_id=self.call_id, tenant_id=self.tenant_id,
                                  voice_agent_id=voice_agent_id, started_at=now,
                                  metadata_={"logs": []}))
            session.add(OutboxEvent(**event))

        return work

    async def ai_transferred(self, destination_type: str, destination: str,
                             metadata: dict[str, Any] | None = None) -> None:
        await self.event("ai_session.transferred", {
            "destination_type": destination_type, "destination": destination,
            "metadata": metadata or {}})

    async def ai_ended(self, outcome: str) -> None:
        await self._commit(self._ai_end(outcome, _now()))

    def _ai_end(self, outcome: str, now: datetime) -> Work:
        event = self._event("ai_session.ended", {"outcome": outcome}, now)

        async def work(session: AsyncSession) -> None:
            await session.execute(update(AiSession).where(
                AiSession.call_id == self.call_id, AiSession.ended_at.is_(None))
                .values(ended_at=now, outcome=outcome, updated_at=now))
            session.add(OutboxEvent(**event))

        return work

    async def ended(self, *, outcome: str, sip_status: int | None, error: str | None,
                    duration_s: float, ai_outcome: str | None = None,
                    recording: tuple[str, str, float] | None = None) -> None:
        """The end, in one transaction: `ai_session.ended` (when `ai_outcome`), `call.ended`,
        then `call.recording_ready` (when `recording` = (path, url, duration_s)), in that
        order (PRODUCT.md §7)."""
        now = _now()
        pieces = [self._ai_end(ai_outcome, now)] if ai_outcome is not None else []
        pieces.append(self._set(state="ended", ended_at=now, outcome=outcome,
                                sip_status=sip_status, error=error))
        pieces.append(self._add(self._event("call.ended", {
            "outcome": outcome, "sip_status": sip_status, "duration_s": duration_s}, now)))
        if recording is not None:
            path, url, seconds = recording
            pieces.append(self._set(recording_path=path))
            pieces.append(self._add(self._event("call.recording_ready", {
                "stereo": True, "channels": dict(RECORDING_CHANNELS),
                "duration_s": round(seconds, 2), "url": url}, now)))

        async def work(session: AsyncSession) -> None:
            for piece in pieces:
                await piece(session)

        await self._commit(work)

    async def recording_ready(self, *, path: str, url: str, duration_s: float) -> None:
        now = _now()
        set_path = self._set(recording_path=path)
        add = self._add(self._event("call.recording_ready", {
            "stereo": True, "channels": dict(RECORDING_CHANNELS),
            "duration_s": round(duration_s, 2), "url": url}, now))

        async def work(session: AsyncSession) -> None:
            await set_path(session)
            await add(session)

        await self._commit(work)

    async def event(self, kind: str, data: dict[str, Any]) -> None:
        """An event with no state change of the call's own (conference_changed, escalated)."""
        await self._commit(self._add(self._event(kind, data, _now())))

    def event_in(self, session: AsyncSession, kind: str, data: dict[str, Any],
                 now: datetime) -> None:
        """An event written in the caller's transaction, with the row that causes it (an
        escalation and its `ai_session.escalated`): both commit, or neither."""
        session.add(OutboxEvent(**self._event(kind, data, now)))

    async def note(self, **values: Any) -> None:
        """Columns without an event (the leg's SIP Call-ID, the AI's voice agent, ...)."""
        await self._commit(self._set(**values))

    async def resume_sequence(self) -> None:
        """After a restart: continue the call's event numbering where the outbox left it."""
        async with self._db.read() as session:
            last = await session.scalar(select(func.max(OutboxEvent.sequence)).where(
                OutboxEvent.call_id == self.call_id))
        self._sequence = int(last or 0)

    # -- building blocks ----------------------------------------------------------------------
    def _event(self, kind: str, data: dict[str, Any], now: datetime) -> dict[str, Any]:
        """The outbox row's values, numbered now."""
        self._sequence += 1
        event_id = new_event_id()
        body = envelope(event_id, kind, self.tenant_id, now, {"call_id": self.call_id, **data})
        return {"id": event_id, "tenant_id": self.tenant_id, "call_id": self.call_id,
                "type": kind, "payload": body, "sequence": self._sequence, "created_at": now}

    @staticmethod
    def _add(event: dict[str, Any]) -> Work:
        async def work(session: AsyncSession) -> None:
            session.add(OutboxEvent(**event))

        return work

    def _set(self, **values: Any) -> Work:
        values.setdefault("updated_at", _now())

        async def work(session: AsyncSession) -> None:
            await session.execute(update(Call).where(Call.id == self.call_id).values(**values))

        return work

    async def commit(self, work: Work) -> None:
        """Any other piece of the call's writing (a Control API log entry) in the same batches."""
        await self._commit(work)

    async def _commit(self, work: Work) -> None:
        if self._writer is not None:
            await self._writer.submit(work)
            return
        async with self._db.write() as session:
            await work(session)


def _now() -> datetime:
    return datetime.now(UTC)
