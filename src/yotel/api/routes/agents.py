"""`/api/v1/agents` (PRODUCT.md §4): human agents and supervisors, scope `tenant:admin`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from yotel.agents.schemas import AgentCreate, AgentOut, AgentUpdate
from yotel.api.deps import require_scope
from yotel.api.pagination import Page, PageRequest, page_request
from yotel.api.resources import ResourcesDep
from yotel.api.routes.listing import keyset, page_of
from yotel.tenancy.principal import Principal

router = APIRouter(prefix="/agents", tags=["agents"])
Reader = Annotated[Principal, Depends(require_scope("tenant:admin"))]
Writer = Annotated[Principal, Depends(require_scope("tenant:admin"))]
Paging = Annotated[PageRequest, Depends(page_request)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=AgentOut)
async def create_agent(body: AgentCreate, principal: Writer, res: ResourcesDep) -> AgentOut:
    return await res.agents.create(principal.tenant_id, body)


@router.get("", response_model=Page[AgentOut])
async def list_agents(principal: Reader, res: ResourcesDep, page: Paging) -> Page[AgentOut]:
    rows = await res.agents.list(principal.tenant_id, limit=page.limit + 1,
                              after=keyset(page.cursor))
    return page_of(rows, page.limit)


@router.get("/{agent_id}", response_model=AgentOut)
async def get_agent(agent_id: str, principal: Reader, res: ResourcesDep) -> AgentOut:
    return await res.agents.get(principal.tenant_id, agent_id)


@router.patch("/{agent_id}", response_model=AgentOut)
async def update_agent(agent_id: str, body: AgentUpdate, principal: Writer,
                      res: ResourcesDep) -> AgentOut:
    return await res.agents.update(principal.tenant_id, agent_id, body)


@router.delete("/{agent_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def delete_agent(agent_id: str, principal: Writer, res: ResourcesDep) -> Response:
    await res.agents.delete(principal.tenant_id, agent_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
