"""`/api/v1/sip-trunks` (PRODUCT.md §4), scope `tenant:admin`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from yotel.api.deps import require_scope
from yotel.api.pagination import Page, PageRequest, page_request
from yotel.api.resources import ResourcesDep
from yotel.api.routes.listing import keyset, page_of
from yotel.tenancy.principal import Principal
from yotel.trunks.schemas import TrunkCreate, TrunkOut, TrunkUpdate

router = APIRouter(prefix="/sip-trunks", tags=["SIP trunks"])
Admin = Annotated[Principal, Depends(require_scope("tenant:admin"))]
Paging = Annotated[PageRequest, Depends(page_request)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TrunkOut)
async def create_trunk(body: TrunkCreate, principal: Admin, res: ResourcesDep) -> TrunkOut:
    return await res.trunks.create(principal.tenant_id, body)


@router.get("", response_model=Page[TrunkOut])
async def list_trunks(principal: Admin, res: ResourcesDep, page: Paging) -> Page[TrunkOut]:
    rows = await res.trunks.list(principal.tenant_id, limit=page.limit + 1,
                                 after=keyset(page.cursor))
    return page_of(rows, page.limit)


@router.get("/{trunk_id}", response_model=TrunkOut)
async def get_trunk(trunk_id: str, principal: Admin, res: ResourcesDep) -> TrunkOut:
    return await res.trunks.get(principal.tenant_id, trunk_id)


@router.patch("/{trunk_id}", response_model=TrunkOut)
async def update_trunk(trunk_id: str, body: TrunkUpdate, principal: Admin,
                       res: ResourcesDep) -> TrunkOut:
    return await res.trunks.update(principal.tenant_id, trunk_id, body)


@router.delete("/{trunk_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def delete_trunk(trunk_id: str, principal: Admin, res: ResourcesDep) -> Response:
    await res.trunks.delete(principal.tenant_id, trunk_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
