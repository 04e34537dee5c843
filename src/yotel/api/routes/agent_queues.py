"""`/api/v1/agent-queues` (PRODUCT.md §4), scope `tenant:admin`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from yotel.agents.schemas import QueueCreate, QueueOut, QueueUpdate
from yotel.api.deps import require_scope
from yotel.api.openapi import error_responses
from yotel.api.pagination import Page, PageRequest, page_request
from yotel.api.resources import ResourcesDep
from yotel.api.routes.listing import keyset, page_of
from yotel.tenancy.principal import Principal

router = APIRouter(prefix="/agent-queues", tags=["agent queues"])
Reader = Annotated[Principal, Depends(require_scope("tenant:admin"))]
Writer = Annotated[Principal, Depends(require_scope("tenant:admin"))]
Paging = Annotated[PageRequest, Depends(page_request)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=QueueOut,
             responses=error_responses(404))  # an id in the body naming nothing
async def create_agent_queue(body: QueueCreate, principal: Writer, res: ResourcesDep) -> QueueOut:
    return await res.queues.create(principal.tenant_id, body)


@router.get("", response_model=Page[QueueOut])
async def list_agent_queues(principal: Reader, res: ResourcesDep, page: Paging) -> Page[QueueOut]:
    rows = await res.queues.list(principal.tenant_id, limit=page.limit + 1,
                              after=keyset(page.cursor))
    return page_of(rows, page.limit)


@router.get("/{queue_id}", response_model=QueueOut)
async def get_agent_queue(queue_id: str, principal: Reader, res: ResourcesDep) -> QueueOut:
    return await res.queues.get(principal.tenant_id, queue_id)


@router.patch("/{queue_id}", response_model=QueueOut)
async def update_agent_queue(queue_id: str, body: QueueUpdate, principal: Writer,
                      res: ResourcesDep) -> QueueOut:
    return await res.queues.update(principal.tenant_id, queue_id, body)


@router.delete("/{queue_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def delete_agent_queue(queue_id: str, principal: Writer, res: ResourcesDep) -> Response:
    await res.queues.delete(principal.tenant_id, queue_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
