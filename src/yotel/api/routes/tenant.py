"""`/api/v1/tenant`: the caller's own tenant settings (PRODUCT.md §4), scope `tenant:admin`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from yotel.api.deps import RuntimeDep, require_scope
from yotel.api.openapi import error_responses
from yotel.api.schemas import TenantOut, TenantPatch
from yotel.tenancy.principal import Principal
from yotel.tenancy.tenants import get_tenant, update_tenant

router = APIRouter(prefix="/tenant", tags=["tenant"])
Admin = Annotated[Principal, Depends(require_scope("tenant:admin"))]


@router.get("", response_model=TenantOut)
async def read_tenant(principal: Admin, runtime: RuntimeDep) -> TenantOut:
    return TenantOut.of(await get_tenant(runtime.db, principal.tenant_id))


@router.patch("", response_model=TenantOut, responses=error_responses(404))
async def patch_tenant(body: TenantPatch, principal: Admin, runtime: RuntimeDep) -> TenantOut:
    changes = body.model_dump(include=body.model_fields_set)
    record = await update_tenant(runtime.db, principal.tenant_id, changes,
                                 allow_insecure_urls=runtime.allow_insecure_urls)
    return TenantOut.of(record)
