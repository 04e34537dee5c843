"""`/api/v1/voice-agents` (PRODUCT.md §4, page 000)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from yotel.api.deps import RuntimeDep, require_scope
from yotel.api.pagination import Page, PageRequest, page_of, page_request
from yotel.api.runtime import Runtime
from yotel.api.schemas import VoiceAgentOut
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
    records = await runtime.voice_agents.list(principal.tenant_id, limit=page.limit + 1,
                                              after=page.after)
    shown = page_of(records, page.limit, key=lambda r: (r.created_at, r.id))
    return Page[VoiceAgentOut](data=[await _out(runtime, r) for r in shown.data],
                               next_cursor=shown.next_cursor)


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

