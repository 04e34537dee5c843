"""`POST /api/v1/ai-sessions/{call_id}/control`: the one endpoint a voice AI drives its call with
(page 003). The body is one of 25 verbs, discriminated on `event`; the plane's rules (auth,
fence, rate limit, idempotency) are `yotel.control.service`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Request
from fastapi.responses import JSONResponse

from yotel.api.deps import RuntimeDep
from yotel.control.bodies import Verb
from yotel.control.service import ControlService
from yotel.tenancy.principal import Principal

router = APIRouter(tags=["control"])
IDEMPOTENCY_KEY_MAX = 255


async def caller(request: Request, runtime: RuntimeDep) -> Principal:
    """A callback token (`yt_cb_…`) or a tenant key; which may act is the plane's rule."""
    return await runtime.authenticator.authenticate(request.headers.get("authorization"))


async def control_service(request: Request) -> ControlService:
    service: ControlService = request.app.state.control
    return service


@router.post("/ai-sessions/{call_id}/control", response_model=None,
             responses={200: {"description": "`{ok, call_id, dispatched_at, result}`"}})
async def control(call_id: str, verb: Annotated[Verb, Body()],
                  principal: Annotated[Principal, Depends(caller)],
                  service: Annotated[ControlService, Depends(control_service)],
                  idempotency_key: Annotated[str | None, Header(
                      max_length=IDEMPOTENCY_KEY_MAX,
                      description="UUID v4 from the SDKs; see page 003, Idempotency")] = None,
                  ) -> JSONResponse:
    reply = await service.handle(call_id, principal, verb, idempotency_key)
    body: dict[str, Any] = reply.body
    return JSONResponse(body, status_code=reply.status, headers=reply.headers)
