"""Call records and AI sessions as the REST API reads them (`GET /calls`, `GET /calls/{id}`,
`GET /ai-sessions/{call_id}`). The call layer writes the rows; this module only reads, with the
vocabulary both share (states, directions, outcomes: PRODUCT.md §5, §8)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, Field
from sqlalchemy import select

from yotel.db.engine import Database
from yotel.db.fence import Keyset, after_keyset, own_row
from yotel.db.models import AiSession, Call
from yotel.domain.errors import NotFound
from yotel.domain.ids import is_uuid

Direction = Literal["outbound", "inbound"]
# initiated: INVITE sent (outbound) or received (inbound); ringing: 18x; answered: 200;
# ended: BYE, CANCEL or a final failure (`outcome` says which).
CallState = Literal["initiated", "ringing", "answered", "ended"]
Outcome = Literal["transferred_agent_queue", "transferred_e164", "transferred_sip_uri",
                  "hangup", "caller_hangup", "ai_disconnected", "no_answer", "busy", "failed",
                  "dnd_blocked", "rejected"]
DispositionSource = Literal["system", "ai", "user"]
OUTCOMES: tuple[str, ...] = get_args(Outcome)


class Recording(BaseModel):
    url: str
    stereo: bool = True
    channels: dict[str, str] = Field(default_factory=lambda: {"left": "caller", "right": "ai"})


class CallOut(BaseModel):
    id: str
    direction: str
    from_: str = Field(serialization_alias="from")
    to: str
    state: str
    campaign_id: str | None
    lead_id: str | None
    voice_agent_id: str | None
    flow_id: str | None
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    outcome: str | None
    disposition: str | None
    disposition_source: str | None
    recording: Recording | None
    created_at: datetime


class AiSessionOut(BaseModel):
    call_id: str
    voice_agent_id: str | None
    started_at: datetime
    ended_at: datetime | None
    duration_s: float | None
    outcome: str | None
    metadata: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallFilter:
    campaign_id: str | None = None
    state: CallState | None = None
    direction: Direction | None = None
    outcome: Outcome | None = None
    since: datetime | None = None  # started_at >= since
    until: datetime | None = None  # started_at < until


@dataclass(slots=True)
class CallRecords:
    db: Database
    public_url: str

    async def list(self, tenant_id: str, *, limit: int, after: Keyset | None,
                   where: CallFilter = CallFilter()) -> list[CallOut]:
        query = select(Call).where(Call.tenant_id == tenant_id)
        for column, value in ((Call.campaign_id, where.campaign_id), (Call.state, where.state),
                              (Call.direction, where.direction), (Call.outcome, where.outcome)):
            if value is not None:
                query = query.where(column == value)
        if where.since is not None:
            query = query.where(Call.started_at >= where.since)
        if where.until is not None:
            query = query.where(Call.started_at < where.until)
        async with self.db.read() as session:
            rows = await session.scalars(after_keyset(query, Call, after).limit(limit))
            return [self.to_out(row) for row in rows.all()]

    async def get(self, tenant_id: str, call_id: str) -> CallOut:
        async with self.db.read() as session:
            return self.to_out(await own_row(session, Call, tenant_id, call_id, "call"))

    async def ai_session(self, tenant_id: str, call_id: str) -> AiSessionOut:
        async with self.db.read() as session:
            row = await session.get(AiSession, call_id) if is_uuid(call_id) else None
        if row is None or row.tenant_id != tenant_id:
            raise NotFound(f"no AI session for call {call_id}")
        return session_out(row)

    async def recording_path(self, tenant_id: str, call_id: str) -> str | None:
        """Where the call's WAV is on this node's disk (404 for another tenant's call)."""
        async with self.db.read() as session:
            return (await own_row(session, Call, tenant_id, call_id, "call")).recording_path

    def to_out(self, row: Call) -> CallOut:
        recording = None
        if row.recording_path is not None:
            recording = Recording(url=f"{self.public_url}/api/v1/calls/{row.id}/recording")
        return CallOut(
            id=row.id, direction=row.direction, from_=row.from_, to=row.to, state=row.state,
            campaign_id=row.campaign_id, lead_id=row.lead_id, voice_agent_id=row.voice_agent_id,
            flow_id=row.flow_id, started_at=row.started_at, answered_at=row.answered_at,
            ended_at=row.ended_at, outcome=row.outcome, disposition=row.disposition,
            disposition_source=row.disposition_source, recording=recording,
            created_at=row.created_at)


def session_out(row: AiSession) -> AiSessionOut:
    metadata = dict(row.metadata_)
    metadata.setdefault("logs", [])
    duration = None
    if row.ended_at is not None:
        duration = round((row.ended_at - row.started_at).total_seconds(), 3)
    return AiSessionOut(call_id=row.call_id, voice_agent_id=row.voice_agent_id,
                        started_at=row.started_at, ended_at=row.ended_at, duration_s=duration,
                        outcome=row.outcome, metadata=metadata)
