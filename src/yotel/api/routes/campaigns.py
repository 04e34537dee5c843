"""`/api/v1/campaigns` (PRODUCT.md §4): CRUD (`campaigns:*`), the start/pause/resume/stop
actions (`campaigns:write`), and the campaign's leads (`leads:*`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from yotel.api.deps import require_scope
from yotel.api.openapi import error_responses
from yotel.api.pagination import Page, PageRequest, page_request
from yotel.api.resources import ResourcesDep
from yotel.api.routes.listing import keyset, page_of
from yotel.campaigns.schemas import CampaignCreate, CampaignOut, CampaignUpdate
from yotel.campaigns.states import USER_ACTIONS, Action
from yotel.leads.schemas import LeadOut, LeadsAdd, LeadsAdded, Status
from yotel.tenancy.principal import Principal

router = APIRouter(prefix="/campaigns", tags=["campaigns"])
Reader = Annotated[Principal, Depends(require_scope("campaigns:read"))]
Writer = Annotated[Principal, Depends(require_scope("campaigns:write"))]
LeadReader = Annotated[Principal, Depends(require_scope("leads:read"))]
LeadWriter = Annotated[Principal, Depends(require_scope("leads:write"))]
Paging = Annotated[PageRequest, Depends(page_request)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CampaignOut,
             responses=error_responses(404))  # an id in the body naming nothing
async def create_campaign(body: CampaignCreate, principal: Writer,
                          res: ResourcesDep) -> CampaignOut:
    return await res.campaigns.create(principal.tenant_id, body)


@router.get("", response_model=Page[CampaignOut])
async def list_campaigns(principal: Reader, res: ResourcesDep,
                         page: Paging) -> Page[CampaignOut]:
    rows = await res.campaigns.list(principal.tenant_id, limit=page.limit + 1,
                                    after=keyset(page.cursor))
    return page_of(rows, page.limit)


@router.get("/{campaign_id}", response_model=CampaignOut)
async def get_campaign(campaign_id: str, principal: Reader, res: ResourcesDep) -> CampaignOut:
    return await res.campaigns.get(principal.tenant_id, campaign_id)


@router.patch("/{campaign_id}", response_model=CampaignOut)
async def update_campaign(campaign_id: str, body: CampaignUpdate, principal: Writer,
                          res: ResourcesDep) -> CampaignOut:
    return await res.campaigns.update(principal.tenant_id, campaign_id, body)


@router.delete("/{campaign_id}", status_code=status.HTTP_204_NO_CONTENT,
               response_class=Response)
async def delete_campaign(campaign_id: str, principal: Writer, res: ResourcesDep) -> Response:
    await res.campaigns.delete(principal.tenant_id, campaign_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _action_route(action: Action) -> None:
    async def run(campaign_id: str, principal: Writer, res: ResourcesDep) -> CampaignOut:
        return await res.campaigns.transition(principal.tenant_id, campaign_id, action)

    run.__name__ = f"{action}_campaign"
    router.add_api_route(
        f"/{{campaign_id}}/{action}", run, methods=["POST"], response_model=CampaignOut,
        name=f"{action}_campaign", summary=f"{action.capitalize()} a campaign",
        description=f"`{action}` (409 when the campaign's status does not allow it).")


for _action in USER_ACTIONS:
    _action_route(_action)


@router.post("/{campaign_id}/leads", response_model=LeadsAdded)
async def add_leads(campaign_id: str, body: LeadsAdd, principal: LeadWriter,
                    res: ResourcesDep) -> LeadsAdded:
    """Bulk add; rows with a bad E.164 number, a number already in the campaign (or repeated
    in the request) or an unknown time zone are reported in `rejected` by index."""
    return await res.leads.add(principal.tenant_id, campaign_id, body.leads)


@router.get("/{campaign_id}/leads", response_model=Page[LeadOut])
async def list_leads(campaign_id: str, principal: LeadReader, res: ResourcesDep, page: Paging,
                     lead_status: Annotated[Status | None, Query(alias="status")] = None,
                     ) -> Page[LeadOut]:
    rows = await res.leads.list(principal.tenant_id, campaign_id, limit=page.limit + 1,
                                after=keyset(page.cursor), status=lead_status)
    return page_of(rows, page.limit)
