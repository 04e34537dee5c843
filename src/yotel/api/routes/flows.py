"""`/api/v1/flows` (PRODUCT.md §4), scopes `flows:read|write`; invalid graphs are 400 naming
the node."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from yotel.api.deps import require_scope
from yotel.api.pagination import Page, PageRequest, page_request
from yotel.api.resources import ResourcesDep
from yotel.api.routes.listing import keyset, page_of
from yotel.flows.schemas import FlowCreate, FlowOut, FlowUpdate
from yotel.tenancy.principal import Principal

router = APIRouter(prefix="/flows", tags=["flows"])
Reader = Annotated[Principal, Depends(require_scope("flows:read"))]
Writer = Annotated[Principal, Depends(require_scope("flows:write"))]
Paging = Annotated[PageRequest, Depends(page_request)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=FlowOut)
async def create_flow(body: FlowCreate, principal: Writer, res: ResourcesDep) -> FlowOut:
    return await res.flows.create(principal.tenant_id, body)


@router.get("", response_model=Page[FlowOut])
async def list_flows(principal: Reader, res: ResourcesDep, page: Paging) -> Page[FlowOut]:
    rows = await res.flows.list(principal.tenant_id, limit=page.limit + 1,
                              after=keyset(page.cursor))
    return page_of(rows, page.limit)


@router.get("/{flow_id}", response_model=FlowOut)
async def get_flow(flow_id: str, principal: Reader, res: ResourcesDep) -> FlowOut:
    return await res.flows.get(principal.tenant_id, flow_id)


@router.patch("/{flow_id}", response_model=FlowOut)
async def update_flow(flow_id: str, body: FlowUpdate, principal: Writer,
                      res: ResourcesDep) -> FlowOut:
    return await res.flows.update(principal.tenant_id, flow_id, body)


@router.delete("/{flow_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def delete_flow(flow_id: str, principal: Writer, res: ResourcesDep) -> Response:
    await res.flows.delete(principal.tenant_id, flow_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
