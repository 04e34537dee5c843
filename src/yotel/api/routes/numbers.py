"""`/api/v1/numbers` (PRODUCT.md §4): DIDs and their flows, scopes `numbers:read|write`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from yotel.api.deps import require_scope
from yotel.api.openapi import error_responses
from yotel.api.pagination import Page, PageRequest, page_request
from yotel.api.resources import ResourcesDep
from yotel.api.routes.listing import keyset, page_of
from yotel.numbers.service import NumberCreate, NumberOut, NumberUpdate
from yotel.tenancy.principal import Principal

router = APIRouter(prefix="/numbers", tags=["numbers"])
Reader = Annotated[Principal, Depends(require_scope("numbers:read"))]
Writer = Annotated[Principal, Depends(require_scope("numbers:write"))]
Paging = Annotated[PageRequest, Depends(page_request)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=NumberOut,
             responses=error_responses(404))  # an id in the body naming nothing
async def create_number(body: NumberCreate, principal: Writer, res: ResourcesDep) -> NumberOut:
    return await res.numbers.create(principal.tenant_id, body)


@router.get("", response_model=Page[NumberOut])
async def list_numbers(principal: Reader, res: ResourcesDep, page: Paging) -> Page[NumberOut]:
    rows = await res.numbers.list(principal.tenant_id, limit=page.limit + 1,
                              after=keyset(page.cursor))
    return page_of(rows, page.limit)


@router.get("/{number_id}", response_model=NumberOut)
async def get_number(number_id: str, principal: Reader, res: ResourcesDep) -> NumberOut:
    return await res.numbers.get(principal.tenant_id, number_id)


@router.patch("/{number_id}", response_model=NumberOut)
async def update_number(number_id: str, body: NumberUpdate, principal: Writer,
                      res: ResourcesDep) -> NumberOut:
    return await res.numbers.update(principal.tenant_id, number_id, body)


@router.delete("/{number_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def delete_number(number_id: str, principal: Writer, res: ResourcesDep) -> Response:
    await res.numbers.delete(principal.tenant_id, number_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
