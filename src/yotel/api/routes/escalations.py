"""`/api/v1/escalations` and the supervisors' live push `/api/v1/supervisor/stream` (PRODUCT.md
§4; scope `supervisor`; docs/api.md "Escalations").

The stream is a WebSocket. The credential is checked on the upgrade request (`Authorization:
Bearer …`): a refusal is an HTTP answer in our error envelope (401, 403, 404 for an unknown
`supervisor_id`) when the server offers the WebSocket Denial Response extension, else a close
with 4001/4003/4004 right after the handshake. Frames are JSON text, `{"type":
"escalation.created"|"escalation.claimed", "escalation": {...}}`, and `{"type": "warning", ...}`
when this socket fell behind (see `yotel.escalations.hub`); the server pings every 20 s
(RFC 6455 §5.5.2, uvicorn's `ws_ping_interval`). What the client sends is read and ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, WebSocket, WebSocketDisconnect

from yotel.api.deps import require_scope
from yotel.api.errors import error_response
from yotel.api.pagination import Page, PageRequest, page_request
from yotel.api.routes.listing import keyset, page_of
from yotel.api.runtime import Runtime
from yotel.calls.service import CallService
from yotel.db.engine import Database
from yotel.domain.errors import NotFound, YotelError
from yotel.domain.ids import is_uuid, new_request_id
from yotel.escalations import ClaimBody, EscalationOut, EscalationService, Listener, hub_for
from yotel.escalations.schemas import Status
from yotel.tenancy.principal import Principal

log = logging.getLogger(__name__)
SCOPE = "supervisor"
SEND_TIMEOUT_S = 10.0  # one frame not written in this long: the socket is stuck, closed
CLOSE_CODES = {401: 4001, 403: 4003, 404: 4004}  # 4000-4999: private use (RFC 6455 §7.4.2)
TRY_AGAIN_LATER = 1013  # IANA WebSocket close code registry

router = APIRouter(tags=["escalations"])
Supervisor = Annotated[Principal, Depends(require_scope(SCOPE))]
Paging = Annotated[PageRequest, Depends(page_request)]


def escalations_of(db: Database, calls: CallService | None) -> EscalationService:
    return EscalationService(db, hub_for(db), calls)


async def _service(request: Request) -> EscalationService:
    runtime: Runtime = request.app.state.runtime
    return escalations_of(runtime.db, request.app.state.calls)


Service = Annotated[EscalationService, Depends(_service)]


@router.get("/escalations", response_model=Page[EscalationOut])
async def list_escalations(principal: Supervisor, service: Service, page: Paging,
                           status: Status | None = None) -> Page[EscalationOut]:
    rows = await service.list(principal.tenant_id, status=status, limit=page.limit + 1,
                              after=keyset(page.cursor))
    return page_of(rows, page.limit)


@router.get("/escalations/{escalation_id}", response_model=EscalationOut)
async def get_escalation(escalation_id: str, principal: Supervisor,
                         service: Service) -> EscalationOut:
    return await service.get(principal.tenant_id, escalation_id)


@router.post("/escalations/{escalation_id}/claim", response_model=EscalationOut,
             responses={404: {"description": "no such escalation or supervisor"},
                        409: {"description": "claimed already, call ended, or the agent is "
                                             "not an on-duty supervisor"}})
async def claim_escalation(escalation_id: str, body: ClaimBody, principal: Supervisor,
                           service: Service) -> EscalationOut:
    return await service.claim(principal.tenant_id, escalation_id, body.supervisor_id)


@router.websocket("/supervisor/stream")
async def supervisor_stream(websocket: WebSocket,
                            supervisor_id: Annotated[str | None, Query()] = None) -> None:
    runtime: Runtime = websocket.app.state.runtime
    service = escalations_of(runtime.db, websocket.app.state.calls)
    try:
        principal = await runtime.authenticator.authenticate(
            websocket.headers.get("authorization"))
        principal.require(SCOPE)
        if supervisor_id is not None:
            if not is_uuid(supervisor_id):
                raise NotFound("supervisor not found")
            await service.supervisor(principal.tenant_id, supervisor_id)
    except YotelError as error:
        await _refuse(websocket, error)
        return
    # Subscribed before the handshake completes: once the client is connected, nothing
    # published afterwards can miss it.
    listener = service.hub.subscribe(principal.tenant_id, supervisor_id)
    try:
        await websocket.accept()
        await _serve(websocket, listener)
    finally:
        service.hub.unsubscribe(listener)


async def _refuse(websocket: WebSocket, error: YotelError) -> None:
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(error_response(error, new_request_id()))
        return
    await websocket.accept()
    await websocket.close(CLOSE_CODES.get(error.status, 1008), error.message[:120])


async def _serve(websocket: WebSocket, listener: Listener) -> None:
    """Write the listener's frames until the client leaves or the socket is stuck."""
    sender = asyncio.create_task(_send_frames(websocket, listener), name="supervisor-send")
    reader = asyncio.create_task(_discard_incoming(websocket), name="supervisor-read")
    try:
        await asyncio.wait({sender, reader}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        sender.cancel()
        reader.cancel()
        ended = await asyncio.gather(sender, reader, return_exceptions=True)
    for outcome in ended:
        if isinstance(outcome, Exception):  # the client went away mid-write
            log.info("supervisor stream ended: %r", outcome)


async def _send_frames(websocket: WebSocket, listener: Listener) -> None:
    while True:
        text = await listener.next()
        try:
            await asyncio.wait_for(websocket.send_text(text), SEND_TIMEOUT_S)
        except TimeoutError:
            log.warning("closing a supervisor stream of tenant %s: a frame took over %.0f s "
                        "to write", listener.tenant_id, SEND_TIMEOUT_S)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(websocket.close(TRY_AGAIN_LATER), 1.0)
            return


async def _discard_incoming(websocket: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
