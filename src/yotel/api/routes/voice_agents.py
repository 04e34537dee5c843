"""`/api/v1/voice-agents` (PRODUCT.md §4, page 000)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from yotel.api.deps import RuntimeDep, require_scope
from yotel.api.pagination import Page, PageRequest, decode_cursor, encode_cursor, page_request
from yotel.api.runtime import Runtime
from yotel.api.schemas import VoiceAgentOut
from yotel.domain.errors import ValidationError
from yotel.tenancy.principal import Principal
from yotel.voice_agents.schemas import VoiceAgentCreate, VoiceAgentUpdate
from yotel.voice_agents.service import VoiceAgentRecord

router = APIRouter(prefix="/voice-agents", tags=["voice agents"])
Reader = Annotated[Principal, Depends(require_scope("voice_agents:read"))]
Writer = Annotated[Principal, Depends(require_scope("voice_agents:write"))]


async def _out(runtime: Runtime, record: VoiceAgentRecord) -> VoiceAgentOut:
    return VoiceAgentOut.of(record, await runtime.voice_agents.active_calls(record.id))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=VoiceAgentOut)
async def create_voice_agent(body: VoiceAgentCreate, principal: Writer,
                             runtime: RuntimeDep) -> VoiceAgentOut:
    record = await runtime.voice_agents.create(principal.tenant_id, body)
    return VoiceAgentOut.of(record, 0)


@router.get("", response_model=Page[VoiceAgentOut])
async def list_voice_agents(principal: Reader, runtime: RuntimeDep,
                            page: Annotated[PageRequest, Depends(page_request)],
                            ) -> Page[VoiceAgentOut]:
    after = _keyset(page.cursor)
    records = await runtime.voice_agents.list(principal.tenant_id, limit=page.limit + 1,
                                              after=after)
    more = len(records) > page.limit
    records = records[:page.limit]
    next_cursor = None
    if more:
        last = records[-1]
        next_cursor = encode_cursor([last.created_at.isoformat(), last.id])
    return Page[VoiceAgentOut](data=[await _out(runtime, r) for r in records],
                               next_cursor=next_cursor)


@router.get("/{agent_id}", response_model=VoiceAgentOut)
async def get_voice_agent(agent_id: str, principal: Reader, runtime: RuntimeDep) -> VoiceAgentOut:
    return await _out(runtime, await runtime.voice_agents.get(principal.tenant_id, agent_id))


@router.patch("/{agent_id}", response_model=VoiceAgentOut)
async def update_voice_agent(agent_id: str, body: VoiceAgentUpdate, principal: Writer,
                             runtime: RuntimeDep) -> VoiceAgentOut:
    record = await runtime.voice_agents.update(principal.tenant_id, agent_id, body)
    return await _out(runtime, record)


@router.delete("/{agent_id}", status_code=status.HTTP_204_NO_CONTENT,
               response_class=Response)
async def delete_voice_agent(agent_id: str, principal: Writer, runtime: RuntimeDep) -> Response:
    await runtime.voice_agents.delete(principal.tenant_id, agent_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _keyset(cursor: str | None) -> tuple[datetime, str] | None:
    if cursor is None:
        return None
    created, agent_id = decode_cursor(cursor, 2)
    try:
        return datetime.fromisoformat(created), agent_id
    except ValueError as exc:
        raise ValidationError("invalid cursor") from exc
