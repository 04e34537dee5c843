"""`/api/v1/dnd` (PRODUCT.md §4): the tenant's do-not-disturb list, scopes `leads:read|write`.
One entry is addressed by its id or by the number itself (`/dnd/+14155550100`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from yotel.api.deps import require_scope
from yotel.api.pagination import Page, PageRequest, page_request
from yotel.api.resources import ResourcesDep
from yotel.api.routes.listing import keyset, page_of
from yotel.dnd.schemas import DndAdd, DndAdded, DndEntryOut
from yotel.tenancy.principal import Principal

router = APIRouter(prefix="/dnd", tags=["DND"])
Reader = Annotated[Principal, Depends(require_scope("leads:read"))]
Writer = Annotated[Principal, Depends(require_scope("leads:write"))]
Paging = Annotated[PageRequest, Depends(page_request)]


@router.post("", response_model=DndAdded)
async def add_dnd(body: DndAdd, principal: Writer, res: ResourcesDep) -> DndAdded:
    return await res.dnd.add(principal.tenant_id, body.numbers)


@router.get("", response_model=Page[DndEntryOut])
async def list_dnd(principal: Reader, res: ResourcesDep, page: Paging) -> Page[DndEntryOut]:
    rows = await res.dnd.list(principal.tenant_id, limit=page.limit + 1,
                              after=keyset(page.cursor))
    return page_of(rows, page.limit)


@router.get("/{key}", response_model=DndEntryOut)
async def get_dnd(key: str, principal: Reader, res: ResourcesDep) -> DndEntryOut:
    return await res.dnd.get(principal.tenant_id, key)


@router.delete("/{key}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def delete_dnd(key: str, principal: Writer, res: ResourcesDep) -> Response:
    await res.dnd.delete(principal.tenant_id, key)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
