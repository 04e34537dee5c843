"""Routes that need the node's call layer: `POST /calls` (originate one call, `calls:write`) and
`GET /calls/{id}/recording` (the stereo WAV, `recordings:read`). An API run without a call layer
(tests of the REST resources alone) answers 503 to originate."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import FileResponse
from pydantic import Field

from yotel.api.deps import require_scope
from yotel.api.resources import ResourcesDep
from yotel.calls.live import LeadContext
from yotel.calls.records import CallOut
from yotel.calls.service import CallService, Originate
from yotel.domain.bodies import Closed, Name
from yotel.domain.errors import NotFound, ServiceUnavailable
from yotel.domain.ids import UuidStr
from yotel.domain.phone import CallerIdStr, ContactStr
from yotel.tenancy.principal import Principal

router = APIRouter(tags=["calls"])
CallWriter = Annotated[Principal, Depends(require_scope("calls:write"))]
RecordingReader = Annotated[Principal, Depends(require_scope("recordings:read"))]


class LeadIn(Closed):
    """The lead context an ad-hoc call carries to the AI (metadata `lead`, §6.2)."""

    name: Name | None = None
    custom_fields: dict[str, Any] = Field(default_factory=dict)


class CallCreate(Closed):
    to: ContactStr  # E.164 or a sip:/sips: URI, as the field's pattern (`yotel.domain.phone`)
    voice_agent_id: UuidStr | None = None
    caller_id: CallerIdStr | None = None
    trunk_id: UuidStr | None = None
    lead: LeadIn | None = None


async def call_service(request: Request) -> CallService:
    service: CallService | None = getattr(request.app.state, "calls", None)
    if service is None:
        raise ServiceUnavailable("this API runs without a media node (yotel serve runs both)")
    return service


Calls = Annotated[CallService, Depends(call_service)]


@router.post("/calls", response_model=CallOut, status_code=status.HTTP_201_CREATED,
             response_model_by_alias=True)
async def create_call(body: CallCreate, principal: CallWriter, calls: Calls,
                      res: ResourcesDep) -> CallOut:
    """Place one call now: the AI's fork opens when it rings (PRODUCT.md §6.1)."""
    lead = None
    if body.lead is not None:
        lead = LeadContext(None, body.to, body.lead.name, None, dict(body.lead.custom_fields))
    live = await calls.originate(principal.tenant_id, Originate(
        to=body.to, voice_agent_id=body.voice_agent_id, caller_id=body.caller_id,
        trunk_id=body.trunk_id, lead=lead))
    return await res.calls.get(principal.tenant_id, live.id)


@router.get("/calls/{call_id}/recording", response_class=FileResponse,
            responses={200: {"content": {"audio/wav": {}},
                             "description": "16-bit stereo WAV: left caller, right AI"}})
async def get_recording(call_id: str, principal: RecordingReader,
                        res: ResourcesDep) -> FileResponse:
    path = await res.calls.recording_path(principal.tenant_id, call_id)
    if path is None or not await asyncio.to_thread(Path(path).is_file):
        raise NotFound("this call has no recording (yet)")
    return FileResponse(path, media_type="audio/wav", filename=f"{call_id}.wav")
