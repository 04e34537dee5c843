"""What a call leaves behind, written as it happens: the `calls` row through its states, the
`ai_sessions` row, and each webhook event (PRODUCT.md §7) in the outbox, in the same transaction
as the state change that causes it, numbered in causal order per call (`sequence`).

One `CallHistory` per live call; its owner (`LiveCall`) calls it from the call's event order, so
sequence numbers never race. Each method is one piece of work: with the node's `HistoryWriter`
it commits in a batch with other calls' pieces (group commit), alone otherwise. Events are
numbered when the method is called, not when the piece runs, so a retried piece keeps its
number. The pieces are `Staged` (rows to insert, updates by key, as Core statements): a batch
of many calls' pieces is a handful of executemany statements, not an ORM flush per row.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from ulid import ULID

from yotel.calls.tokens import iso
from yotel.calls.writer import (
    HistoryWriter,
    Pending,
    Staged,
    UpdateShape,
    Work,
    run_alone,
)
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
        values = {column.name: getattr(row, attr.key) for attr in Call.__mapper__.column_attrs
                  for column in attr.columns}
        values |= {"started_at": now, "created_at": now, "updated_at": now}
        event = self._event("call.started", {
            "direction": row.direction, "from": row.from_, "to": row.to,
            "campaign_id": row.campaign_id, "lead_id": row.lead_id,
            "voice_agent_id": row.voice_agent_id, "flow_id": row.flow_id, **extra}, now)

        def stage(pending: Pending) -> None:
            pending.insert(CALLS, values, key=self.call_id)
            pending.insert(OUTBOX, event)

        if also is None or isinstance(also, Staged):
            await self._commit(_staged(stage, also.stage if also else None))
            return
        plain_also = also

        async def work(session: AsyncSession) -> None:  # `also` reads: send the row first
            await Staged(stage)(session)
            await plain_also(session)

        await self._commit(work)

    async def ringing(self) -> None:
        await self._commit(Staged(self._set(state="ringing", ringing_at=_now())))

    async def answered(self, *, ai_agent_id: str | None = None, ai_started: bool = False
                       ) -> None:
        """`call.answered`, and `ai_session.started` with it when the AI is already up."""
        now = _now()
        pieces = [self._set(state="answered", answered_at=now),
                  self._add(self._event("call.answered", {"answered_at": iso(now)}, now))]
        if ai_started:
            pieces.append(self._ai_start(ai_agent_id, now))
        await self._commit(_staged(*pieces))

    async def ai_started(self, voice_agent_id: str | None) -> None:
        await self._commit(Staged(self._ai_start(voice_agent_id, _now())))

    def _ai_start(self, voice_agent_id: str | None, now: datetime) -> Stage:
        event = self._event("ai_session.started", {"voice_agent_id": voice_agent_id}, now)
        row: dict[str, Any] = {
            "call_id": self.call_id, "tenant_id": self.tenant_id,
            "voice_agent_id": voice_agent_id, "started_at": now, "metadata": {"logs": []},
            "created_at": now, "updated_at": now}

        def stage(pending: Pending) -> None:
            pending.insert(AI_SESSIONS, row, key=self.call_id)
            pending.insert(OUTBOX, event)

        return stage

    async def ai_transferred(self, destination_type: str, destination: str,
                             metadata: dict[str, Any] | None = None) -> None:
        await self.event("ai_session.transferred", {
            "destination_type": destination_type, "destination": destination,
            "metadata": metadata or {}})

    async def ai_ended(self, outcome: str) -> None:
        await self._commit(Staged(self._ai_end(outcome, _now())))

    def _ai_end(self, outcome: str, now: datetime) -> Stage:
        event = self._event("ai_session.ended", {"outcome": outcome}, now)
        values = {"ended_at": now, "outcome": outcome, "updated_at": now}

        def stage(pending: Pending) -> None:
            pending.update(_END_AI, self.call_id, values)
            pending.insert(OUTBOX, event)

        return stage

    async def ended(self, *, outcome: str, sip_status: int | None, error: str | None,
                    duration_s: float, ai_outcome: str | None = None,
                    recording: tuple[str, str, float] | None = None) -> None:
        """The end, in one transaction: `ai_session.ended` (when `ai_outcome`), `call.ended`,
        then `call.recording_ready` (when `recording` = (path, url, duration_s)), in that
        order (PRODUCT.md §7)."""
        now = _now()
        pieces = [self._ai_end(ai_outcome, now)] if ai_outcome is not None else []
        final: dict[str, Any] = {"state": "ended", "ended_at": now, "outcome": outcome,
                                 "sip_status": sip_status, "error": error}
        if recording is not None:
            final["recording_path"] = recording[0]
        pieces.append(self._set(**final))
        pieces.append(self._add(self._event("call.ended", {
            "outcome": outcome, "sip_status": sip_status, "duration_s": duration_s}, now)))
        if recording is not None:
            _, url, seconds = recording
            pieces.append(self._add(self._event("call.recording_ready", {
                "stereo": True, "channels": dict(RECORDING_CHANNELS),
                "duration_s": round(seconds, 2), "url": url}, now)))
        await self._commit(_staged(*pieces))

    async def recording_ready(self, *, path: str, url: str, duration_s: float) -> None:
        now = _now()
        await self._commit(_staged(self._set(recording_path=path), self._add(self._event(
            "call.recording_ready", {"stereo": True, "channels": dict(RECORDING_CHANNELS),
                                     "duration_s": round(duration_s, 2), "url": url}, now))))

    async def event(self, kind: str, data: dict[str, Any]) -> None:
        """An event with no state change of the call's own (conference_changed, escalated)."""
        await self._commit(Staged(self._add(self._event(kind, data, _now()))))

    def event_in(self, session: AsyncSession, kind: str, data: dict[str, Any],
                 now: datetime) -> None:
        """An event written in the caller's transaction, with the row that causes it (an
        escalation and its `ai_session.escalated`): both commit, or neither."""
        session.add(OutboxEvent(**self._event(kind, data, now)))

    async def note(self, **values: Any) -> None:
        """Columns without an event (the leg's SIP Call-ID, the AI's voice agent, ...)."""
        await self._commit(Staged(self._set(**values)))

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
    def _add(event: dict[str, Any]) -> Stage:
        def stage(pending: Pending) -> None:
            pending.insert(OUTBOX, event)

        return stage

    def _set(self, **values: Any) -> Stage:
        """Columns of the call's row (by column name, `from` included)."""
        values.setdefault("updated_at", _now())
        shape = _call_update(tuple(values))

        def stage(pending: Pending) -> None:
            pending.update(shape, self.call_id, values)

        return stage

    async def commit(self, work: Work) -> None:
        """Any other piece of the call's writing (a Control API log entry) in the same batches."""
        await self._commit(work)

    async def _commit(self, work: Work) -> None:
        if self._writer is not None:
            await self._writer.submit(work)
            return
        await run_alone(self._db, work)


Stage = Callable[[Pending], None]
CALLS = cast(Table, Call.__table__)
AI_SESSIONS = cast(Table, AiSession.__table__)
OUTBOX = cast(Table, OutboxEvent.__table__)
_END_AI = UpdateShape(AI_SESSIONS, "call_id", ("ended_at", "outcome", "updated_at"),
                      open_column="ended_at")
_CALL_UPDATES: dict[tuple[str, ...], UpdateShape] = {}


def _call_update(columns: tuple[str, ...]) -> UpdateShape:
    shape = _CALL_UPDATES.get(columns)
    if shape is None:
        shape = _CALL_UPDATES[columns] = UpdateShape(CALLS, "id", columns)
    return shape


def _staged(*stages: Stage | None) -> Staged:
    """One piece made of several stages, in order."""
    parts = [part for part in stages if part is not None]

    def stage(pending: Pending) -> None:
        for part in parts:
            part(pending)

    return Staged(stage)


def _now() -> datetime:
    return datetime.now(UTC)
