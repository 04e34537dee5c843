"""`/api/v1/leads/{id}` (PRODUCT.md §4), scopes `leads:read|write`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from yotel.api.deps import require_scope
from yotel.api.resources import ResourcesDep
from yotel.leads.schemas import LeadOut, LeadUpdate
from yotel.tenancy.principal import Principal

router = APIRouter(prefix="/leads", tags=["leads"])
Reader = Annotated[Principal, Depends(require_scope("leads:read"))]
Writer = Annotated[Principal, Depends(require_scope("leads:write"))]


@router.get("/{lead_id}", response_model=LeadOut)
async def get_lead(lead_id: str, principal: Reader, res: ResourcesDep) -> LeadOut:
    return await res.leads.get(principal.tenant_id, lead_id)


@router.patch("/{lead_id}", response_model=LeadOut)
async def update_lead(lead_id: str, body: LeadUpdate, principal: Writer,
                      res: ResourcesDep) -> LeadOut:
    return await res.leads.update(principal.tenant_id, lead_id, body)
