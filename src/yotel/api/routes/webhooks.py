"""`/api/v1/webhook-endpoints` and `/api/v1/webhook-deliveries` (PRODUCT.md §4, §7), scopes
`webhooks:read` / `webhooks:write`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Response, status

from yotel.api.deps import require_scope
from yotel.api.pagination import Page, PageRequest, page_of, page_request
from yotel.api.resources import ResourcesDep
from yotel.tenancy.principal import Principal
from yotel.webhooks.schemas import (
    DeliveryOut,
    DeliveryStatus,
    EndpointCreate,
    EndpointOut,
    EndpointUpdate,
    EndpointWithSecret,
    RotateSecret,
)

router = APIRouter(tags=["webhooks"])
Reader = Annotated[Principal, Depends(require_scope("webhooks:read"))]
Writer = Annotated[Principal, Depends(require_scope("webhooks:write"))]
Paging = Annotated[PageRequest, Depends(page_request)]
ENDPOINTS = "/webhook-endpoints"


@router.post(ENDPOINTS, status_code=status.HTTP_201_CREATED, response_model=EndpointWithSecret)
async def create_webhook_endpoint(body: EndpointCreate, principal: Writer,
                                  res: ResourcesDep) -> EndpointWithSecret:
    return await res.webhooks.create(principal.tenant_id, body)


@router.get(ENDPOINTS, response_model=Page[EndpointOut])
async def list_webhook_endpoints(principal: Reader, res: ResourcesDep,
                                 page: Paging) -> Page[EndpointOut]:
    rows = await res.webhooks.list(principal.tenant_id, limit=page.limit + 1, after=page.after)
    return page_of(rows, page.limit, key=lambda row: (row.created_at, row.id))


@router.get(ENDPOINTS + "/{endpoint_id}", response_model=EndpointOut)
async def get_webhook_endpoint(endpoint_id: str, principal: Reader,
                               res: ResourcesDep) -> EndpointOut:
    return await res.webhooks.get(principal.tenant_id, endpoint_id)


@router.patch(ENDPOINTS + "/{endpoint_id}", response_model=EndpointOut)
async def update_webhook_endpoint(endpoint_id: str, body: EndpointUpdate, principal: Writer,
                                  res: ResourcesDep) -> EndpointOut:
    return await res.webhooks.update(principal.tenant_id, endpoint_id, body)


@router.delete(ENDPOINTS + "/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT,
               response_class=Response)
async def delete_webhook_endpoint(endpoint_id: str, principal: Writer,
                                  res: ResourcesDep) -> Response:
    await res.webhooks.delete(principal.tenant_id, endpoint_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(ENDPOINTS + "/{endpoint_id}/rotate-secret", response_model=EndpointWithSecret)
async def rotate_webhook_secret(endpoint_id: str, principal: Writer, res: ResourcesDep,
                                body: Annotated[RotateSecret | None, Body()] = None,
                                ) -> EndpointWithSecret:
    """A new `whsec_…` (shown once); the old secret also signs for `overlap_s` (default 24 h)."""
    return await res.webhooks.rotate_secret(principal.tenant_id, endpoint_id,
                                            body or RotateSecret())


@router.get(ENDPOINTS + "/{endpoint_id}/deliveries", response_model=Page[DeliveryOut])
async def list_webhook_deliveries(
        endpoint_id: str, principal: Reader, res: ResourcesDep, page: Paging,
        status_: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
) -> Page[DeliveryOut]:
    rows = await res.webhooks.deliveries(principal.tenant_id, endpoint_id,
                                         limit=page.limit + 1, after=page.after, status=status_)
    return page_of(rows, page.limit, key=lambda row: (row.created_at, row.id))


@router.post("/webhook-deliveries/{delivery_id}/retry", response_model=DeliveryOut)
async def retry_webhook_delivery(delivery_id: str, principal: Writer,
                                 res: ResourcesDep) -> DeliveryOut:
    """Attempt the delivery again now (409 while an attempt is in flight)."""
    return await res.webhooks.retry(principal.tenant_id, delivery_id)
